// SPDX-License-Identifier: MIT
/* libFuzzer: the SOCKS5 greeting, RFC 1929 and request parsers. */
#include <assert.h>
#include <string.h>

#include "socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[256], pass[256];
	struct ss_addr a;
	uint8_t method, cmd, out[SS_ADDR_MAX + 8];
	size_t used;

	if (socks5_parse_greeting(data, size, size & 1, &method, &used) == SS_OK)
		assert(used <= size && used >= 2);
	if (socks5_parse_auth(data, size, user, pass, &used) == SS_OK)
		assert(used <= size && strlen(user) < 256 && strlen(pass) < 256);
	if (socks5_parse_request(data, size, &cmd, &a, &used) == SS_OK) {
		assert(used <= size);
		assert(socks5_reply(out, 0, &a) <= sizeof(out));
	}
	return 0;
}
