// SPDX-License-Identifier: MIT
/* libFuzzer: manager protocol datagrams (add, remove, list, ping, stat). */
#include <stdint.h>

#include "manager_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mgr_cmd c;
	const char *err = "";

	if (!mgr_cmd_parse((const char *)data, size, &c, &err))
		mgr_cmd_free(&c);
	return 0;
}
