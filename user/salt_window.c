// SPDX-License-Identifier: MIT
/* SIP022's exact, shared, minute-long store of request salts (salt_window.h). */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <sodium.h>

#include "aead2022.h"
#include "common.h"
#include "salt_window.h"

/* Kept a little past the 60 s that two 30 s windows span. */
#define KEEP_S (2 * S22_TIME_WINDOW + 2)

struct slot {
	uint32_t stamp;          /* monotonic second it came (+1), 0: never used */
	uint8_t len;
	int16_t owner;           /* a claimed UDP session's worker, or -1 */
	uint8_t salt[SS_MAX_SALT];
};

struct salt_window {
	pthread_mutex_t lock;    /* process-shared, robust: a dead worker cannot wedge it */
	uint8_t key[crypto_shorthash_KEYBYTES]; /* slot positions cannot be chosen */
	size_t map_len;
	struct slot slots[];
};

struct salt_window *salt_window_new(void)
{
	size_t len = sizeof(struct salt_window) + (size_t)SALT_WINDOW_SLOTS * sizeof(struct slot);
	struct salt_window *sp = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	pthread_mutexattr_t a;

	if (sp == MAP_FAILED)
		return NULL;
	sp->map_len = len;
	randombytes_buf(sp->key, sizeof(sp->key));
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sp->lock, &a);
	pthread_mutexattr_destroy(&a);
	return sp;
}

void salt_window_free(struct salt_window *sp)
{
	if (sp)
		munmap(sp, sp->map_len);
}

static uint32_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec + 1;
}

static void lock(struct salt_window *sp)
{
	if (pthread_mutex_lock(&sp->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&sp->lock);
}

int salt_window_claim(struct salt_window *sp, const uint8_t *key, size_t len, int owner,
		      int *holder)
{
	uint32_t now = now_s();
	uint64_t h;
	struct slot *free_slot = NULL;
	int r = SS_ERR_FULL;

	if (len > SS_MAX_SALT)
		return SS_ERR;
	crypto_shorthash((uint8_t *)&h, key, len, sp->key);
	lock(sp);
	for (unsigned i = 0; i < SALT_WINDOW_PROBES; i++) {
		struct slot *s = &sp->slots[(h + i) & (SALT_WINDOW_SLOTS - 1)];
		bool live = s->stamp && now - s->stamp < KEEP_S;

		if (!live) {
			if (!free_slot)
				free_slot = s;
			if (!s->stamp)
				break; /* never used: nothing lies beyond it */
			continue;
		}
		if (s->len == len && !memcmp(s->salt, key, len)) {
			r = SS_ERR_REPLAY;
			*holder = s->owner;
			/* Its owner keeps a live claim alive. */
			if (owner >= 0 && s->owner == owner)
				s->stamp = now;
			goto out;
		}
	}
	if (free_slot) {
		free_slot->stamp = now;
		free_slot->len = (uint8_t)len;
		free_slot->owner = (int16_t)owner;
		memcpy(free_slot->salt, key, len);
		r = 0;
	}
out:
	pthread_mutex_unlock(&sp->lock);
	return r;
}

int salt_window_check_add(struct salt_window *sp, const uint8_t *salt, size_t len)
{
	int holder;

	return salt_window_claim(sp, salt, len, -1, &holder);
}
