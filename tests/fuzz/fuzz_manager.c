// SPDX-License-Identifier: MIT
/* libFuzzer: manager protocol datagrams (add, remove, list, ping, stat). */
#include <stdint.h>

#include "manager_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mgr_cmd c;
	char err[300];

	if (!mgr_cmd_parse((const char *)data, size, &c, err, sizeof(err)))
		mgr_cmd_free(&c);
	return 0;
}
