/* SPDX-License-Identifier: MIT */
#ifndef SS_STEER_BPF_H
#define SS_STEER_BPF_H

/* Shared by bpf/steer.bpf.c and its loader user/bpf_steer.c. */
#define STEER_SOCK_TCP 0
#define STEER_SOCK_UDP 1
#define STEER_TRIE_MAX (1 << 21) /* STEER_LIST_MAX; not preallocated */

/* An LPM trie key: IPv4 is stored as ::ffff:a.b.c.d (prefix length + 96). */
struct steer_key {
	__u32 prefixlen;
	__u32 addr[4];
};

#endif
