// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * The local shortcut (container egress node): established TCP sockets whose
 * both ends are on this host go into sc_socks, keyed by their 4-tuple; the
 * sk_msg program then moves each sendmsg straight into the peer socket's
 * receive queue, skipping the loopback TCP stack.
 *
 * Safety: a socket's sending direction is decided once, at its first send,
 * and never changes while the peer lives: bytes that went over TCP are never
 * overtaken by redirected ones. A peer not in the map, or a redirect the
 * kernel refuses, means TCP. Only connections with one of the daemon's
 * sockets on one end are recorded: two applications' sockets keep TCP, so
 * none of their bytes wait in a queue that the daemon's exit would free.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "shortcut_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define SK_PASS 1

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SC_MAX_SOCKS);
	__type(key, struct sc_key);
	__type(value, __u64);
} sc_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_sock);
} sc_state SEC(".maps");

/*
 * The daemon's recorded sockets by key, with the bytes each received through
 * the shortcut (sk_msg cannot hold the peer socket itself). An LRU: an entry
 * that outlived its socket goes in time, and a new connection resets it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SC_MAX_SOCKS);
	__type(key, struct sc_key);
	__type(value, __u64);
} sc_own SEC(".maps");

/* The daemon's listening ports in its own network namespace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SC_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} sc_ports SEC(".maps");

/* Local ports of the daemon's connections to targets on this host, bound before connect. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SC_MAX_SOCKS);
	__type(key, __u32);
	__type(value, __u32);
} sc_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SC_T_N);
	__type(key, __u32);
	__type(value, __u64);
} sc_totals SEC(".maps");

/* Set by the daemon before attaching: its network namespace; 1 stops redirects. */
volatile __u64 own_netns;
volatile __u32 stopped;

static __always_inline void total_add(__u32 i, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sc_totals, &i);

	if (v)
		*v += n;
}

static __always_inline void ip_of(__u32 out[4], __u32 family, __u32 ip4, const __u32 *ip6)
{
	if (family == AF_INET) {
		out[0] = 0;
		out[1] = 0;
		out[2] = bpf_htonl(0xffff);
		out[3] = ip4;
	} else {
		out[0] = ip6[0];
		out[1] = ip6[1];
		out[2] = ip6[2];
		out[3] = ip6[3];
	}
}

/* remote_port of the contexts holds the port in network order (shifted on some kernels). */
static __always_inline __u32 port_of(__u32 raw)
{
	__u32 p = bpf_ntohl(raw);

	return p > 0xffff ? p >> 16 : p;
}

/* Loopback on either end, or the same address on both: a connection within this host. */
static __always_inline int is_local(const struct sc_key *k)
{
	__u32 v4 = k->rip[0] == 0 && k->rip[1] == 0 && k->rip[2] == bpf_htonl(0xffff);

	if (v4 && (bpf_ntohl(k->rip[3]) >> 24) == 127)
		return 1;
	if (!v4 && !k->rip[0] && !k->rip[1] && !k->rip[2] && k->rip[3] == bpf_htonl(1))
		return 1;
	return k->lip[0] == k->rip[0] && k->lip[1] == k->rip[1] && k->lip[2] == k->rip[2] &&
	       k->lip[3] == k->rip[3];
}

/*
 * Records skops' socket if it belongs to this daemon (accepted on one of its
 * listening ports) or, when given is set, if its peer does (an application
 * connected to a listening port, or a target the daemon connects to from a
 * port in sc_out). Other daemons with their own maps see other ports.
 */
static __always_inline int record(struct bpf_sock_ops *skops, int given)
{
	struct sc_key k = {};
	__u32 lip6[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			  skops->local_ip6[3] };
	__u32 rip6[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			  skops->remote_ip6[3] };
	struct bpf_sock *sk = skops->sk;
	struct sc_sock *st;
	__u32 lport, rport;
	int own;

	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 0;
	k.netns = bpf_get_netns_cookie(skops);
	if (k.netns != own_netns)
		return 0;
	ip_of(k.lip, skops->family, skops->local_ip4, lip6);
	ip_of(k.rip, skops->family, skops->remote_ip4, rip6);
	k.lport = lport = skops->local_port;
	k.rport = rport = port_of(skops->remote_port);
	if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && bpf_map_lookup_elem(&sc_ports, &lport))
		own = 1;
	else if (given &&
		 (bpf_map_lookup_elem(&sc_ports, &rport) || bpf_map_lookup_elem(&sc_out, &rport)))
		own = 0;
	else
		return 0;
	if (!sk || !is_local(&k))
		return 0;
	st = bpf_sk_storage_get(&sc_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	st->own = own;
	if (own) {
		__u64 zero = 0;

		bpf_map_update_elem(&sc_own, &k, &zero, BPF_ANY);
	}
	if (bpf_sock_hash_update(skops, &sc_socks, &k, BPF_NOEXIST) == 0)
		total_add(SC_T_RECORDED, 1);
	return 0;
}

/* Attached to the given cgroup: its processes' connections with this daemon. */
SEC("sockops")
int sc_record(struct bpf_sock_ops *skops)
{
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		record(skops, 1);
	return 1;
}

/* Attached to the daemon's own cgroup: connections accepted on its listening ports. */
SEC("sockops")
int sc_record_own(struct bpf_sock_ops *skops)
{
	if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		record(skops, 0);
	return 1;
}

/*
 * The peer's addresses from an sk_msg context. Each field is loaded on its
 * own (barrier_var): the verifier refuses a computed pointer into the context.
 */
static __always_inline void msg_peer_ips(struct sk_msg_md *msg, struct sc_key *k)
{
	__u32 r[4], l[4];

	if (msg->family == AF_INET) {
		r[3] = msg->remote_ip4;
		barrier_var(r[3]);
		l[3] = msg->local_ip4;
		barrier_var(l[3]);
		k->lip[2] = k->rip[2] = bpf_htonl(0xffff);
		k->lip[3] = r[3];
		k->rip[3] = l[3];
		return;
	}
	r[0] = msg->remote_ip6[0];
	barrier_var(r[0]);
	r[1] = msg->remote_ip6[1];
	barrier_var(r[1]);
	r[2] = msg->remote_ip6[2];
	barrier_var(r[2]);
	r[3] = msg->remote_ip6[3];
	barrier_var(r[3]);
	l[0] = msg->local_ip6[0];
	barrier_var(l[0]);
	l[1] = msg->local_ip6[1];
	barrier_var(l[1]);
	l[2] = msg->local_ip6[2];
	barrier_var(l[2]);
	l[3] = msg->local_ip6[3];
	barrier_var(l[3]);
	__builtin_memcpy(k->lip, r, sizeof(r));
	__builtin_memcpy(k->rip, l, sizeof(l));
}

SEC("sk_msg")
int sc_send(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	struct sc_sock *st;
	struct sc_key k = {};
	__u32 size = msg->size;
	__u64 *rx;

	if (!sk)
		return SK_PASS;
	st = bpf_sk_storage_get(&sc_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st || st->mode == SC_TCP || (stopped && st->mode == SC_UNDECIDED))
		goto tcp;
	/* The peer as it sees itself: this socket's key with the ends swapped. */
	k.netns = bpf_get_netns_cookie(msg);
	msg_peer_ips(msg, &k);
	k.lport = port_of(msg->remote_port);
	k.rport = msg->local_port;
	/* One end is the daemon's. */
	rx = bpf_map_lookup_elem(&sc_own, &k);
	if (!st->own && !rx)
		goto tcp;
	if (bpf_msg_redirect_hash(msg, &sc_socks, &k, BPF_F_INGRESS) != SK_PASS)
		goto tcp;
	st->mode = SC_SHORT;
	__sync_fetch_and_add(&st->tx, size);
	if (rx)
		__sync_fetch_and_add(rx, size);
	total_add(SC_T_BYTES, size);
	total_add(SC_T_MSGS, 1);
	return SK_PASS;
tcp:
	/* Once anything went over TCP, everything does. */
	if (st && st->mode == SC_UNDECIDED)
		st->mode = SC_TCP;
	total_add(SC_T_TCP, 1);
	return SK_PASS;
}
