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
#include "shm_lock.h"

/* Kept a little past the 60 s that two 30 s windows span. */
#define KEEP_S (2 * S22_TIME_WINDOW + 2)
#define MAGIC "ssbpf-salts-01\n"
#define HEAD 4096

struct slot {
	uint64_t stamp;          /* wall-clock second it came (or was renewed), 0: never used */
	uint64_t top;            /* a UDP claim: its session's newest packet ID + 1 */
	uint32_t run;            /* the process tree that claimed it */
	int16_t owner;           /* a claimed UDP session's worker, or -1 */
	uint8_t len;
	uint8_t salt[SS_MAX_SALT];
};

struct salt_window {
	char magic[16];
	uint64_t nslots;
	pthread_mutex_t lock;    /* process-shared, robust: a dead worker cannot wedge it */
	uint8_t key[crypto_shorthash_KEYBYTES]; /* slot positions cannot be chosen */
	uint32_t run;            /* this process tree's run, random at attach */
	size_t map_len;
	struct slot *slots;      /* HEAD bytes after the header */
};

size_t salt_window_len(void)
{
	return HEAD + (size_t)SALT_WINDOW_SLOTS * sizeof(struct slot);
}

int salt_window_attach(struct salt_window **out, void *mem, const char **why)
{
	struct salt_window *sp = mem;
	bool keep = !memcmp(sp->magic, MAGIC, sizeof(sp->magic)) && sp->nslots == SALT_WINDOW_SLOTS;

	if (!keep && sp->magic[0])
		*why = "not a salt window of this version";
	shm_lock_init(&sp->lock);
	sp->map_len = salt_window_len();
	sp->slots = (struct slot *)((char *)mem + HEAD);
	do
		randombytes_buf(&sp->run, sizeof(sp->run));
	while (!sp->run);
	*out = sp;
	if (keep)
		return 1;
	memset(sp->magic, 0, sizeof(sp->magic));
	memset(sp->slots, 0, (size_t)SALT_WINDOW_SLOTS * sizeof(struct slot));
	sp->nslots = SALT_WINDOW_SLOTS;
	randombytes_buf(sp->key, sizeof(sp->key));
	memcpy(sp->magic, MAGIC, sizeof(sp->magic));
	return 0;
}

struct salt_window *salt_window_new(void)
{
	void *mem = mmap(NULL, salt_window_len(), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct salt_window *sp;
	const char *why;

	if (mem == MAP_FAILED)
		return NULL;
	salt_window_attach(&sp, mem, &why);
	return sp;
}

void salt_window_free(struct salt_window *sp)
{
	if (sp)
		munmap(sp, sp->map_len);
}

/* Live within the minute; a stamp ahead of a clock that stepped back stays live. */
static bool live(const struct slot *s, uint64_t now)
{
	return s->stamp && (s->stamp > now || now - s->stamp < KEEP_S);
}

/*
 * A live claim of key: renewed by its owner; held (SS_ERR_REPLAY, *holder);
 * or made by an earlier process tree, then taken over (1) by a packet newer
 * than every one that tree accepted, and a replay otherwise.
 */
static int found(struct salt_window *sp, struct slot *s, int owner, uint64_t now, int *holder,
		 struct salt_claim *cl)
{
	*holder = s->owner;
	if (owner >= 0 && s->owner >= 0 && s->run != sp->run) {
		*holder = -1;
		if (cl->top <= s->top)
			return SS_ERR_REPLAY;
		cl->floor = s->top;
		cl->slot = (uint32_t)(s - sp->slots);
		s->stamp = now;
		s->top = cl->top;
		s->run = sp->run;
		s->owner = (int16_t)owner;
		return 1;
	}
	if (owner >= 0 && s->owner == owner)
		s->stamp = now;
	return SS_ERR_REPLAY;
}

int salt_window_claim(struct salt_window *sp, const uint8_t *key, size_t len, int owner,
		      int *holder, struct salt_claim *cl)
{
	uint64_t h, now = (uint64_t)time(NULL);
	struct slot *free_slot = NULL;
	int r = SS_ERR_FULL;

	if (len > SS_MAX_SALT)
		return SS_ERR;
	crypto_shorthash((uint8_t *)&h, key, len, sp->key);
	shm_lock(&sp->lock);
	for (unsigned i = 0; i < SALT_WINDOW_PROBES; i++) {
		struct slot *s = &sp->slots[(h + i) & (SALT_WINDOW_SLOTS - 1)];

		if (!live(s, now)) {
			if (!free_slot)
				free_slot = s;
			if (!s->stamp)
				break; /* never used: nothing lies beyond it */
			continue;
		}
		if (s->len == len && !memcmp(s->salt, key, len)) {
			r = found(sp, s, owner, now, holder, cl);
			goto out;
		}
	}
	if (free_slot) {
		*free_slot = (struct slot){ .stamp = now, .top = cl->top, .len = (uint8_t)len,
					    .owner = (int16_t)owner, .run = sp->run };
		memcpy(free_slot->salt, key, len);
		cl->slot = (uint32_t)(free_slot - sp->slots);
		cl->floor = 0;
		r = 0;
	}
out:
	pthread_mutex_unlock(&sp->lock);
	return r;
}

int salt_window_check_add(struct salt_window *sp, const uint8_t *salt, size_t len)
{
	struct salt_claim cl = { 0 };
	int holder;

	return salt_window_claim(sp, salt, len, -1, &holder, &cl);
}

void salt_window_set_top(struct salt_window *sp, const struct salt_claim *cl, uint64_t top)
{
	struct slot *s = &sp->slots[cl->slot & (SALT_WINDOW_SLOTS - 1)];

	if (top > __atomic_load_n(&s->top, __ATOMIC_RELAXED))
		__atomic_store_n(&s->top, top, __ATOMIC_RELAXED);
}
