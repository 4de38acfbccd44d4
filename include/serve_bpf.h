/* SPDX-License-Identifier: MIT */
#ifndef SS_SERVE_BPF_H
#define SS_SERVE_BPF_H

/* Shared by bpf/serve.bpf.c and its loader user/kernel/bpf_serve.c. */
#include "serve_bpf_limits.h"

#define SERVE_SOCKS (SERVE_ADDRS * SERVE_WORKERS * 2)
/* The socket map's key of one address's TCP (udp 0) or UDP socket in one worker. */
#define SERVE_SOCK_KEY(addr, worker, udp) ((((addr) * SERVE_WORKERS) + (worker)) * 2 + (udp))
#define SERVE_WILD_V4 0 /* serve_wild: the index + 1 of 0.0.0.0, or 0 */
#define SERVE_WILD_V6 1 /* ... of "::" */

/* A listen address: IPv4 as ::ffff:a.b.c.d. */
struct serve_addr {
	__u32 addr[4];
};

#endif
