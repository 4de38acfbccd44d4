// SPDX-License-Identifier: MIT
/* What the BPF loaders share: libbpf messages in the log, why a load failed, a map's entries. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_common.h"
#include "log.h"

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level == LIBBPF_DEBUG || !log_enabled(LOG_DEBUG))
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	log_debug("libbpf: %s", line);
	return 0;
}

void bpf_log_via_daemon(void)
{
	libbpf_set_print(libbpf_log);
}

const char *bpf_load_failed(int err, const char *refused)
{
	return err == -EPERM ? "loading BPF needs CAP_BPF and CAP_NET_ADMIN (run as root)" : refused;
}

unsigned bpf_map_entries(int fd, size_t key_size)
{
	uint8_t key[64], next[64];
	unsigned n = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return 0;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}
