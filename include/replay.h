/* SPDX-License-Identifier: MIT */
#ifndef SS_REPLAY_H
#define SS_REPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Replay filter: salts seen recently, in two alternating Bloom filters. When
 * the current one holds capacity/2 salts the older one is cleared and takes
 * its place, so memory stays fixed and at least capacity/2 of the newest
 * salts are always remembered. The filters live in one shared mapping made
 * before the workers fork (anonymous, or a file: replay_file.h), and a
 * salt's check and insert are one step under a process-shared robust mutex:
 * the same salt arriving in two workers at once passes in one of them only.
 */
#define REPLAY_MAGIC "ssbpf-replay-2\n"
#define REPLAY_HEAD 4096 /* the header's page; the bits follow */

struct replay_shared {
	char magic[16];    /* REPLAY_MAGIC once the header is whole */
	uint64_t nbits;    /* the layout this mapping was made for */
	uint64_t k;
	uint64_t count;    /* salts in the current filter */
	uint64_t gen;      /* rotations so far; the low bit is the current filter */
	uint8_t key[16];   /* random per filter: hash positions cannot be chosen */
	pthread_mutex_t lock;
};

struct replay {
	struct replay_shared *sh;
	uint8_t *bits[2];
	size_t nbits;      /* per filter */
	size_t half;       /* rotate when count reaches this */
	unsigned k;        /* hash functions */
	size_t map_len;
};

/* Sizes both filters for capacity salts at false-positive rate fp (r->map_len). 0 or -EINVAL. */
int replay_layout(struct replay *r, size_t capacity, double fp);
/*
 * Takes mem (r->map_len bytes, shared, zero or an earlier filter): keeps a
 * filter of the same layout found there (returns 1), else starts empty
 * (returns 0, *why says why when something else was there).
 */
int replay_attach(struct replay *r, void *mem, const char **why);
/* replay_layout and replay_attach in anonymous shared memory. 0 or -errno. */
int replay_init(struct replay *r, size_t capacity, double fp);
void replay_free(struct replay *r);
/* True if salt was seen before (or is a false positive); adds it either way. */
bool replay_check_add(struct replay *r, const uint8_t *salt, size_t len);
/* Memory held by the filters, in bytes. */
size_t replay_bytes(const struct replay *r);
/*
 * An upgrade's successor maps the filter and the salt window its
 * predecessor still uses: their locks are kept as they are, not made anew
 * at attach (which guards a later run against a holder killed long ago).
 */
void replay_locks_in_use(void);

#endif
