/* SPDX-License-Identifier: MIT */
#ifndef SS_CHUNKS_H
#define SS_CHUNKS_H

/*
 * The input side of both editions' stream decoders: ciphertext arrives in
 * any split, and is handed on in units (a salt, a sealed header, a length
 * chunk, a payload chunk) whose size the decoder sets in need. A unit that
 * arrives whole is opened where it lies; one that straddles reads waits in
 * part (allocated on the first straddle, part_cap bytes).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct chunks {
	size_t need;     /* size of the unit being collected */
	size_t have;     /* bytes of it held in part */
	uint8_t *part;
	int err;         /* sticky error */
};

struct chunk_ops {
	/* Handles one complete unit; SS_OK or an error (which becomes sticky). */
	int (*unit)(void *dec, uint8_t *unit, uint8_t *out, size_t *out_len);
	/* Plaintext bytes the next unit releases (0 for headers and lengths). */
	size_t (*releases)(const void *dec);
	size_t part_cap;
};

/*
 * Consumes in[0..len) as the decoders' feed functions document (aead.h):
 * a unit whose plaintext does not fit in out waits, and SS_OK returns with
 * *consumed < len.
 */
int chunks_feed(struct chunks *ch, const struct chunk_ops *ops, void *dec, uint8_t *in, size_t len,
		size_t *consumed, uint8_t *out, size_t out_cap, size_t *out_len);
void chunks_free(struct chunks *ch);
/*
 * Opens a sealed unit of len bytes (payload and tag) into dst, which may
 * overlap it (plaintext written over the ciphertext); SS_OK or SS_ERR_TAG.
 */
int chunks_open(struct ss_cipher *c, uint8_t *unit, size_t len, uint8_t *dst);

#endif
