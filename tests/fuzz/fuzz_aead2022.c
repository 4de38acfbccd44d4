// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the SIP022 TCP decoders (request for ssserver, response for
 * sslocal). Random ciphertext never authenticates, so the harness seals what
 * the fuzzer chooses under the right subkey: the header type and timestamp,
 * the variable header (address, padding length, padding, payload) or the
 * response's request salt, then appends raw fuzzer bytes, and feeds it all in
 * fuzzer-chosen splits after the one-read header.
 * Input: [mode][type][skew][len lo][len hi] body...
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "aead2022.h"

static const char *const names[] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
				     "2022-blake3-chacha20-poly1305", "2022-blake3-aes-256-gcm" };

/* salt | seal(type, time, [req salt], len) | seal(body[0..len)) | raw rest. */
static size_t build(const struct ss_method *m, const uint8_t *psk, const uint8_t *in, size_t size,
		    bool response, const uint8_t *req_salt, uint8_t *ct)
{
	uint8_t subkey[32], hdr[11 + 32];
	size_t kl = m->key_len, hl = 11 + (response ? kl : 0), len = in[3] | (size_t)in[4] << 8, o;
	uint64_t t = (uint64_t)(time(NULL) + (int8_t)in[2]);
	struct ss_cipher c;

	in += 5;
	size -= 5;
	len = len > size ? size : len;
	memset(ct, 0xa5, kl);
	crypto_subkey(m, psk, ct, subkey);
	cipher_init(&c, m, SS_BACKEND_AUTO, subkey);
	hdr[0] = in[-4];
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)(t >> (56 - 8 * i));
	if (response)
		memcpy(hdr + 9, (in[-5] & 8) ? psk : req_salt, kl);
	hdr[hl - 2] = (uint8_t)(len >> 8);
	hdr[hl - 1] = (uint8_t)len;
	cipher_seal(&c, ct + kl, hdr, hl);
	o = kl + hl + SS_TAG;
	cipher_seal(&c, ct + o, in, len);
	o += len + SS_TAG;
	memcpy(ct + o, in + len, size - len);
	cipher_free(&c);
	return o + size - len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 18], ct[1 << 18];
	static const uint8_t psk[32] = { 22 }, req_salt[32] = { 7, 7, 7 };
	static int inited;
	const struct ss_method *m;
	const char *why;
	struct s22_dec d;
	bool response;
	size_t n, pos = 0, got = 0, total = 0, step, first;

	if (!inited) {
		crypto_init();
		inited = 1;
	}
	if (size < 5 || size > sizeof(ct) - 200)
		return 0;
	m = crypto_method_find(names[(data[0] >> 1) & 3], &why);
	response = data[0] & 1;
	step = (data[0] >> 4) * 97 + 1;
	n = build(m, psk, data, size, response, req_salt, ct);
	s22_dec_init(&d, m, psk);
	if (response)
		s22_dec_expect_response(&d, req_salt);
	first = m->key_len + 11 + (response ? m->key_len : 0) + SS_TAG;
	while (pos < n) {
		size_t k = pos ? (n - pos < step ? n - pos : step) : first, used;
		int r = s22_dec_feed(&d, ct + pos, k, &used, out, sizeof(out), &got);

		assert(used <= k);
		if (r)
			break;
		pos += used;
	}
	total = got;
	/* Plaintext never exceeds the input; a request's starts with its target. */
	assert(total <= n);
	if (!response && total && !d.ch.err) {
		struct ss_addr a;
		size_t used;

		assert(addr_parse(out, total, &a, &used) == SS_OK);
	}
	s22_dec_finish(&d);
	s22_dec_free(&d);
	return 0;
}
