// SPDX-License-Identifier: MIT
/* TCP stream encoder/decoder and UDP packets: round trips and bad input. */
#include "aead.h"
#include "test.h"

#define MAX_PT (1 << 20)

static unsigned char master[32];

static const struct ss_method *method(size_t i)
{
	return crypto_method_at(i);
}

/* Encodes pt in random slices, returns the ciphertext length. */
static size_t encode(struct ss_enc *e, unsigned long long *s, const unsigned char *pt,
		     size_t n, unsigned char *ct)
{
	size_t o = 0, i = 0;

	while (i < n || o == 0) {
		size_t r = (size_t)(prng(s) % 70000) + 1, k = MIN(n - i, r), got;

		if (ss_enc_feed(e, pt + i, k, ct + o, &got))
			return 0;
		if (got > ss_enc_bound(e, k) + e->c.m->key_len)
			return 0;
		o += got;
		i += k;
		if (n == 0)
			break;
	}
	return o;
}

/* Feeds ct in random fragments (sometimes single bytes); returns result. */
static int decode(struct ss_dec *d, unsigned long long *s, unsigned char *ct, size_t n,
		  unsigned char *out, size_t *out_len, int tiny)
{
	size_t i = 0;

	*out_len = 0;
	while (i < n) {
		size_t r = (size_t)(prng(s) % 40000) + 1, k = tiny ? 1 : MIN(n - i, r), used;
		int rc = ss_dec_feed(d, ct + i, k, &used, out, MAX_PT, out_len);

		if (rc)
			return rc;
		if (used != k)
			return SS_ERR_SPACE;
		i += k;
	}
	return ss_dec_finish(d);
}

TEST(stream_round_trip_every_method_random_fragments)
{
	unsigned long long s = 0x1234567;
	unsigned char *pt = malloc(MAX_PT), *ct = malloc(MAX_PT + MAX_PT / 8),
		      *out = malloc(MAX_PT);
	static const size_t sizes[] = { 0, 1, 2, SS_MAX_PAYLOAD - 1, SS_MAX_PAYLOAD,
					SS_MAX_PAYLOAD + 1, 100000, MAX_PT };

	prng_fill(&s, master, sizeof(master));
	for (size_t mi = 0; method(mi); mi++) {
		const struct ss_method *m = method(mi);

		for (size_t si = 0; si < ARRAY_SIZE(sizes) + 4; si++) {
			size_t n = si < ARRAY_SIZE(sizes) ? sizes[si] : prng(&s) % MAX_PT;
			struct ss_enc e;
			struct ss_dec d;
			size_t nct, got;

			prng_fill(&s, pt, n);
			CHECK_EQ(ss_enc_init(&e, m, SS_BACKEND_AUTO, master, NULL), 0);
			CHECK_EQ(ss_dec_init(&d, m, SS_BACKEND_AUTO, master), 0);
			nct = encode(&e, &s, pt, n, ct);
			CHECK(m->id == SS_M_NONE ? nct == n : nct > n);
			CHECK_EQ(decode(&d, &s, ct, nct, out, &got, 0), SS_OK);
			CHECK_EQ(got, n);
			CHECK(memcmp(out, pt, n) == 0);
			ss_enc_free(&e);
			ss_dec_free(&d);
		}
	}
	free(pt);
	free(ct);
	free(out);
}

TEST(stream_one_byte_at_a_time_and_in_place)
{
	unsigned long long s = 99;
	unsigned char pt[40000], ct[41000], out[40000];

	prng_fill(&s, master, sizeof(master));
	for (size_t mi = 0; method(mi); mi++) {
		struct ss_enc e;
		struct ss_dec d;
		size_t nct, got = 0, used;

		prng_fill(&s, pt, sizeof(pt));
		ss_enc_init(&e, method(mi), SS_BACKEND_AUTO, master, NULL);
		ss_dec_init(&d, method(mi), SS_BACKEND_AUTO, master);
		nct = encode(&e, &s, pt, sizeof(pt), ct);
		CHECK_EQ(decode(&d, &s, ct, nct, out, &got, 1), SS_OK);
		CHECK_EQ(got, sizeof(pt));
		CHECK(memcmp(out, pt, sizeof(pt)) == 0);
		ss_dec_free(&d);
		/* Whole buffer at once, plaintext written over the ciphertext. */
		ss_dec_init(&d, method(mi), SS_BACKEND_AUTO, master);
		got = 0;
		CHECK_EQ(ss_dec_feed(&d, ct, nct, &used, ct, sizeof(ct), &got), SS_OK);
		CHECK_EQ(used, nct);
		CHECK_EQ(got, sizeof(pt));
		CHECK(memcmp(ct, pt, sizeof(pt)) == 0);
		ss_dec_free(&d);
		ss_enc_free(&e);
	}
}

TEST(stream_output_space_limits_progress)
{
	const struct ss_method *m = crypto_method_find("aes-128-gcm", &(const char *){ 0 });
	unsigned char pt[3 * SS_MAX_PAYLOAD], ct[sizeof(pt) + 200], out[sizeof(pt)];
	struct ss_enc e;
	struct ss_dec d;
	size_t nct, used, got = 0;

	memset(pt, 7, sizeof(pt));
	ss_enc_init(&e, m, SS_BACKEND_AUTO, master, NULL);
	ss_dec_init(&d, m, SS_BACKEND_AUTO, master);
	ss_enc_feed(&e, pt, sizeof(pt), ct, &nct);
	CHECK_EQ(ss_dec_feed(&d, ct, nct, &used, out, SS_MAX_PAYLOAD, &got), SS_OK);
	CHECK_EQ(got, SS_MAX_PAYLOAD); /* one chunk fits, the rest waits */
	CHECK(used < nct);
	size_t used2;
	CHECK_EQ(ss_dec_feed(&d, ct + used, nct - used, &used2, out, sizeof(out), &got), SS_OK);
	CHECK_EQ(used + used2, nct);
	CHECK_EQ(got, sizeof(pt));
	/* A partial chunk is taken whole even when out is nearly full. */
	ss_dec_free(&d);
	ss_dec_init(&d, m, SS_BACKEND_AUTO, master);
	got = 0;
	size_t first = m->key_len + SS_MAX_PAYLOAD + SS_CHUNK_OVERHEAD + 100;
	CHECK_EQ(ss_dec_feed(&d, ct, first, &used, out, SS_MAX_PAYLOAD + 10, &got), SS_OK);
	CHECK_EQ(used, first);
	CHECK_EQ(got, SS_MAX_PAYLOAD);
	CHECK_EQ(ss_dec_feed(&d, ct + first, nct - first, &used2, out, sizeof(out), &got), SS_OK);
	CHECK_EQ(first + used2, nct);
	CHECK_EQ(got, sizeof(pt));
	CHECK(memcmp(out, pt, sizeof(pt)) == 0);
	CHECK_EQ(ss_enc_fit(&e, SS_MAX_PAYLOAD + SS_CHUNK_OVERHEAD), SS_MAX_PAYLOAD);
	CHECK_EQ(ss_enc_fit(&e, SS_CHUNK_OVERHEAD), 0);
	ss_enc_free(&e);
	ss_dec_free(&d);
}

TEST(stream_tamper_any_byte_detected)
{
	unsigned long long s = 7;
	unsigned char pt[300], ct[600], tmp[600], out[600];

	prng_fill(&s, master, sizeof(master));
	for (size_t mi = 1; method(mi); mi++) {
		const struct ss_method *m = method(mi);
		struct ss_enc e;
		size_t nct;

		prng_fill(&s, pt, sizeof(pt));
		ss_enc_init(&e, m, SS_BACKEND_AUTO, master, NULL);
		ss_enc_feed(&e, pt, sizeof(pt), ct, &nct);
		ss_enc_free(&e);
		for (size_t i = 0; i < nct; i++) {
			struct ss_dec d;
			size_t got = 0, used;
			int r;

			memcpy(tmp, ct, nct);
			tmp[i] ^= 0x40;
			ss_dec_init(&d, m, SS_BACKEND_AUTO, master);
			r = ss_dec_feed(&d, tmp, nct, &used, out, sizeof(out), &got);
			/* A flipped salt, length or payload byte never yields plaintext. */
			CHECK(r == SS_ERR_TAG);
			CHECK_EQ(got, 0);
			/* The error is sticky. */
			CHECK_EQ(ss_dec_feed(&d, tmp, 1, &used, out, sizeof(out), &got), SS_ERR_TAG);
			ss_dec_free(&d);
		}
	}
}

TEST(stream_truncation_and_wrong_key)
{
	unsigned long long s = 11;
	unsigned char pt[20000], ct[21000], out[21000], other[32];

	prng_fill(&s, master, sizeof(master));
	prng_fill(&s, other, sizeof(other));
	for (size_t mi = 1; method(mi); mi++) {
		const struct ss_method *m = method(mi);
		struct ss_enc e;
		struct ss_dec d;
		size_t nct, got, used;

		prng_fill(&s, pt, sizeof(pt));
		ss_enc_init(&e, m, SS_BACKEND_AUTO, master, NULL);
		ss_enc_feed(&e, pt, sizeof(pt), ct, &nct);
		ss_enc_free(&e);
		/* A cut inside the salt or inside any unit after it is truncation. */
		size_t cuts[] = { 1, m->key_len - 1, m->key_len + 1, m->key_len + SS_LEN_UNIT,
				  m->key_len + SS_LEN_UNIT + 5, nct - 1 };
		for (size_t c = 0; c < ARRAY_SIZE(cuts); c++) {
			ss_dec_init(&d, m, SS_BACKEND_AUTO, master);
			got = 0;
			CHECK_EQ(ss_dec_feed(&d, ct, cuts[c], &used, out, sizeof(out), &got), SS_OK);
			CHECK_EQ(ss_dec_finish(&d), SS_ERR_TRUNC);
			ss_dec_free(&d);
		}
		/* Wrong key: the very first length block fails. */
		ss_dec_init(&d, m, SS_BACKEND_AUTO, other);
		got = 0;
		CHECK_EQ(ss_dec_feed(&d, ct, m->key_len + SS_LEN_UNIT, &used, out, sizeof(out),
				     &got),
			 SS_ERR_TAG);
		CHECK_EQ(d.chunks, 0);
		ss_dec_free(&d);
	}
}

/* A length block that authenticates but carries a bad length. */
TEST(stream_bad_length_rejected)
{
	const struct ss_method *m = crypto_method_find("chacha20-ietf-poly1305",
						       &(const char *){ 0 });
	static const unsigned lens[] = { 0, 0x4000, 0xffff, 0x8001 };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		unsigned char salt[32] = { 1 }, subkey[32], buf[64], out[64];
		unsigned char be[2] = { (unsigned char)(lens[i] >> 8), (unsigned char)lens[i] };
		struct ss_cipher c;
		struct ss_dec d;
		size_t used, got = 0;

		crypto_subkey(m, master, salt, subkey);
		cipher_init(&c, m, SS_BACKEND_AUTO, subkey);
		memcpy(buf, salt, 32);
		cipher_seal(&c, buf + 32, be, 2);
		cipher_free(&c);
		ss_dec_init(&d, m, SS_BACKEND_AUTO, master);
		CHECK_EQ(ss_dec_feed(&d, buf, 32 + SS_LEN_UNIT, &used, out, sizeof(out), &got),
			 SS_ERR_LEN);
		ss_dec_free(&d);
	}
}

TEST(udp_seal_open_every_method)
{
	unsigned long long s = 5;
	unsigned char pt[1500], pkt[1600], out[1600], other[32];

	prng_fill(&s, master, sizeof(master));
	prng_fill(&s, other, sizeof(other));
	for (size_t mi = 0; method(mi); mi++) {
		const struct ss_method *m = method(mi);
		size_t n = prng(&s) % sizeof(pt), np, got;
		unsigned char pkt2[1600];
		size_t np2;

		prng_fill(&s, pt, n);
		CHECK_EQ(ss_udp_seal(m, SS_BACKEND_AUTO, master, pt, n, pkt, sizeof(pkt), &np), 0);
		CHECK_EQ(np, n + ss_udp_overhead(m));
		CHECK_EQ(ss_udp_open(m, SS_BACKEND_AUTO, master, pkt, np, out, sizeof(out), &got),
			 SS_OK);
		CHECK_EQ(got, n);
		CHECK(memcmp(out, pt, n) == 0);
		if (m->id == SS_M_NONE)
			continue;
		/* Fresh salt per packet. */
		ss_udp_seal(m, SS_BACKEND_AUTO, master, pt, n, pkt2, sizeof(pkt2), &np2);
		CHECK(memcmp(pkt, pkt2, m->key_len) != 0);
		CHECK_EQ(ss_udp_open(m, SS_BACKEND_AUTO, other, pkt, np, out, sizeof(out), &got),
			 SS_ERR_TAG);
		pkt[np - 1] ^= 1;
		CHECK_EQ(ss_udp_open(m, SS_BACKEND_AUTO, master, pkt, np, out, sizeof(out), &got),
			 SS_ERR_TAG);
		CHECK_EQ(ss_udp_open(m, SS_BACKEND_AUTO, master, pkt, m->key_len + 3, out,
				     sizeof(out), &got),
			 SS_ERR_TRUNC);
	}
}
