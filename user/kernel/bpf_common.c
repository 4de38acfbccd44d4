// SPDX-License-Identifier: MIT
/* What the BPF loaders share: libbpf messages in the log, why a load failed, a map's entries. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

struct bpf_link *bpf_attach_here(struct bpf_program *prog, const char **why)
{
	int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), err;
	struct bpf_link *link;

	if (ns < 0) {
		*why = "cannot open /proc/self/ns/net";
		return NULL;
	}
	link = bpf_program__attach_netns(prog, ns);
	err = errno;
	close(ns);
	if (!link)
		*why = "cannot attach the sk_lookup program to this network namespace";
	errno = err;
	return link;
}
