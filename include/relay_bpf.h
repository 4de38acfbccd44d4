/* SPDX-License-Identifier: MIT */
#ifndef SS_RELAY_BPF_H
#define SS_RELAY_BPF_H

/* Shared by bpf/relay.bpf.c and user/bpf_relay.c. */

#define RELAY_MAX_SOCKS 65536

/* Value of the peers map, keyed by the source socket's cookie. */
struct relay_peer {
	__u64 peer;     /* cookie of the socket this one's bytes go to */
	__u64 bytes;    /* bytes redirected from this socket to the peer */
	__u64 base;     /* bytes already written into the peer's TCP stream at attach */
	__u64 limit;    /* most bytes allowed in flight between redirect and the peer's TCP */
	__u32 notified; /* the daemon was told this socket is over its limit */
	__u32 pad;
};
/* Ring buffer events: the __u64 cookie of a socket over its limit. */

#endif
