/* SPDX-License-Identifier: MIT */
#ifndef SS_SHORTCUT_BPF_H
#define SS_SHORTCUT_BPF_H

/* Shared by bpf/shortcut.bpf.c and user/bpf_shortcut.c. */

#define SC_MAX_SOCKS 65536
#define SC_MAX_PORTS 1024

/*
 * Key of the sockhash: one end of a TCP connection as that end sees it.
 * Addresses are IPv6, IPv4 as ::ffff:a.b.c.d, in network byte order; ports
 * in host byte order. The peer's key is this one with the ends swapped.
 */
struct sc_key {
	__u64 netns;     /* network namespace cookie */
	__u32 lip[4];
	__u32 rip[4];
	__u32 lport;
	__u32 rport;
};

/* Per-socket state (socket local storage), created on its first send. */
enum sc_mode {
	SC_UNDECIDED = 0, /* nothing sent yet */
	SC_SHORT = 1,     /* the first bytes went to the peer's queue: all do */
	SC_TCP = 2,       /* the first bytes went over TCP: all do (no reordering) */
};

struct sc_sock {
	__u32 mode;  /* enum sc_mode of this socket's sending direction */
	__u32 own;   /* one of the daemon's sockets */
	__u64 tx;    /* bytes this socket sent through the shortcut */
};

/*
 * A socket that may receive through the shortcut, by its key (sk_msg sees
 * the receiver only as a key); written by the BPF programs only.
 *
 * Flow control (the redirect itself never pushes back): the daemon publishes
 * in sc_ack how many bytes it has read from each of its sockets. Once more
 * than the limit would wait unread, the sender pauses: its bytes go over
 * TCP, whose window holds it back, and the receiver reads the queue before
 * TCP's, so the order holds. It resumes only when the daemon has read every
 * byte sent so far (none is left in flight over TCP to be overtaken). A
 * bulk sender stays paused: then the daemon takes the connection off the
 * shortcut (the sender's socket out of the map at once, its own once it has
 * read redirected + tcp_at_pause bytes, when its queue is empty), so that
 * the rest runs over plain TCP without the sockmap paths' cost.
 */
struct sc_rcv {
	__u64 redirected;   /* bytes put into its queue */
	__u64 tcp_sent;     /* bytes its peer sent over TCP while paused */
	__u64 tcp_at_pause; /* tcp_sent when the current pause began */
	__u32 own;          /* one of the daemon's sockets */
	__u32 paused;
};

/* Indices of sc_totals (per-CPU counters). */
enum sc_total {
	SC_T_BYTES,    /* bytes redirected */
	SC_T_MSGS,     /* sendmsg calls redirected */
	SC_T_TCP,      /* sendmsg calls of recorded sockets that went over TCP */
	SC_T_RECORDED, /* sockets recorded by the sockops programs */
	SC_T_PAUSED,   /* times a sender paused because its receiver fell behind */
	SC_T_N,
};

#endif
