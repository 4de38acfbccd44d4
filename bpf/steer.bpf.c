// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * Transparent-proxy steering for sslocal redir: an sk_lookup program on the
 * gateway's network namespace. A TCP connection or UDP datagram delivered
 * locally (policy routing sends the steered prefixes to a "local default"
 * table) whose destination is in a steered prefix, not in an excluded one,
 * and whose port is selected, goes to the redir socket for its protocol;
 * everything else takes the normal socket lookup.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_bpf.h"
#include "net_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Keys: STEER_SOCK_TCP, STEER_SOCK_UDP. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} redir_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STEER_TRIE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_key);
	__type(value, __u8);
} steer_to SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STEER_TRIE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_key);
	__type(value, __u8);
} exclude SEC(".maps");

/* One byte per destination port: 1 when steered. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} ports SEC(".maps");

/* Connections and datagrams handed to the redir sockets, per protocol. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} steered SEC(".maps");

SEC("sk_lookup")
int steer_lookup(struct bpf_sk_lookup *ctx)
{
	struct steer_key k = { .prefixlen = 128 };
	__u32 port = ctx->local_port, which;
	struct bpf_sock *sk;
	__u8 *on;
	__u64 *n;

	if (ctx->protocol == IPPROTO_TCP)
		which = STEER_SOCK_TCP;
	else if (ctx->protocol == IPPROTO_UDP)
		which = STEER_SOCK_UDP;
	else
		return SK_PASS;
	/*
	 * IPv4 as ::ffff:a.b.c.d, so one trie holds both families. Every field
	 * is read at its constant offset first (the verifier refuses a context
	 * pointer with a computed offset, which branches could compile to).
	 */
	__u32 family = ctx->family, ip4 = ctx->local_ip4;
	__u32 a0 = ctx->local_ip6[0], a1 = ctx->local_ip6[1];
	__u32 a2 = ctx->local_ip6[2], a3 = ctx->local_ip6[3];

	if (family == AF_INET) {
		k.addr[2] = bpf_htonl(0xffff);
		k.addr[3] = ip4;
	} else if (family == AF_INET6) {
		k.addr[0] = a0;
		k.addr[1] = a1;
		k.addr[2] = a2;
		k.addr[3] = a3;
	} else {
		return SK_PASS;
	}
	if (!bpf_map_lookup_elem(&steer_to, &k) || bpf_map_lookup_elem(&exclude, &k))
		return SK_PASS;
	on = bpf_map_lookup_elem(&ports, &port);
	if (!on || !*on)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&redir_socks, &which);
	if (!sk)
		return SK_PASS;
	if (!bpf_sk_assign(ctx, sk, 0)) {
		n = bpf_map_lookup_elem(&steered, &which);
		if (n)
			*n += 1;
	}
	bpf_sk_release(sk);
	return SK_PASS;
}
