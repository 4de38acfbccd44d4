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
 *   BPF: ip rules send the steered prefixes (and ports) to a table whose
 *        only route is "local default dev lo"; an sk_lookup program then
 *        gives those packets to the redir sockets (bpf/steer.bpf.c).
 *   nft: an nftables table "inet ssbpf" TPROXYs them to the redir port and
 *        marks them; "ip rule fwmark M lookup T" delivers them locally.
 *
 * Rules live at priorities STEER_RULE_PRIO .. STEER_RULE_PRIO + 2 and the
 * routes in the configured table, so cleanup can find them after a crash.
 */
#define STEER_DEFAULT_MARK 0x5b5
#define STEER_DEFAULT_TABLE 1461
#define STEER_RULE_PRIO 1461
#define STEER_NFT_TABLE "ssbpf"
#define STEER_MAX 64

struct steer_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t len;
};

struct steer_spec {
	struct steer_prefix steer[STEER_MAX], exclude[STEER_MAX];
	int nsteer, nexclude;
	struct { uint16_t lo, hi; } ports[STEER_MAX];
	int nports; /* 0: every port */
};

/*
 * Parses comma-separated prefixes ("0.0.0.0/0,::/0", a bare address is a
 * host prefix) and ports ("80,443,8000-8100"). 0, or -EINVAL with *why set.
 */
int steer_parse(struct steer_spec *s, const char *steer, const char *exclude, const char *ports,
		const char **why);
/* One prefix ("10.0.0.0/8", or an address: a host prefix); 0 or -EINVAL. */
int steer_parse_prefix(const char *s, struct steer_prefix *p);
/* Adds p to the exclusions; true when it is new. */
bool steer_add_exclude(struct steer_spec *s, const struct steer_prefix *p);
/* The host prefix of sa in p; false for another family. */
bool steer_host_prefix(const struct sockaddr *sa, struct steer_prefix *p);
/* Adds the host prefix of sa to the exclusions (ignored when full or a duplicate). */
void steer_exclude_addr(struct steer_spec *s, const struct sockaddr *sa);
/* "a.b.c.d/n" */
const char *steer_prefix_str(const struct steer_prefix *p, char *buf, size_t len);

struct steer;
struct steer_params {
	const struct steer_spec *spec;
	bool bpf;          /* sk_lookup; else nftables TPROXY */
	uint16_t port;     /* the redir sockets' port */
	int tcp_fd, udp_fd; /* the redir sockets; -1: that protocol is not relayed */
	uint32_t mark, table;
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
 * (-EBUSY: another live daemon steers this namespace).
 */
int steer_install(struct steer **out, const struct steer_params *sp, const char **why);
/* Removes everything steer_install put in place. */
void steer_remove(struct steer *s);
/*
 * Removes what any ssbpf steering may have left behind (the nft table, the
 * rules at STEER_RULE_PRIO.., the routes of table); prints what it removed
 * when verbose. Returns the number of objects removed, or -errno.
 */
int steer_cleanup(uint32_t table, bool verbose);

/*
 * This host's addresses change after start-up (DHCP, a VPN coming up):
 * steer_watch_fd is an rtnetlink socket subscribed to address events (-1
 * without one), and steer_watch_read, called when it is readable, excludes
 * every new address the way steer_install excluded the first ones.
 */
int steer_watch_fd(const struct steer *s);
void steer_watch_read(struct steer *s);

/* sk_lookup loader (user/bpf_steer.c, the only file here that touches libbpf). */
struct bpf_steer;
int bpf_steer_open(struct bpf_steer **out, const struct steer_spec *spec, int tcp_fd, int udp_fd,
		   const char **why);
/* Adds one prefix to the excluded trie; 0 or -errno. */
int bpf_steer_exclude(struct bpf_steer *b, const struct steer_prefix *p);
void bpf_steer_close(struct bpf_steer *b);

#endif
