// SPDX-License-Identifier: MIT
/* Two alternating Bloom filters of recent salts, shared by all workers. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "replay.h"
#include "shm_lock.h"

bool shm_lock_in_use;

void replay_locks_in_use(void)
{
	shm_lock_in_use = true;
}

int replay_layout(struct replay *r, size_t capacity, double fp)
{
	double half = capacity < 2 ? 1 : (double)capacity / 2;

	memset(r, 0, sizeof(*r));
	if (!(fp > 0 && fp < 1))
		return -EINVAL;
	/* Each filter holds capacity/2: m = -n ln p / ln(2)^2, k = m/n ln 2. */
	r->nbits = (size_t)ceil(-half * log(fp) / (M_LN2 * M_LN2));
	r->nbits = (r->nbits + 63) & ~(size_t)63;
	r->k = (unsigned)ceil((double)r->nbits / half * M_LN2);
	r->k = r->k < 1 ? 1 : r->k > 30 ? 30 : r->k;
	r->half = (size_t)half;
	/* Pages are touched only as bits get set: RSS (and a file's blocks) grow with use. */
	r->map_len = REPLAY_HEAD + 2 * r->nbits / 8;
	return 0;
}

int replay_attach(struct replay *r, void *mem, const char **why)
{
	struct replay_shared *sh = mem;
	bool keep = !memcmp(sh->magic, REPLAY_MAGIC, sizeof(sh->magic));

	r->sh = sh;
	r->bits[0] = (uint8_t *)mem + REPLAY_HEAD;
	r->bits[1] = r->bits[0] + r->nbits / 8;
	if (keep && (sh->nbits != r->nbits || sh->k != r->k)) {
		*why = "it was made for another replay_capacity or replay_fp";
		keep = false;
	} else if (!keep && sh->magic[0]) {
		*why = "not a replay filter of this version";
	}
	shm_lock_init(&sh->lock); /* a killed holder cannot wedge the next run */
	if (keep)
		return 1;
	memset(sh->magic, 0, sizeof(sh->magic));
	memset(r->bits[0], 0, 2 * r->nbits / 8);
	sh->nbits = r->nbits;
	sh->k = r->k;
	sh->count = sh->gen = 0;
	randombytes_buf(sh->key, sizeof(sh->key));
	memcpy(sh->magic, REPLAY_MAGIC, sizeof(sh->magic));
	return 0;
}

int replay_init(struct replay *r, size_t capacity, double fp)
{
	const char *why;
	void *mem;
	int ret = replay_layout(r, capacity, fp);

	if (ret)
		return ret;
	mem = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	replay_attach(r, mem, &why);
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
		if (!(bits[pos[i] >> 3] & (1u << (pos[i] & 7))))
			return false;
	return true;
}

/* Under the lock: the check and the insert are one step for every worker. */
static bool check_add_locked(struct replay *r, const uint64_t *pos)
{
	struct replay_shared *sh = r->sh;

	if (test_bits(r->bits[0], pos, r->k) || test_bits(r->bits[1], pos, r->k))
		return true;
	if (sh->count++ >= r->half) {
		/* The older filter is cleared and becomes the current one. */
		sh->gen++;
		memset(r->bits[sh->gen & 1], 0, r->nbits / 8);
		sh->count = 1;
	}
	for (unsigned i = 0; i < r->k; i++)
		r->bits[sh->gen & 1][pos[i] >> 3] |= (uint8_t)(1u << (pos[i] & 7));
	return false;
}

bool replay_check_add(struct replay *r, const uint8_t *salt, size_t len)
{
	uint64_t h[2], pos[30];
	bool seen;

	/* Keyed SipHash-x-2-4 (128 bits); positions by double hashing (Kirsch-Mitzenmacher). */
	crypto_shorthash_siphashx24((uint8_t *)h, salt, len, r->sh->key);
	h[1] |= 1;
	for (unsigned i = 0; i < r->k; i++)
		pos[i] = (h[0] + i * h[1]) % r->nbits;
	shm_lock(&r->sh->lock);
	seen = check_add_locked(r, pos);
	pthread_mutex_unlock(&r->sh->lock);
	return seen;
}
