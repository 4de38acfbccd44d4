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
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "shortcut_bpf.h"
#include "net_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

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
 * Sockets that may receive through the shortcut (struct sc_rcv). An LRU: an
 * entry that outlived its socket goes in time, and a new connection on the
 * same 4-tuple starts it again.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SC_MAX_SOCKS);
	__type(key, struct sc_key);
	__type(value, struct sc_rcv);
} sc_rcv SEC(".maps");

/* The daemon's listening ports in its own network namespace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SC_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} sc_ports SEC(".maps");

/* Bytes the daemon has read from each of its sockets, by key; written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SC_MAX_SOCKS);
	__type(key, struct sc_key);
	__type(value, __u64);
} sc_ack SEC(".maps");

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

/*
 * Set by the daemon: its network namespace; the flow-control limit in bytes
 * (struct sc_rcv); stopped: new connections keep TCP (exit).
 */
volatile __u64 own_netns;
volatile __u64 limit;
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

/* skops' socket as its key; 0 if it is not TCP over IP in the daemon's namespace. */
static __always_inline int skops_key(struct bpf_sock_ops *skops, struct sc_key *k)
{
	__u32 lip6[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			  skops->local_ip6[3] };
	__u32 rip6[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			  skops->remote_ip6[3] };

	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 0;
	k->netns = bpf_get_netns_cookie(skops);
	if (k->netns != own_netns)
		return 0;
	ip_of(k->lip, skops->family, skops->local_ip4, lip6);
	ip_of(k->rip, skops->family, skops->remote_ip4, rip6);
	k->lport = skops->local_port;
	k->rport = port_of(skops->remote_port);
	return 1;
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
	struct bpf_sock *sk = skops->sk;
	struct sc_sock *st;
	__u32 lport, rport;
	int own;

	if (!skops_key(skops, &k))
		return 0;
	lport = k.lport;
	rport = k.rport;
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
		struct sc_rcv r = { .own = own };

		/* A new connection on an old 4-tuple starts from zero. */
		bpf_map_delete_elem(&sc_ack, &k);
		bpf_map_update_elem(&sc_rcv, &k, &r, BPF_ANY);
	} else {
		/* To leave the map when the application shuts its side (below). */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					  BPF_SOCK_OPS_STATE_CB_FLAG);
	}
	if (bpf_sock_hash_update(skops, &sc_socks, &k, BPF_NOEXIST) == 0)
		total_add(SC_T_RECORDED, 1);
	return 0;
}

/*
 * An application's socket leaves the map when it sends its FIN. In the map,
 * the kernel's sockmap receive path (tcp_bpf_recvmsg) wakes a reader blocked
 * in recv when the FIN is acknowledged and returns EAGAIN to it, blocking
 * socket or not; plain TCP waits for the data. Its queue is always empty
 * (nothing is redirected into applications), so nothing is lost, and it
 * sends nothing more.
 */
static __always_inline void leave_on_fin(struct bpf_sock_ops *skops)
{
	struct sc_key k = {};

	if (skops->args[1] == BPF_TCP_FIN_WAIT1 && skops_key(skops, &k))
		bpf_map_delete_elem(&sc_socks, &k);
}

/* Attached to the given cgroup: its processes' connections with this daemon. */
SEC("sockops")
int sc_record(struct bpf_sock_ops *skops)
{
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		record(skops, 1);
	else if (skops->op == BPF_SOCK_OPS_STATE_CB)
		leave_on_fin(skops);
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
	struct sc_rcv *r;
	__u32 size = msg->size;
	__u64 *ack, read, unread;

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
	/*
	 * Only into the daemon's own sockets, which it reads with recv: an
	 * application reading with splice(2) would never see bytes put in its
	 * socket's queue (tcp_splice_read reads TCP's queue alone), nor would
	 * FIONREAD count them, and no one could tell how much of it the
	 * application has read (flow control). So an application's queue stays
	 * empty, and its socket can leave the map at any time without loss.
	 */
	r = bpf_map_lookup_elem(&sc_rcv, &k);
	if (!r || !r->own)
		goto tcp;
	if (st->mode == SC_UNDECIDED)
		st->mode = SC_SHORT;
	/* From here on this direction belongs to the shortcut: paused, it still counts. */
	ack = bpf_map_lookup_elem(&sc_ack, &k);
	read = ack ? *ack : 0;
	if (r->paused) {
		if (read < r->redirected + r->tcp_sent)
			goto paused;
		r->paused = 0;
	}
	/* What the receiver read counts its TCP bytes too. */
	unread = r->redirected - (read > r->tcp_sent ? read - r->tcp_sent : 0);
	if ((__s64)unread + size > (__s64)limit) {
		r->tcp_at_pause = r->tcp_sent;
		r->paused = 1;
		total_add(SC_T_PAUSED, 1);
		goto paused;
	}
	if (bpf_msg_redirect_hash(msg, &sc_socks, &k, BPF_F_INGRESS) != SK_PASS)
		goto paused;
	__sync_fetch_and_add(&st->tx, size);
	__sync_fetch_and_add(&r->redirected, size);
	total_add(SC_T_BYTES, size);
	total_add(SC_T_MSGS, 1);
	return SK_PASS;
paused:
	__sync_fetch_and_add(&r->tcp_sent, size);
	total_add(SC_T_TCP, 1);
	return SK_PASS;
tcp:
	/* Once anything went over TCP outside the shortcut's count, everything does. */
	if (st && st->mode == SC_UNDECIDED)
		st->mode = SC_TCP;
	total_add(SC_T_TCP, 1);
	return SK_PASS;
}
