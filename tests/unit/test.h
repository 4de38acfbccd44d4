/* SPDX-License-Identifier: MIT */
#ifndef SS_TEST_H
#define SS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tests register themselves; main runs them and prints PASS/FAIL per test. */
typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
extern int test_failed; /* set by CHECK in the running test */

#define TEST(name)                                                    \
	static void name(void);                                       \
	__attribute__((constructor)) static void reg_##name(void)     \
	{                                                             \
		test_register(#name, name);                           \
	}                                                             \
	static void name(void)

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, \
				__LINE__, #cond);                             \
			test_failed = 1;                                      \
			return;                                               \
		}                                                             \
	} while (0)

#define CHECK_EQ(a, b)                                                        \
	do {                                                                  \
		long long _a = (long long)(a), _b = (long long)(b);           \
		if (_a != _b) {                                               \
			fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", \
				__FILE__, __LINE__, #a, _a, _b);              \
			test_failed = 1;                                      \
			return;                                               \
		}                                                             \
	} while (0)

/* Decodes a hex string into buf; returns the byte count. */
size_t unhex(const char *hex, unsigned char *buf, size_t cap);
/* Deterministic PRNG (xorshift64*) so failures reproduce. */
unsigned long long prng(unsigned long long *s);
void prng_fill(unsigned long long *s, unsigned char *buf, size_t len);

#endif
