/* SPDX-License-Identifier: MIT */
#ifndef SS_REPLAY_H
#define SS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Replay filter: salts seen recently, in two alternating Bloom filters. When
 * the current one holds capacity/2 salts the older one is cleared and takes
 * its place, so memory stays fixed and at least capacity/2 of the newest
 * salts are always remembered. The filters live in shared memory created
 * before the workers fork, and are updated with atomic operations only (no
 * locks): every worker sees every salt.
 */
struct replay_shared {
	size_t count;      /* salts in the current filter */
	unsigned gen;      /* rotations so far; the low bit is the current filter */
	uint8_t key[16];   /* random per run: hash positions cannot be chosen */
};

struct replay {
	struct replay_shared *sh;
	uint8_t *bits[2];
	size_t nbits;      /* per filter */
	size_t half;       /* rotate when count reaches this */
	unsigned k;        /* hash functions */
	size_t map_len;
};

/* Sizes both filters for capacity salts at false-positive rate fp. 0 or -errno. */
int replay_init(struct replay *r, size_t capacity, double fp);
void replay_free(struct replay *r);
/* True if salt was seen before (or is a false positive); adds it either way. */
bool replay_check_add(struct replay *r, const uint8_t *salt, size_t len);
/* Memory held by the filters, in bytes. */
size_t replay_bytes(const struct replay *r);

#endif
