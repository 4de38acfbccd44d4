// SPDX-License-Identifier: MIT
/* Per-worker counters in shared memory, and their sum. */
#include <sys/mman.h>

#include "counters.h"

struct counters *counters_shared(size_t n)
{
	void *m = mmap(NULL, n * sizeof(struct counters), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

void counters_free(struct counters *c, size_t n)
{
	if (c)
		munmap(c, n * sizeof(*c));
}

/* Every field is a uint64_t: the sum goes word by word. */
void counters_sum(const struct counters *c, size_t n, struct counters *out)
{
	uint64_t *o = (uint64_t *)out;

	_Static_assert(sizeof(struct counters) % sizeof(uint64_t) == 0, "counters are words");
	for (size_t w = 0; w < sizeof(*out) / sizeof(uint64_t); w++) {
		o[w] = 0;
		for (size_t i = 0; i < n; i++)
			o[w] += ((const uint64_t *)&c[i])[w];
	}
}

const double counters_dns_le[DNS_BUCKETS] = { 1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000 };
const double counters_duration_le[DURATION_BUCKETS] = { 0.1, 1, 10, 60, 300, 1800, 3600, 86400 };

void counters_observe(uint64_t *buckets, const double *le, int n, double v)
{
	int i = 0;

	while (i < n && v > le[i])
		i++;
	buckets[i]++;
}

const char *counters_tier_name(enum ctr_tier t)
{
	static const char *const names[CTR_TIERS] = {
		[CTR_USER] = "userspace", [CTR_SPLICE] = "splice", [CTR_SOCKMAP] = "sockmap",
		[CTR_SHORTCUT] = "shortcut",
	};

	return t < CTR_TIERS ? names[t] : "?";
}

const char *counters_fail_name(enum ctr_fail f)
{
	static const char *const names[FAIL_REASONS] = {
		[FAIL_AUTH] = "authentication", [FAIL_REPLAY] = "replay",
		[FAIL_BAD_REQUEST] = "bad request", [FAIL_SOCKS_AUTH] = "SOCKS5 auth",
		[FAIL_DEADLINE] = "deadline", [FAIL_EARLY_CLOSE] = "early close",
		[FAIL_POLICY] = "policy", [FAIL_RESOLVE] = "resolve", [FAIL_CONNECT] = "connect",
	};

	return f < FAIL_REASONS ? names[f] : "?";
}
