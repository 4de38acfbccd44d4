// SPDX-License-Identifier: MIT
/* SIP022 TCP streams: round trips, the one-read header, and every header rule. */
#include <time.h>

#include "addr.h"
#include "aead2022.h"
#include "test.h"
#include "key.h"
#include "salt_window.h"
#include "sip022_udp.h"

#define BIG (300 * 1024)

static const char *const names[] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
				     "2022-blake3-chacha20-poly1305" };

static const struct ss_method *m22(size_t i)
{
	return crypto_method_find(names[i], &(const char *){ 0 });
}

/* addr of 127.0.0.1:8080 followed by n bytes of payload, in pt; the total length. */
static size_t request_pt(unsigned long long *s, unsigned char *pt, size_t n)
{
	static const unsigned char a[] = { 1, 127, 0, 0, 1, 0x1f, 0x90 };

	memcpy(pt, a, sizeof(a));
	prng_fill(s, pt + sizeof(a), n);
	return sizeof(a) + n;
}

/* The first read holds at least `first` bytes; then random fragments. */
static int feed(struct s22_dec *d, unsigned long long *s, unsigned char *ct, size_t n, size_t first,
		unsigned char *out, size_t *got)
{
	size_t i = 0;

	*got = 0;
	while (i < n) {
		size_t k = (size_t)(prng(s) % 70000) + 1, used;
		int r;

		k = i ? MIN(n - i, k) : MIN(n, first);
		r = s22_dec_feed(d, ct + i, k, &used, out, BIG + 2048, got);

		if (r)
			return r;
		if (used != k)
			return SS_ERR_SPACE;
		i += k;
	}
	return s22_dec_finish(d);
}

TEST(s22_request_and_response_round_trip)
{
	unsigned long long s = 2022;
	unsigned char psk[32], *pt = malloc(BIG + 64), *ct = malloc(BIG + 8192),
			       *out = malloc(BIG + 2048);
	static const size_t sizes[] = { 0, 1, 1000, S22_MAX_PAYLOAD - 9, S22_MAX_PAYLOAD,
					S22_MAX_PAYLOAD + 1, BIG };

	for (size_t mi = 0; mi < ARRAY_SIZE(names); mi++) {
		const struct ss_method *m = m22(mi);

		prng_fill(&s, psk, sizeof(psk));
		for (size_t si = 0; si < ARRAY_SIZE(sizes); si++) {
			struct s22_enc e, r;
			struct s22_dec d, rd;
			size_t n = request_pt(&s, pt, sizes[si]), nct, got;

			CHECK_EQ(s22_enc_init(&e, m, psk), 0);
			CHECK_EQ(s22_dec_init(&d, m, psk), 0);
			CHECK(s22_enc_fit(&e, BIG + 8192) >= n);
			CHECK_EQ(s22_enc_feed(&e, pt, n, ct, &nct), 0);
			/* No payload: padding makes the first flight longer than the address. */
			CHECK(nct >= m->key_len + 11 + 2 * SS_TAG + n + 2 + (sizes[si] ? 0 : 1));
			CHECK_EQ(feed(&d, &s, ct, nct, nct, out, &got), SS_OK);
			CHECK_EQ(got, n);
			CHECK(memcmp(out, pt, n) == 0);
			CHECK(d.authentic && !memcmp(d.salt, e.salt, m->key_len));
			/* The response names the request's salt. */
			if (!sizes[si]) {
				s22_enc_free(&e);
				s22_dec_free(&d);
				continue;
			}
			CHECK_EQ(s22_enc_init(&r, m, psk), 0);
			s22_enc_respond(&r, d.salt);
			s22_dec_init(&rd, m, psk);
			s22_dec_expect_response(&rd, e.salt);
			CHECK_EQ(s22_enc_feed(&r, pt, n, ct, &nct), 0);
			CHECK_EQ(feed(&rd, &s, ct, nct, m->key_len + 11 + m->key_len + SS_TAG, out, &got),
				 SS_OK);
			CHECK_EQ(got, n);
			CHECK(memcmp(out, pt, n) == 0);
			s22_dec_free(&rd);
			/* A response to another request is refused. */
			s22_dec_init(&rd, m, psk);
			s22_dec_expect_response(&rd, psk);
			CHECK_EQ(feed(&rd, &s, ct, nct, nct, out, &got), SS_ERR);
			s22_dec_free(&rd);
			/* A response is not a request (reflection). */
			s22_dec_free(&d);
			s22_dec_init(&d, m, psk);
			CHECK(feed(&d, &s, ct, nct, nct, out, &got) != SS_OK);
			s22_enc_free(&r);
			s22_enc_free(&e);
			s22_dec_free(&d);
		}
	}
	free(pt);
	free(ct);
	free(out);
}

TEST(s22_header_must_come_in_one_read_and_any_tamper_fails)
{
	unsigned long long s = 7;
	unsigned char psk[32], pt[600], ct[2000], out[4000];
	const struct ss_method *m = m22(1);
	size_t n, nct, got;
	struct s22_enc e;
	struct s22_dec d;

	prng_fill(&s, psk, sizeof(psk));
	n = request_pt(&s, pt, 500);
	s22_enc_init(&e, m, psk);
	CHECK_EQ(s22_enc_feed(&e, pt, n, ct, &nct), 0);
	/* Salt and fixed header split over two reads: not ours (section 3.1.4). */
	s22_dec_init(&d, m, psk);
	CHECK_EQ(feed(&d, &s, ct, nct, m->key_len + 11 + SS_TAG - 1, out, &got), SS_ERR_TRUNC);
	s22_dec_free(&d);
	for (size_t i = 0; i < nct; i += 7) {
		ct[i] ^= 0x20;
		s22_dec_init(&d, m, psk);
		CHECK(feed(&d, &s, ct, nct, nct, out, &got) != SS_OK);
		CHECK(i >= m->key_len + 11 + SS_TAG || !d.authentic);
		s22_dec_free(&d);
		ct[i] ^= 0x20;
	}
	/* Cut short: a truncated stream at the end. */
	s22_dec_init(&d, m, psk);
	CHECK_EQ(feed(&d, &s, ct, nct - 1, nct - 1, out, &got), SS_ERR_TRUNC);
	s22_dec_free(&d);
	s22_enc_free(&e);
}

/* A request built field by field as the spec draws it, for the rules the encoder never breaks. */
static size_t craft(const struct ss_method *m, const unsigned char *psk, int type, long skew,
		    const unsigned char *var, size_t vlen, unsigned char *ct)
{
	unsigned char subkey[32], hdr[11];
	uint64_t t = (uint64_t)((long)time(NULL) + skew);
	struct ss_cipher c;

	memset(ct, 0x5a, m->key_len); /* the salt */
	crypto_subkey(m, psk, ct, subkey);
	cipher_init(&c, m, SS_BACKEND_AUTO, subkey);
	hdr[0] = (unsigned char)type;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)(t >> (56 - 8 * i));
	hdr[9] = (unsigned char)(vlen >> 8);
	hdr[10] = (unsigned char)vlen;
	cipher_seal(&c, ct + m->key_len, hdr, sizeof(hdr));
	cipher_seal(&c, ct + m->key_len + 11 + SS_TAG, var, vlen);
	cipher_free(&c);
	return m->key_len + 11 + SS_TAG + vlen + SS_TAG;
}

static int try_var(const unsigned char *psk, int type, long skew, const unsigned char *var,
		   size_t vlen, size_t *got)
{
	unsigned long long s = 1;
	unsigned char ct[2200], out[2200];
	const struct ss_method *m = m22(0);
	struct s22_dec d;
	size_t n = craft(m, psk, type, skew, var, vlen, ct);
	int r;

	s22_dec_init(&d, m, psk);
	r = feed(&d, &s, ct, n, n, out, got);
	s22_dec_free(&d);
	return r;
}

TEST(s22_request_header_rules)
{
	unsigned char psk[32] = { 1, 2, 3 }, var[1200];
	static const unsigned char a[] = { 1, 10, 0, 0, 1, 0, 80 };
	size_t got;

	memcpy(var, a, sizeof(a));
	/* Address, padding length 0, payload "hi": fine. */
	var[7] = 0, var[8] = 0, var[9] = 'h', var[10] = 'i';
	CHECK_EQ(try_var(psk, 0, 0, var, 11, &got), SS_OK);
	CHECK_EQ(got, 9);
	/* Neither payload nor padding: refused. */
	CHECK_EQ(try_var(psk, 0, 0, var, 9, &got), SS_ERR);
	/* Padding only: fine, and the padding is dropped. */
	var[8] = 5;
	CHECK_EQ(try_var(psk, 0, 0, var, 14, &got), SS_OK);
	CHECK_EQ(got, 7);
	/* Padding past the header chunk: refused. */
	CHECK_EQ(try_var(psk, 0, 0, var, 13, &got), SS_ERR);
	/* Padding over 900: refused. */
	var[7] = 901 >> 8, var[8] = 901 & 0xff;
	CHECK_EQ(try_var(psk, 0, 0, var, 9 + 901, &got), SS_ERR);
	var[7] = 0, var[8] = 0;
	/* The address cut by the chunk's end: refused. */
	CHECK_EQ(try_var(psk, 0, 0, var, 5, &got), SS_ERR);
	/* Wrong type, timestamps 31 s off either way: refused; 29 s: fine. */
	CHECK_EQ(try_var(psk, 1, 0, var, 11, &got), SS_ERR);
	CHECK_EQ(try_var(psk, 0, -31, var, 11, &got), SS_ERR_TIME);
	CHECK_EQ(try_var(psk, 0, 31, var, 11, &got), SS_ERR_TIME);
	CHECK_EQ(try_var(psk, 0, -120, var, 11, &got), SS_ERR_TIME);
	CHECK_EQ(try_var(psk, 0, 29, var, 11, &got), SS_OK);
	CHECK_EQ(try_var(psk, 0, -29, var, 11, &got), SS_OK);
}

TEST(s22_psk_must_be_base64_of_the_key_length)
{
	unsigned char k[32];
	char b64[64];
	const struct ss_method *m = m22(1);

	CHECK_EQ(crypto_psk_new(m, b64, sizeof(b64)), 0);
	CHECK_EQ(crypto_psk_decode(b64, k, 32), 0);
	CHECK(crypto_psk_decode(b64, k, 16) != 0);
	CHECK(crypto_psk_decode("not base64!", k, 32) != 0);
	CHECK(crypto_psk_decode("test-pw", k, 32) != 0);
	CHECK_EQ(crypto_psk_decode("AAECAwQFBgcICQoLDA0ODw==", k, 16), 0);
	CHECK(k[0] == 0 && k[15] == 15);
	/* "iPSK:uPSK" (SIP023): the identity part decoded, the user's part pointed at. */
	{
		const struct ss_method *m16 = m22(0), *cc = m22(2);
		const char *u;

		CHECK_EQ(crypto_psk_split(m16, "AAECAwQFBgcICQoLDA0ODw==:USER", k, &u), 1);
		CHECK(k[15] == 15 && !strcmp(u, "USER"));
		CHECK_EQ(crypto_psk_split(m16, "AAECAwQFBgcICQoLDA0ODw==", k, &u), 0);
		CHECK(!strcmp(u, "AAECAwQFBgcICQoLDA0ODw=="));
		CHECK(crypto_psk_split(m16, "bad:USER", k, &u) < 0);
		CHECK_EQ(crypto_psk_split(m16, "a:b:c", k, &u), 0); /* one layer only: one key */
		CHECK_EQ(crypto_psk_split(cc, "a:b", k, &u), 0);    /* no identities on chacha */
	}
}

TEST(s22_window_accepts_each_packet_id_once)
{
	struct s22_window w = { 0 };

	CHECK(s22_window_check(&w, 0));
	s22_window_mark(&w, 0);
	CHECK(!s22_window_check(&w, 0));
	CHECK(s22_window_check(&w, 5));
	s22_window_mark(&w, 5);
	CHECK(s22_window_check(&w, 3)); /* late, inside the window */
	s22_window_mark(&w, 3);
	CHECK(!s22_window_check(&w, 3));
	s22_window_mark(&w, 5000);
	CHECK(!s22_window_check(&w, 5000 - S22_WINDOW - 1)); /* too old */
	CHECK(s22_window_check(&w, 5000 - S22_WINDOW + 1));
	CHECK(!s22_window_check(&w, 5)); /* forgotten, and too old */
	s22_window_mark(&w, 4999);
	CHECK(!s22_window_check(&w, 4999));
	CHECK(!s22_window_check(&w, UINT64_MAX));
}

TEST(s22_udp_sessions_both_ways_every_method)
{
	unsigned char psk[32] = { 9 }, in[1500], pkt[1700], out[1700], first[1700];
	size_t n, got, fn;

	for (size_t mi = 0; mi < ARRAY_SIZE(names); mi++) {
		const struct ss_method *m = m22(mi);
		struct s22_udp c, s, s2;
		unsigned char sid[S22_SID];

		memcpy(in, "\x01\x7f\x00\x00\x01\x00\x35hello", 12);
		CHECK_EQ(s22_udp_init(&c, m, psk, false), 0);
		CHECK_EQ(s22_udp_init(&s, m, psk, true), 0);
		CHECK_EQ(s22_udp_seal(&c, in, 12, pkt, sizeof(pkt), &n), 0);
		CHECK_EQ(n, 12 + s22_udp_overhead(m, false));
		memcpy(first, pkt, n);
		fn = n;
		CHECK_EQ(s22_udp_peek_sid(m, psk, pkt, n, sid), SS_OK);
		CHECK(!memcmp(sid, c.sid, S22_SID));
		CHECK_EQ(s22_udp_open(&s, pkt, n, out, sizeof(out), &got), SS_OK);
		CHECK(got == 12 && !memcmp(out, in, 12));
		/* The same packet again: the window refuses it. */
		CHECK_EQ(s22_udp_open(&s, first, fn, out, sizeof(out), &got), SS_ERR_REPLAY);
		/* The reply, opened by the client; reflected to the server, refused. */
		CHECK_EQ(s22_udp_seal(&s, in, 12, pkt, sizeof(pkt), &n), 0);
		CHECK_EQ(s22_udp_open(&c, pkt, n, out, sizeof(out), &got), SS_OK);
		CHECK(got == 12 && !memcmp(out, in, 12));
		CHECK(s22_udp_open(&s, pkt, n, out, sizeof(out), &got) != SS_OK);
		/* A client packet to a client, and any flipped byte: refused. */
		CHECK_EQ(s22_udp_seal(&c, in, 12, pkt, sizeof(pkt), &n), 0);
		CHECK(s22_udp_open(&c, pkt, n, out, sizeof(out), &got) != SS_OK);
		for (size_t i = 0; i < n; i += 5) {
			pkt[i] ^= 1;
			CHECK(s22_udp_open(&s, pkt, n, out, sizeof(out), &got) != SS_OK);
			pkt[i] ^= 1;
		}
		CHECK_EQ(s22_udp_open(&s, pkt, n, out, sizeof(out), &got), SS_OK);
		/* Another server session: a second is taken, a third within the minute is not. */
		CHECK_EQ(s22_udp_init(&s2, m, psk, true), 0);
		memcpy(s2.cur.sid, c.sid, S22_SID);
		CHECK_EQ(s22_udp_seal(&s2, in, 12, pkt, sizeof(pkt), &n), 0);
		CHECK_EQ(s22_udp_open(&c, pkt, n, out, sizeof(out), &got), SS_OK);
		s22_udp_free(&s2);
		CHECK_EQ(s22_udp_init(&s2, m, psk, true), 0);
		memcpy(s2.cur.sid, c.sid, S22_SID);
		CHECK_EQ(s22_udp_seal(&s2, in, 12, pkt, sizeof(pkt), &n), 0);
		CHECK_EQ(s22_udp_open(&c, pkt, n, out, sizeof(out), &got), SS_ERR);
		s22_udp_free(&s2);
		s22_udp_free(&c);
		s22_udp_free(&s);
	}
}

TEST(s23_identity_header_finds_the_user_among_300)
{
	static struct port_keys pk;
	const struct ss_method *m = m22(1);
	unsigned char pt[64], ct[2000], out[2000];
	char ipsk[64], upsk[64];
	unsigned long long s = 23;
	size_t n, nct, got;
	unsigned tries;
	struct sockaddr_storage peer = { .ss_family = AF_INET };

	CHECK_EQ(port_keys_alloc(&pk, 8388, 300), 0);
	crypto_psk_new(m, ipsk, sizeof(ipsk));
	for (unsigned i = 0; i < 300; i++) {
		crypto_psk_new(m, upsk, sizeof(upsk));
		CHECK_EQ(key_init(&pk.keys[i], m, upsk, false, "u", 8388), 0);
		CHECK_EQ(key_expect_identity(&pk.keys[i], ipsk), 0);
	}
	CHECK_EQ(port_keys_index_identities(&pk), 0);
	for (unsigned i = 0; i < 300; i += 37) {
		struct ss_key client = pk.keys[i];
		union method_enc e;
		union method_dec d;

		client.eih = true; /* "iPSK:uPSK" on the client side */
		n = request_pt(&s, pt, 20);
		CHECK_EQ(client.ops->enc_init(&e, &client), 0);
		CHECK_EQ(client.ops->enc_feed(&e, pt, n, ct, &nct), 0);
		CHECK_EQ(port_keys_find(&pk, &peer, ct, nct, &tries), (int)i);
		CHECK_EQ(tries, 1);
		CHECK_EQ(pk.keys[i].ops->dec_init(&d, &pk.keys[i]), 0);
		CHECK_EQ(feed(&d.aead2022, &s, ct, nct, nct, out, &got), SS_OK);
		CHECK(got == n && !memcmp(out, pt, n));
		client.ops->enc_free(&e);
		client.ops->dec_free(&d);
		/* Under another identity PSK: no user. */
		ct[m->key_len] ^= 1;
		CHECK_EQ(port_keys_find(&pk, &peer, ct, nct, &tries), -1);
	}
	port_keys_free(&pk);
}

TEST(s22_salt_window_exact_and_claims)
{
	struct salt_window *w = salt_window_new();
	uint8_t salt[32] = { 1 }, other[32] = { 1 }, sid[8] = { 7 };
	int holder = -5;

	CHECK(w != NULL);
	CHECK_EQ(salt_window_check_add(w, salt, 32), 0);
	CHECK_EQ(salt_window_check_add(w, salt, 32), SS_ERR_REPLAY);
	other[31] = 1; /* one bit apart: no false positive */
	CHECK_EQ(salt_window_check_add(w, other, 32), 0);
	CHECK_EQ(salt_window_check_add(w, salt, 16), 0); /* a 16-byte salt is another salt */
	/* A session claimed by worker 2: others learn it is 2's; 2 renews it. */
	struct salt_claim cl = { .top = 5 }, cl2 = { .top = 5 };

	CHECK_EQ(salt_window_claim(w, sid, 8, 2, &holder, &cl), 0);
	CHECK_EQ(salt_window_claim(w, sid, 8, 0, &holder, &cl2), SS_ERR_REPLAY);
	CHECK_EQ(holder, 2);
	CHECK_EQ(salt_window_claim(w, sid, 8, 2, &holder, &cl2), SS_ERR_REPLAY);
	CHECK_EQ(holder, 2);
	salt_window_set_top(w, &cl, 40);
	/* Thousands of salts: none is taken for another. */
	for (unsigned i = 0; i < 20000; i++) {
		uint8_t s[16] = { 0 };

		memcpy(s + 4, &i, sizeof(i));
		CHECK_EQ(salt_window_check_add(w, s, 16), 0);
	}
	/*
	 * A restart: the same memory attached again (as its file is). Salts stay
	 * replays; the session is taken over only by a packet newer than any the
	 * earlier process accepted, and then with that floor.
	 */
	struct salt_window *w2;
	const char *why = NULL;

	CHECK_EQ(salt_window_attach(&w2, w, &why), 1);
	CHECK(why == NULL);
	CHECK_EQ(salt_window_check_add(w2, salt, 32), SS_ERR_REPLAY);
	cl2 = (struct salt_claim){ .top = 40 };
	CHECK_EQ(salt_window_claim(w2, sid, 8, 1, &holder, &cl2), SS_ERR_REPLAY);
	CHECK_EQ(holder, -1);
	cl2 = (struct salt_claim){ .top = 41 };
	CHECK_EQ(salt_window_claim(w2, sid, 8, 1, &holder, &cl2), 1);
	CHECK_EQ(cl2.floor, 40);
	CHECK_EQ(salt_window_claim(w2, sid, 8, 0, &holder, &cl2), SS_ERR_REPLAY);
	CHECK_EQ(holder, 1);
	/* Something else in the memory: an empty window, with a reason. */
	memset(w2, 'x', 16);
	CHECK_EQ(salt_window_attach(&w2, w2, &why), 0);
	CHECK(why != NULL);
	CHECK_EQ(salt_window_check_add(w2, salt, 32), 0);
	salt_window_free(w2);
}
