// SPDX-License-Identifier: MIT
/* libFuzzer: the address header codec; a parsed header encodes back to itself. */
#include <assert.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ss_addr a;
	uint8_t out[SS_ADDR_MAX];
	char text[300];
	size_t used;
	int r = addr_parse(data, size, &a, &used);

	if (r != SS_OK)
		return 0;
	assert(used <= size && used <= SS_ADDR_MAX);
	int n = addr_encode(&a, out, sizeof(out));
	assert(n == (int)used && !memcmp(out, data, used));
	addr_str(&a, text, sizeof(text));
	return 0;
}
