/* SPDX-License-Identifier: MIT */
#ifndef SS_STEER_H
#define SS_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Steering for sslocal redir: which LAN traffic the gateway hands to its
 * redir sockets, and the kernel state that does it (README.md, "Gateway").
 *
 *   BPF: a routing table holds "local PREFIX dev lo" for each steered
 *        prefix and "throw PREFIX" for each excluded one (the kernel's FIB
 *        trie: a lookup costs the same for 10 prefixes or 10^5); a rule per
 *        port range (and --steer-iif interface) sends LAN packets to it, and
 *        an sk_lookup program gives what it delivers locally to the redir
 *        sockets (bpf/steer.bpf.c, its own LPM tries of the same lists).
 *   nft: an nftables table "inet ssbpf" TPROXYs them to the redir port and
 *        marks them (interval sets); "ip rule fwmark M lookup T" delivers
 *        them locally. A packet of a connection's reply direction is never
 *        steered.
 *
 * Rules live at priorities STEER_RULE_PRIO .. STEER_RULE_PRIO + 2 and the
 * routes in the configured table, so cleanup can find them after a crash.
 */
#define STEER_DEFAULT_MARK 0x5b5
#define STEER_DEFAULT_TABLE 1461
#define STEER_RULE_PRIO 1461
#define STEER_NFT_TABLE "ssbpf"
#define STEER_PORTS_MAX 64
#define STEER_IIF_MAX 16
#define STEER_LIST_MAX (1u << 21) /* prefixes in one list: far above any country list */

struct steer_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t len;
};

/*
 * A list of prefixes of any length. Normalized (steer_list_normalize): sorted
 * by family and address, with every prefix that another one covers dropped,
 * so the prefixes left are disjoint.
 */
struct steer_list {
	struct steer_prefix *p;
	size_t n, cap;
};

/* Where the lists come from: flags and config keys (comma-separated), files, an ACL. */
struct steer_sources {
	const char *steer, *exclude, *exclude_files, *ports, *iif, *acl;
};

struct steer_spec {
	struct steer_list steer, exclude;
	struct { uint16_t lo, hi; } ports[STEER_PORTS_MAX];
	int nports; /* 0: every port */
	char iif[STEER_IIF_MAX][16]; /* --steer-iif: only packets that come in on these */
	int niif;
	size_t from_files, from_acl; /* prefixes read from --exclude-file and from the ACL */
};

/*
 * Builds the spec from its sources: prefixes ("0.0.0.0/0,::/0", a bare
 * address is a host prefix), exclusion files (one prefix per line, "#"
 * comments, ipset's "add SET PREFIX" lines), a libev ACL's IP rules (under
 * [proxy_all] its bypass list is excluded; under [bypass_all] only its
 * proxy list, within the steered prefixes, is steered), ports
 * ("80,443,8000-8100") and interface names. Both lists come out normalized.
 * 0, or -errno with *why set; steer_spec_free frees it either way.
 */
int steer_parse(struct steer_spec *s, const struct steer_sources *src, const char **why);
void steer_spec_free(struct steer_spec *s);
/* One prefix ("10.0.0.0/8", or an address: a host prefix); 0 or -EINVAL. */
int steer_parse_prefix(const char *s, struct steer_prefix *p);
/* Appends p (the list is no longer normalized); 0 or -ENOMEM. */
int steer_list_add(struct steer_list *l, const struct steer_prefix *p);
void steer_list_normalize(struct steer_list *l);
/* Is p inside (or equal to) a prefix of the normalized list l? */
bool steer_list_covers(const struct steer_list *l, const struct steer_prefix *p);
/* Is p in the normalized list l, exactly? */
bool steer_list_has(const struct steer_list *l, const struct steer_prefix *p);
/* cb for each prefix of from that minus lacks (both normalized); stops at a non-zero return. */
int steer_list_each_new(const struct steer_list *from, const struct steer_list *minus,
			int (*cb)(void *arg, const struct steer_prefix *p), void *arg);
/*
 * The steered prefixes that no exclusion covers, normalized (an exclusion
 * wins over a steered prefix it contains, and over a wider one by being
 * more specific); 0 or -ENOMEM.
 */
int steer_effective(const struct steer_spec *s, struct steer_list *out);
/* Adds p to the exclusions, keeping them normalized; true when something changed. */
bool steer_add_exclude(struct steer_spec *s, const struct steer_prefix *p);
/* The host prefix of sa in p; false for another family. */
bool steer_host_prefix(const struct sockaddr *sa, struct steer_prefix *p);
/* Adds the host prefix of sa to the exclusions. */
void steer_exclude_addr(struct steer_spec *s, const struct sockaddr *sa);
/* "a.b.c.d/n" */
const char *steer_prefix_str(const struct steer_prefix *p, char *buf, size_t len);
/* Does a contain b (or equal it)? */
bool steer_prefix_contains(const struct steer_prefix *a, const struct steer_prefix *b);

struct steer;
struct steer_params {
	struct steer_spec *spec; /* steer_install takes it over (emptied here) */
	bool bpf;          /* sk_lookup; else nftables TPROXY */
	uint16_t port;     /* the redir sockets' port */
	int tcp_fd, udp_fd; /* the redir sockets; -1: that protocol is not relayed */
	uint32_t mark, table;
	/* An upgrade's successor: the pid it replaces, whose steering it takes over; 0 */
	int predecessor;
};

/*
 * One steering daemon per network namespace: steer_install holds an flock
 * on a lock file named after the namespace (the kernel drops it when the
 * process dies, so a crash frees it). steer_lock returns its fd, or -EBUSY
 * with *owner set to the holder's pid, or -errno.
 */
int steer_lock(int *owner);
/*
 * Installs steering after removing any leftovers; 0 or -errno with *why
 * (-EBUSY: another live daemon steers this namespace). This host's own
 * addresses join the exclusions, and so do the subnets of its interfaces
 * unless the spec names --steer-iif interfaces (README, "Gateway").
 */
int steer_install(struct steer **out, const struct steer_params *sp, const char **why);
/*
 * New lists (SIGHUP), taken over from spec: what is added and removed is
 * changed in place, in an order under which a destination steered before
 * and after is steered all along (and one excluded before and after stays
 * excluded). Ports and interfaces keep their start-up values. 0, or -errno
 * with *why and the old lists still in place.
 */
int steer_reload(struct steer *s, struct steer_spec *spec, const char **why);
/* Removes everything steer_install put in place. */
void steer_remove(struct steer *s);
/*
 * Lets go without removing anything: after an upgrade the successor steers
 * with the same rules, tables and sockets (its program is attached already).
 */
void steer_leave(struct steer *s);
/*
 * A successor that took the steering over while its predecessor still held
 * the lock takes the lock once the predecessor is gone; call from the tick.
 */
void steer_tick(struct steer *s);
/*
 * Removes what any ssbpf steering may have left behind (the nft table, the
 * rules at STEER_RULE_PRIO.., the routes of table); prints what it removed
 * when verbose. Returns the number of objects removed, or -errno.
 */
int steer_cleanup(uint32_t table, bool verbose);

/* What ssctl stats and /metrics show of the steering. */
struct steer_stats {
	const char *mode;          /* "sk_lookup" or "nftables" */
	size_t steer, exclude;     /* prefixes in each list (normalized) */
	size_t from_files, from_acl;
	uint64_t steered_tcp, steered_udp; /* connections and datagrams handed over (sk_lookup) */
};
void steer_get_stats(const struct steer *s, struct steer_stats *out);

/*
 * This host's addresses change after start-up (DHCP, a VPN coming up):
 * steer_watch_fd is an rtnetlink socket subscribed to address events (-1
 * without one), and steer_watch_read, called when it is readable, excludes
 * every new address (and its subnet) the way steer_install excluded the first ones.
 */
int steer_watch_fd(const struct steer *s);
void steer_watch_read(struct steer *s);

/* sk_lookup loader (user/kernel/bpf_steer.c, the only file here that touches libbpf). */
struct bpf_steer;
int bpf_steer_open(struct bpf_steer **out, const struct steer_spec *spec, int tcp_fd, int udp_fd,
		   const char **why);
/*
 * The prefix tries from (old steer, old exclude) to spec's lists: additions
 * first, then removals; 0 or -errno.
 */
int bpf_steer_lists(struct bpf_steer *b, const struct steer_list *old_steer,
		    const struct steer_list *old_exclude, const struct steer_spec *spec);
/* Connections (TCP) and datagrams (UDP) handed to the redir sockets. */
void bpf_steer_counts(struct bpf_steer *b, uint64_t *tcp, uint64_t *udp);
void bpf_steer_close(struct bpf_steer *b);

#endif
