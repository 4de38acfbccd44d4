// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * STREAM-stage sockmap tier: each relayed socket's ingress goes straight to
 * its peer's egress. A stream parser is attached (on this kernel a
 * verdict-only program lost or stalled data); it takes every
 * skb whole. Redirect targets live in sock_park, which has no programs, so a
 * socket is a valid target before its own traffic is intercepted through
 * sock_run; the daemon fills park first, then run.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "relay_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, RELAY_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} sock_park SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, RELAY_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} sock_run SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RELAY_MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct relay_peer);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/*
 * Bytes the peer's TCP stream has taken: bytes_acked + (write_seq - snd_una),
 * the same count as tcpi_bytes_acked + SIOCOUTQ in userspace.
 */
static __always_inline int peer_written(__u64 peer, __u64 *out)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&sock_park, &peer);
	struct tcp_sock *tp;
	int ok = 0;

	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		*out = BPF_CORE_READ(tp, bytes_acked) +
		       (__u32)(BPF_CORE_READ(tp, write_seq) - BPF_CORE_READ(tp, snd_una));
		ok = 1;
	}
	bpf_sk_release(sk);
	return ok;
}

SEC("sk_skb/stream_parser")
int prog_parser(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int prog_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct relay_peer *p;

	/* The zero-length skb that carries FIN stays with its socket. */
	if (skb->len == 0)
		return SK_PASS;
	p = bpf_map_lookup_elem(&peers, &cookie);
	if (!p)
		return SK_PASS;
	/*
	 * Flow control: the sockmap redirect never pushes back, so once more
	 * than limit bytes wait between here and the peer's TCP stream, tell the
	 * daemon (once). It stops interception of the pair, so TCP's windows
	 * hold the senders back, and moves the pair to userspace once the
	 * kernel queues have drained. Bytes are never passed up here: that
	 * would reorder the stream.
	 */
	__u64 written;
	if (p->limit && !p->notified && peer_written(p->peer, &written) &&
	    p->bytes + skb->len > written - p->base + p->limit) {
		p->notified = 1;
		bpf_ringbuf_output(&events, &cookie, sizeof(cookie), 0);
	}
	__sync_fetch_and_add(&p->bytes, skb->len);
	return bpf_sk_redirect_hash(skb, &sock_park, &p->peer, 0);
}
