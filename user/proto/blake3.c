// SPDX-License-Identifier: MIT
/* BLAKE3, written from its specification: compression, chunks, the tree, XOF output. */
#include <string.h>

#include "blake3.h"

enum {
	CHUNK_START = 1 << 0,
	CHUNK_END = 1 << 1,
	PARENT = 1 << 2,
	ROOT = 1 << 3,
	DERIVE_KEY_CONTEXT = 1 << 5,
	DERIVE_KEY_MATERIAL = 1 << 6,
};

static const uint32_t IV[8] = { 0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
				0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19 };
static const uint8_t PERM[16] = { 2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8 };

static uint32_t rotr(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void g(uint32_t *v, int a, int b, int c, int d, uint32_t x, uint32_t y)
{
	v[a] += v[b] + x;
	v[d] = rotr(v[d] ^ v[a], 16);
	v[c] += v[d];
	v[b] = rotr(v[b] ^ v[c], 12);
	v[a] += v[b] + y;
	v[d] = rotr(v[d] ^ v[a], 8);
	v[c] += v[d];
	v[b] = rotr(v[b] ^ v[c], 7);
}

/* The compression function: the whole 16-word state out (XOF needs all of it). */
static void compress(const uint32_t cv[8], const uint8_t block[BLAKE3_BLOCK_LEN], uint8_t len,
		     uint64_t counter, uint8_t flags, uint32_t out[16])
{
	uint32_t m[16], t[16], v[16] = {
		cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7], IV[0], IV[1], IV[2], IV[3],
		(uint32_t)counter, (uint32_t)(counter >> 32), len, flags,
	};

	for (int i = 0; i < 16; i++)
		m[i] = load32(block + 4 * i);
	for (int r = 0; r < 7; r++) {
		g(v, 0, 4, 8, 12, m[0], m[1]);
		g(v, 1, 5, 9, 13, m[2], m[3]);
		g(v, 2, 6, 10, 14, m[4], m[5]);
		g(v, 3, 7, 11, 15, m[6], m[7]);
		g(v, 0, 5, 10, 15, m[8], m[9]);
		g(v, 1, 6, 11, 12, m[10], m[11]);
		g(v, 2, 7, 8, 13, m[12], m[13]);
		g(v, 3, 4, 9, 14, m[14], m[15]);
		for (int i = 0; i < 16; i++)
			t[i] = m[PERM[i]];
		memcpy(m, t, sizeof(m));
	}
	for (int i = 0; i < 8; i++) {
		out[i] = v[i] ^ v[i + 8];
		out[i + 8] = v[i + 8] ^ cv[i];
	}
}

static void init(struct blake3 *h, const uint32_t key[8], uint8_t flags)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->key, key, sizeof(h->key));
	memcpy(h->cv, key, sizeof(h->cv));
	h->flags = flags;
}

void blake3_init(struct blake3 *h)
{
	init(h, IV, 0);
}

void blake3_init_derive_key(struct blake3 *h, const char *context)
{
	struct blake3 c;
	uint8_t k[32];
	uint32_t key[8];

	init(&c, IV, DERIVE_KEY_CONTEXT);
	blake3_update(&c, context, strlen(context));
	blake3_final(&c, k, sizeof(k));
	for (int i = 0; i < 8; i++)
		key[i] = load32(k + 4 * i);
	init(h, key, DERIVE_KEY_MATERIAL);
}

/* A parent node over two chaining values: its block is left || right. */
static void parent_block(const uint32_t l[8], const uint32_t r[8], uint8_t block[64])
{
	for (int i = 0; i < 8; i++)
		for (int b = 0; b < 4; b++) {
			block[4 * i + b] = (uint8_t)(l[i] >> (8 * b));
			block[32 + 4 * i + b] = (uint8_t)(r[i] >> (8 * b));
		}
}

static void parent_cv(const struct blake3 *h, const uint32_t l[8], const uint32_t r[8],
		      uint32_t out[8])
{
	uint8_t block[64];
	uint32_t w[16];

	parent_block(l, r, block);
	compress(h->key, block, 64, 0, PARENT | h->flags, w);
	memcpy(out, w, 8 * sizeof(uint32_t));
}

static uint8_t start_flag(const struct blake3 *h)
{
	return h->blocks_done ? 0 : CHUNK_START;
}

/* A chunk is complete and more input follows: merge it into the tree (the stack). */
static void push_chunk(struct blake3 *h)
{
	uint32_t w[16], cv[8];
	uint64_t total;

	compress(h->cv, h->block, h->block_len, h->chunk, h->flags | start_flag(h) | CHUNK_END, w);
	memcpy(cv, w, sizeof(cv));
	total = ++h->chunk;
	/* Each trailing zero bit of the chunk count completes one subtree. */
	while (!(total & 1)) {
		parent_cv(h, h->stack[--h->depth], cv, cv);
		total >>= 1;
	}
	memcpy(h->stack[h->depth++], cv, sizeof(cv));
	memcpy(h->cv, h->key, sizeof(h->cv));
	h->blocks_done = 0;
	h->block_len = 0;
}

void blake3_update(struct blake3 *h, const void *in, size_t len)
{
	const uint8_t *p = in;

	while (len) {
		/* A full block is compressed only once more input shows it is not the last. */
		if (h->block_len == BLAKE3_BLOCK_LEN) {
			uint32_t w[16];

			if (h->blocks_done == BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN - 1) {
				push_chunk(h);
			} else {
				compress(h->cv, h->block, BLAKE3_BLOCK_LEN, h->chunk,
					 h->flags | start_flag(h), w);
				memcpy(h->cv, w, sizeof(h->cv));
				h->blocks_done++;
				h->block_len = 0;
			}
		}
		size_t n = BLAKE3_BLOCK_LEN - h->block_len;

		n = n < len ? n : len;
		memcpy(h->block + h->block_len, p, n);
		h->block_len = (uint8_t)(h->block_len + n);
		p += n;
		len -= n;
	}
}

void blake3_final(const struct blake3 *h, uint8_t *out, size_t len)
{
	/* The root node: the last chunk's last block, or a parent over the whole stack. */
	uint32_t cv[8], w[16], ncv[8];
	uint8_t block[64], block_len = h->block_len, flags = h->flags | start_flag(h) | CHUNK_END;
	uint64_t counter = h->chunk;

	memcpy(cv, h->cv, sizeof(cv));
	memcpy(block, h->block, sizeof(block));
	memset(block + block_len, 0, sizeof(block) - block_len);
	for (int i = h->depth - 1; i >= 0; i--) {
		compress(cv, block, block_len, counter, flags, w);
		memcpy(ncv, w, sizeof(ncv));
		parent_block(h->stack[i], ncv, block);
		memcpy(cv, h->key, sizeof(cv));
		block_len = 64;
		counter = 0;
		flags = PARENT | h->flags;
	}
	for (uint64_t n = 0; len; n++) {
		size_t take = len < 64 ? len : 64;

		compress(cv, block, block_len, n, flags | ROOT, w);
		for (size_t i = 0; i < take; i++)
			out[i] = (uint8_t)(w[i / 4] >> (8 * (i % 4)));
		out += take;
		len -= take;
	}
}

void blake3_derive_key(const char *context, const void *material, size_t len, uint8_t *out,
		       size_t out_len)
{
	struct blake3 h;

	blake3_init_derive_key(&h, context);
	blake3_update(&h, material, len);
	blake3_final(&h, out, out_len);
}
