// SPDX-License-Identifier: MIT
/* Runs every registered unit test, or those whose name contains argv[1]. */
#include "crypto.h"
#include "test.h"

#define MAX_TESTS 256
static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int ntests;
int test_failed;

void test_register(const char *name, test_fn fn)
{
	if (ntests < MAX_TESTS) {
		tests[ntests].name = name;
		tests[ntests++].fn = fn;
	}
}

size_t unhex(const char *hex, unsigned char *buf, size_t cap)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n < cap) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		buf[n++] = (unsigned char)v;
		hex += 2;
	}
	return n;
}

unsigned long long prng(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

void prng_fill(unsigned long long *s, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(prng(s) >> 32);
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (crypto_init()) {
		fprintf(stderr, "crypto_init failed\n");
		return 1;
	}

	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		test_failed = 0;
		tests[i].fn();
		printf("%s unit/%s\n", test_failed ? "FAIL" : "PASS", tests[i].name);
		fflush(stdout);
		failed += test_failed;
	}
	return failed ? 1 : 0;
}
