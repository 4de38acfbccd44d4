// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * ssserver --bpf: every configured port from one socket per listen address,
 * protocol and worker. An sk_lookup program on the server's network
 * namespace takes a TCP connection or UDP datagram whose destination port is
 * served on its destination address (the address itself, else the wildcard
 * of its family, else "::") and hands it to that address's socket in one
 * worker, chosen by the client's address and port so that a client's flow
 * stays with one worker. Everything else takes the normal socket lookup.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "serve_bpf.h"
#include "net_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, SERVE_SOCKS);
	__type(key, __u32);
	__type(value, __u64);
} serve_socks SEC(".maps");

/* A specific listen address: its index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SERVE_ADDRS);
	__type(key, struct serve_addr);
	__type(value, __u32);
} serve_addrs SEC(".maps");

/* SERVE_WILD_V4, SERVE_WILD_V6: the wildcard's index + 1, or 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} serve_wild SEC(".maps");

/* Per port: a bit per listen address it is served on. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} serve_ports SEC(".maps");

/* [0]: the number of workers. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} serve_conf SEC(".maps");

/* Connections and datagrams handed over, per protocol (0 TCP, 1 UDP). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} served SEC(".maps");

/* The address index + 1 that serves this port for the destination, or 0. */
static __always_inline __u32 addr_for(struct serve_addr *a, bool v4, __u32 mask)
{
	__u32 *ix = bpf_map_lookup_elem(&serve_addrs, a), k;

	if (ix && *ix < SERVE_ADDRS && (mask & (1u << *ix)))
		return *ix + 1;
	k = SERVE_WILD_V4;
	ix = v4 ? bpf_map_lookup_elem(&serve_wild, &k) : NULL;
	if (ix && *ix && *ix <= SERVE_ADDRS && (mask & (1u << (*ix - 1))))
		return *ix;
	k = SERVE_WILD_V6;
	ix = bpf_map_lookup_elem(&serve_wild, &k);
	if (ix && *ix && *ix <= SERVE_ADDRS && (mask & (1u << (*ix - 1))))
		return *ix;
	return 0;
}

SEC("sk_lookup")
int serve_lookup(struct bpf_sk_lookup *ctx)
{
	struct serve_addr a = {};
	__u32 port = ctx->local_port, udp, zero = 0, ai, nw, h, *mask, *conf;
	struct bpf_sock *sk;
	__u64 *n;

	if (ctx->protocol == IPPROTO_TCP)
		udp = 0;
	else if (ctx->protocol == IPPROTO_UDP)
		udp = 1;
	else
		return SK_PASS;
	/* Every field at its constant offset first (see steer.bpf.c). */
	__u32 family = ctx->family, ip4 = ctx->local_ip4, rip4 = ctx->remote_ip4;
	__u32 a0 = ctx->local_ip6[0], a1 = ctx->local_ip6[1];
	__u32 a2 = ctx->local_ip6[2], a3 = ctx->local_ip6[3];
	__u32 r3 = ctx->remote_ip6[3], rport = ctx->remote_port;

	mask = bpf_map_lookup_elem(&serve_ports, &port);
	if (!mask || !*mask)
		return SK_PASS;
	if (family == AF_INET) {
		a.addr[2] = bpf_htonl(0xffff);
		a.addr[3] = ip4;
		h = rip4;
	} else if (family == AF_INET6) {
		a.addr[0] = a0;
		a.addr[1] = a1;
		a.addr[2] = a2;
		a.addr[3] = a3;
		h = r3;
	} else {
		return SK_PASS;
	}
	ai = addr_for(&a, family == AF_INET, *mask);
	conf = bpf_map_lookup_elem(&serve_conf, &zero);
	if (!ai || !conf)
		return SK_PASS;
	nw = *conf;
	if (!nw || nw > SERVE_WORKERS)
		return SK_PASS;
	h = (h ^ (rport << 16) ^ port) * 2654435761u;
	for (__u32 i = 0; i < SERVE_WORKERS; i++) {
		__u32 key;
		long r;

		if (i >= nw)
			break;
		key = SERVE_SOCK_KEY(ai - 1, ((h >> 16) + i) % nw, udp);
		sk = bpf_map_lookup_elem(&serve_socks, &key);
		if (!sk)
			continue;
		r = bpf_sk_assign(ctx, sk, 0);
		bpf_sk_release(sk);
		if (r)
			continue;
		n = bpf_map_lookup_elem(&served, &udp);
		if (n)
			*n += 1;
		return SK_PASS;
	}
	return SK_PASS;
}
