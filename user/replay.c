// SPDX-License-Identifier: MIT
/* Two alternating Bloom filters of recent salts (the ppbloom idea of libev). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "replay.h"

int replay_init(struct replay *r, size_t capacity, double fp)
{
	double half = capacity < 2 ? 1 : (double)capacity / 2;

	memset(r, 0, sizeof(*r));
	if (!(fp > 0 && fp < 1))
		return -EINVAL;
	/* Each filter holds capacity/2: m = -n ln p / ln(2)^2, k = m/n ln 2. */
	r->nbits = (size_t)ceil(-half * log(fp) / (M_LN2 * M_LN2));
	r->nbits = (r->nbits + 7) & ~(size_t)7;
	r->k = (unsigned)ceil((double)r->nbits / half * M_LN2);
	if (r->k < 1)
		r->k = 1;
	if (r->k > 30)
		r->k = 30;
	r->half = (size_t)half;
	r->bits[0] = calloc(r->nbits / 8, 1);
	r->bits[1] = calloc(r->nbits / 8, 1);
	if (!r->bits[0] || !r->bits[1]) {
		replay_free(r);
		return -ENOMEM;
	}
	randombytes_buf(r->key, sizeof(r->key));
	return 0;
}

void replay_free(struct replay *r)
{
	free(r->bits[0]);
	free(r->bits[1]);
	r->bits[0] = r->bits[1] = NULL;
}

size_t replay_bytes(const struct replay *r)
{
	return 2 * r->nbits / 8;
}

static bool test_bits(const uint8_t *bits, const uint64_t *pos, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (!(bits[pos[i] >> 3] & (1u << (pos[i] & 7))))
			return false;
	return true;
}

bool replay_check_add(struct replay *r, const uint8_t *salt, size_t len)
{
	uint64_t h[2], pos[30];
	bool seen;

	/* Keyed SipHash-x-2-4 (128 bits); positions by double hashing (Kirsch-Mitzenmacher). */
	crypto_shorthash_siphashx24((uint8_t *)h, salt, len, r->key);
	h[1] |= 1;
	for (unsigned i = 0; i < r->k; i++)
		pos[i] = (h[0] + i * h[1]) % r->nbits;
	seen = test_bits(r->bits[0], pos, r->k) || test_bits(r->bits[1], pos, r->k);
	if (seen)
		return true;
	if (r->count >= r->half) {
		/* The older filter is forgotten and becomes the current one. */
		r->cur ^= 1;
		memset(r->bits[r->cur], 0, r->nbits / 8);
		r->count = 0;
	}
	for (unsigned i = 0; i < r->k; i++)
		r->bits[r->cur][pos[i] >> 3] |= (uint8_t)(1u << (pos[i] & 7));
	r->count++;
	return false;
}
