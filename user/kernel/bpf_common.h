/* SPDX-License-Identifier: MIT */
#ifndef SS_BPF_COMMON_H
#define SS_BPF_COMMON_H

#include <stddef.h>

/* What the BPF loaders (user/bpf_*.c) share. */

/* Sends libbpf's messages to the daemon's log at debug level; call before loading. */
void bpf_log_via_daemon(void);
/*
 * Why a skeleton did not load (err: -errno): missing privileges for -EPERM,
 * else the kernel's refusal, `refused`.
 */
const char *bpf_load_failed(int err, const char *refused);
struct bpf_program;
struct bpf_link;
/*
 * An sk_lookup program attached to this process's network namespace: its
 * link, or NULL with *why set and errno kept.
 */
struct bpf_link *bpf_attach_here(struct bpf_program *prog, const char **why);
/* Entries now in the hash-type map fd, whose keys are key_size bytes (at most 64). */
unsigned bpf_map_entries(int fd, size_t key_size);

#endif
