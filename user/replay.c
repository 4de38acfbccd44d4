// SPDX-License-Identifier: MIT
/* Two alternating Bloom filters of recent salts, shared by all workers. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "replay.h"

int replay_init(struct replay *r, size_t capacity, double fp)
{
	double half = capacity < 2 ? 1 : (double)capacity / 2;
	void *mem;

	memset(r, 0, sizeof(*r));
	if (!(fp > 0 && fp < 1))
		return -EINVAL;
	/* Each filter holds capacity/2: m = -n ln p / ln(2)^2, k = m/n ln 2. */
	r->nbits = (size_t)ceil(-half * log(fp) / (M_LN2 * M_LN2));
	r->nbits = (r->nbits + 63) & ~(size_t)63;
	r->k = (unsigned)ceil((double)r->nbits / half * M_LN2);
	r->k = r->k < 1 ? 1 : r->k > 30 ? 30 : r->k;
	r->half = (size_t)half;
	/* Pages are touched only as bits get set: RSS grows with use. */
	r->map_len = 4096 + 2 * r->nbits / 8;
	mem = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	r->sh = mem;
	r->bits[0] = (uint8_t *)mem + 4096;
	r->bits[1] = r->bits[0] + r->nbits / 8;
	randombytes_buf(r->sh->key, sizeof(r->sh->key));
	return 0;
}

void replay_free(struct replay *r)
{
	if (r->sh)
		munmap(r->sh, r->map_len);
	r->sh = NULL;
}

size_t replay_bytes(const struct replay *r)
{
	return 2 * r->nbits / 8;
}

static bool test_bits(const uint8_t *bits, const uint64_t *pos, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (!(__atomic_load_n(&bits[pos[i] >> 3], __ATOMIC_RELAXED) & (1u << (pos[i] & 7))))
			return false;
	return true;
}

bool replay_check_add(struct replay *r, const uint8_t *salt, size_t len)
{
	uint64_t h[2], pos[30];
	unsigned gen;

	/* Keyed SipHash-x-2-4 (128 bits); positions by double hashing (Kirsch-Mitzenmacher). */
	crypto_shorthash_siphashx24((uint8_t *)h, salt, len, r->sh->key);
	h[1] |= 1;
	for (unsigned i = 0; i < r->k; i++)
		pos[i] = (h[0] + i * h[1]) % r->nbits;
	if (test_bits(r->bits[0], pos, r->k) || test_bits(r->bits[1], pos, r->k))
		return true;
	if (__atomic_fetch_add(&r->sh->count, 1, __ATOMIC_RELAXED) >= r->half) {
		/* One worker wins the rotation: it clears the older filter. */
		gen = __atomic_load_n(&r->sh->gen, __ATOMIC_ACQUIRE);
		if (__atomic_compare_exchange_n(&r->sh->gen, &gen, gen + 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			memset(r->bits[(gen + 1) & 1], 0, r->nbits / 8);
			__atomic_store_n(&r->sh->count, 1, __ATOMIC_RELEASE);
		}
	}
	gen = __atomic_load_n(&r->sh->gen, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < r->k; i++)
		__atomic_fetch_or(&r->bits[gen & 1][pos[i] >> 3], (uint8_t)(1u << (pos[i] & 7)),
				  __ATOMIC_RELAXED);
	return false;
}
