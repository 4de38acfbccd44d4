// SPDX-License-Identifier: MIT
/* Per-worker counters in shared memory, and their sum. */
#include <string.h>
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

/* Every field before the capture rows is a uint64_t: the sum goes word by word. */
void counters_sum(const struct counters *c, size_t n, struct counters *out)
{
	uint64_t *o = (uint64_t *)out;

	_Static_assert(offsetof(struct counters, cap) % sizeof(uint64_t) == 0, "counters are words");
	memset(out->cap, 0, sizeof(out->cap));
	for (size_t w = 0; w < offsetof(struct counters, cap) / sizeof(uint64_t); w++) {
		o[w] = 0;
		for (size_t i = 0; i < n; i++)
			o[w] += ((const uint64_t *)&c[i])[w];
	}
}

int counters_capture_row(struct counters *c, uint64_t id)
{
	int free_row = -1;

	for (int i = 0; i < CTR_CAPTURE_ROWS; i++) {
		if (c->cap[i].id == id)
			return i;
		if (!c->cap[i].id && free_row < 0)
			free_row = i;
	}
	if (free_row >= 0)
		c->cap[free_row] = (struct ctr_capture){ .id = id };
	return free_row;
}

void counters_capture_drop(struct counters *c, uint64_t id)
{
	for (int i = 0; id && i < CTR_CAPTURE_ROWS; i++)
		if (c->cap[i].id == id)
			c->cap[i].id = 0;
}

void counters_capture_sum(const struct counters *c, size_t n, uint64_t id, uint64_t *up,
			  uint64_t *down)
{
	*up = *down = 0;
	for (size_t w = 0; id && w < n; w++) {
		for (int i = 0; i < CTR_CAPTURE_ROWS; i++) {
			if (c[w].cap[i].id == id) {
				*up += c[w].cap[i].up;
				*down += c[w].cap[i].down;
			}
		}
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
