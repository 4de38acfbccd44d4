// SPDX-License-Identifier: MIT
/* libFuzzer: the JSON configuration reader and the ss:// URI parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip002.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ss_config c;
	const char *err = "";
	char *text;

	if (size < 1)
		return 0;
	memset(&c, 0, sizeof(c));
	c.prog = data[0] & 1 ? PROG_LOCAL : PROG_SERVER;
	if (data[0] & 2) {
		text = malloc(size);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = 0;
		sip002_apply(&c, text, &err);
		free(text);
	} else {
		config_apply_json(&c, (const char *)data + 1, size - 1, &err);
	}
	config_free(&c);
	return 0;
}
