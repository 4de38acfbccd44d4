// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the AEAD TCP decoder fed attacker-chosen ciphertext for a fixed
 * key ("test-pw"), split at fuzzer-chosen points. The first input byte picks
 * the method and the split pattern.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"

static const char *const methods[] = { "chacha20-ietf-poly1305", "aes-128-gcm",
				       "xchacha20-ietf-poly1305", "none" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	static uint8_t out[1 << 17];
	const struct ss_method *m;
	const char *why;
	struct ss_dec d;
	uint8_t master[32], *buf;
	size_t pos = 0, got = 0, total = 0;

	if (!inited) {
		crypto_init();
		inited = 1;
	}
	if (size < 1)
		return 0;
	m = crypto_method_find(methods[data[0] & 3], &why);
	unsigned step = (data[0] >> 2) + 1;
	data++;
	size--;
	crypto_master_key("test-pw", master, m->key_len);
	/* A private copy: the decoder decrypts whole chunks in place. */
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	ss_dec_init(&d, m, SS_BACKEND_AUTO, master);
	while (pos < size) {
		size_t n = size - pos < step ? size - pos : step, used;
		int r = ss_dec_feed(&d, buf + pos, n, &used, out, sizeof(out), &got);

		assert(used <= n);
		total += got;
		got = 0;
		if (r)
			break;
		pos += used;
	}
	/* Plaintext never exceeds the input. */
	assert(total <= size);
	ss_dec_finish(&d);
	ss_dec_free(&d);
	free(buf);
	return 0;
}
