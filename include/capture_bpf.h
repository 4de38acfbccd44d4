/* SPDX-License-Identifier: MIT */
#ifndef SS_CAPTURE_BPF_H
#define SS_CAPTURE_BPF_H

/*
 * Shared by bpf/capture.bpf.c and its loader user/kernel/bpf_capture.c.
 *
 * A captured connect or send is rewritten to 127.16.0.0/12 (a "slot"
 * address; IPv6 sockets get it v4-mapped) at the capture port: the slot
 * names the original destination, so the daemon's wildcard listener in the
 * namespace finds it from the accepted socket's local address (TCP) or the
 * datagram's destination (UDP), and the replies it sends from the slot
 * address are shown to the application as coming from the original.
 */
#define CAP_SLOT_BASE 0x7f100000u /* 127.16.0.0 */
#define CAP_SLOT_MASK 0x000fffffu /* 2^20 slots */
#define CAP_SLOTS (1u << 20)
#define CAP_PIDS 4096
#define CAP_TRIE_MAX (1 << 21) /* STEER_LIST_MAX; not preallocated */
#define CAP_CGROUPS_SEEN 4096 /* cgroups whose captures are counted */
#define CAP_ENTRIES 256       /* CAPTURE_MAX: the captured cgroups, by id */
#define CAP_LEVELS 16         /* the deepest cgroup level searched for an entry */

/* Counts (per CPU): connects rewritten, datagrams rewritten, left direct, refused. */
enum { CAP_T_TCP, CAP_T_UDP, CAP_T_EXCLUDED, CAP_T_REFUSED, CAP_T_N };

/* An original destination: IPv4 as ::ffff:a.b.c.d; port in network order. */
struct cap_orig {
	__u32 addr[4];
	__u64 cgroup; /* the cgroup v2 id of its capture entry (the process's own, or an ancestor) */
	__u64 netns;  /* its network namespace's cookie */
	__u16 port;
	__u8 proto;   /* 6 TCP, 17 UDP */
	__u8 pad[5];
};

struct cap_cg_count {
	__u64 n[2]; /* TCP connects, UDP datagrams */
};

/*
 * The capture port (network order), and the bits of a slot that name the CPU
 * that took it (each CPU hands out its own slots round robin: ceil(log2 CPUs)).
 */
struct cap_conf {
	__u16 port;
	__u8 cpu_bits;
	__u8 pad;
};

/* Exclusions: an LPM trie key, IPv4 as ::ffff:a.b.c.d (prefix length + 96). */
struct cap_key {
	__u32 prefixlen;
	__u32 addr[4];
};

#endif
