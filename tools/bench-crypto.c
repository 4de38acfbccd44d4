// SPDX-License-Identifier: MIT
/*
 * bench-crypto: MB/s of each method on each backend, sealing and opening
 * 16 KiB chunks (the SIP004 maximum payload) for a fixed time; then UDP
 * packets per second (100-byte payload: fresh salt, subkey and key per packet);
 * then the cost of finding a connection's user on a port with 1, 10 and 100
 * users when the matching key is tried last (a new client address).
 * Usage: bench-crypto [seconds-per-case]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aead.h"
#include "key.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run(const struct ss_method *m, enum ss_backend b, int open, double secs)
{
	static unsigned char buf[SS_MAX_PAYLOAD + SS_TAG], pt[SS_MAX_PAYLOAD], key[32];
	struct ss_cipher c;
	double t0, t;
	size_t bytes = 0;

	if (cipher_init(&c, m, b, key))
		return -1;
	/* buf keeps one chunk sealed under the all-zero nonce for the open runs. */
	cipher_seal_ad(&c, buf, pt, SS_MAX_PAYLOAD, NULL, 0, key);
	t0 = now();
	do {
		for (int i = 0; i < 64; i++) {
			if (open) {
				if (cipher_open_ad(&c, pt, buf, sizeof(buf), NULL, 0, key)) {
					cipher_free(&c);
					return -1;
				}
			} else {
				cipher_seal(&c, buf, pt, SS_MAX_PAYLOAD);
			}
			bytes += SS_MAX_PAYLOAD;
		}
		t = now() - t0;
	} while (t < secs);
	cipher_free(&c);
	return (double)bytes / t / 1e6;
}

/* Whole UDP packets (salt, HKDF subkey, seal or open) per second, default backend. */
static double run_udp(const struct ss_method *m, int open, double secs)
{
	static const uint8_t master[SS_MAX_KEY];
	uint8_t pt[100] = { 0 }, pkt[200], out[200];
	size_t n = 0, len, got;
	double t0 = now(), t;

	if (ss_udp_seal(m, SS_BACKEND_AUTO, master, pt, sizeof(pt), pkt, sizeof(pkt), &len))
		return -1;
	do {
		for (int i = 0; i < 256; i++) {
			if (open ? ss_udp_open(m, SS_BACKEND_AUTO, master, pkt, len, out, sizeof(out), &got)
				 : ss_udp_seal(m, SS_BACKEND_AUTO, master, pt, sizeof(pt), out, sizeof(out),
					       &got))
				return -1;
			n++;
		}
		t = now() - t0;
	} while (t < secs);
	return (double)n / t;
}

/* Microseconds to find the user whose key is tried last, over n keys. */
static double user_trial(const struct ss_method *m, unsigned n, double secs)
{
	struct port_keys pk;
	union method_enc e;
	uint8_t start[128], one = 'x';
	size_t len = 0;
	unsigned tries, count = 0, k = 0;
	char pw[16];
	double t0;

	if (port_keys_alloc(&pk, 1, n))
		return 0;
	for (unsigned i = 0; i < n; i++) {
		snprintf(pw, sizeof(pw), "user%u", i);
		key_init(&pk.keys[i], m, pw, false, pw, 1);
	}
	t0 = now();
	while (now() - t0 < secs) {
		/* A fresh client address each time, and the key last in the recency order. */
		struct sockaddr_storage a = { .ss_family = AF_INET };
		unsigned last = pk.mru[n - 1];

		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(0x0a000000u + ++k);
		pk.keys[last].ops->enc_init(&e, &pk.keys[last]);
		pk.keys[last].ops->enc_feed(&e, &one, 1, start, &len);
		pk.keys[last].ops->enc_free(&e);
		if (port_keys_find(&pk, &a, start, len, &tries) != (int)last || tries != n)
			return 0;
		count++;
	}
	port_keys_free(&pk);
	return (now() - t0) * 1e6 / count;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;

	if (crypto_init())
		return 1;
	printf("%-26s %-10s %12s %12s %s\n", "method", "backend", "seal MB/s", "open MB/s",
	       "default");
	for (size_t i = 1; crypto_method_at(i); i++) {
		const struct ss_method *m = crypto_method_at(i);

		for (int b = SS_BACKEND_SODIUM; b <= SS_BACKEND_OPENSSL; b++) {
			if (!crypto_backend_available(m, b)) {
				printf("%-26s %-10s %12s %12s\n", m->name, crypto_backend_name(b),
				       "n/a", "n/a");
				continue;
			}
			printf("%-26s %-10s %12.0f %12.0f %s\n", m->name, crypto_backend_name(b),
			       run(m, b, 0, secs), run(m, b, 1, secs),
			       (enum ss_backend)b == m->backend ? "*" : "");
		}
	}
	printf("\n%-26s %12s %12s\n", "UDP packets, 100 B", "seal /s", "open /s");
	for (size_t i = 1; crypto_method_at(i); i++) {
		const struct ss_method *m = crypto_method_at(i);

		printf("%-26s %12.0f %12.0f\n", m->name, run_udp(m, 0, secs), run_udp(m, 1, secs));
	}
	printf("\n%-26s %12s %12s %12s\n", "find the user, key last", "1 user us", "10 users us",
	       "100 users us");
	for (size_t i = 1; crypto_method_at(i); i++) {
		const struct ss_method *m = crypto_method_at(i);

		printf("%-26s %12.1f %12.1f %12.1f\n", m->name, user_trial(m, 1, secs),
		       user_trial(m, 10, secs), user_trial(m, 100, secs));
	}
	return 0;
}
