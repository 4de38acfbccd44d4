/* SPDX-License-Identifier: MIT */
#ifndef SS_BLAKE3_H
#define SS_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

/*
 * BLAKE3 (https://github.com/BLAKE3-team/BLAKE3-specs), portable: the hash
 * and derive_key modes with extendable output, for SIP022's session subkeys
 * (derive_key("shadowsocks 2022 session subkey", psk || salt)). It runs once
 * per connection or UDP session, so clarity wins over SIMD.
 */
#define BLAKE3_OUT_LEN 32
#define BLAKE3_BLOCK_LEN 64
#define BLAKE3_CHUNK_LEN 1024

struct blake3 {
	uint32_t key[8];
	uint32_t cv[8];          /* the current chunk's chaining value */
	uint64_t chunk;          /* the current chunk's index */
	uint8_t block[BLAKE3_BLOCK_LEN];
	uint8_t block_len;
	uint8_t blocks_done;     /* compressed blocks of the current chunk */
	uint8_t flags;           /* the mode's flags */
	uint8_t depth;           /* chaining values on the stack */
	uint32_t stack[54][8];   /* subtree chaining values: enough for 2^64 bytes */
};

void blake3_init(struct blake3 *h);
/* derive_key's first step: the context string fixes the key of the second. */
void blake3_init_derive_key(struct blake3 *h, const char *context);
void blake3_update(struct blake3 *h, const void *in, size_t len);
/* Any number of output bytes (the first 32 are the default-length result). */
void blake3_final(const struct blake3 *h, uint8_t *out, size_t len);
/* derive_key(context, material) into out_len bytes. */
void blake3_derive_key(const char *context, const void *material, size_t len, uint8_t *out,
		       size_t out_len);

#endif
