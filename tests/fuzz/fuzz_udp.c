// SPDX-License-Identifier: MIT
/* libFuzzer: the UDP packet opener and the address header after it. */
#include <assert.h>

#include "aead.h"
#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	static uint8_t out[70000];
	const struct ss_method *m;
	const char *why;
	uint8_t master[32];
	size_t olen, used;
	struct ss_addr a;

	if (!inited) {
		crypto_init();
		inited = 1;
	}
	if (size < 1)
		return 0;
	m = crypto_method_find(data[0] & 1 ? "aes-256-gcm" : "chacha20-ietf-poly1305", &why);
	crypto_master_key("test-pw", master, m->key_len);
	if (ss_udp_open(m, SS_BACKEND_AUTO, master, data + 1, size - 1, out, sizeof(out), &olen) ==
	    SS_OK) {
		assert(olen + ss_udp_overhead(m) == size - 1);
		addr_parse(out, olen, &a, &used);
	}
	return 0;
}
