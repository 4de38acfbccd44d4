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
	__u64 rx;    /* unused: the daemon's sockets count what they receive in sc_own */
};

/* Indices of sc_totals (per-CPU counters). */
enum sc_total {
	SC_T_BYTES,    /* bytes redirected */
	SC_T_MSGS,     /* sendmsg calls redirected */
	SC_T_TCP,      /* sendmsg calls of recorded sockets that went over TCP */
	SC_T_RECORDED, /* sockets recorded by the sockops programs */
	SC_T_N,
};

#endif
