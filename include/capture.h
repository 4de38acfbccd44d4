/* SPDX-License-Identifier: MIT */
#ifndef SS_CAPTURE_H
#define SS_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "key.h"
#include "upstream.h"

/*
 * Capture by cgroup (sslocal redir, README "Container egress node"): the
 * outgoing TCP connects and UDP sends of the processes in cgroup v2
 * directories go to the daemon's listeners in their own network namespace,
 * with their original destinations (bpf/capture.bpf.c says how). One
 * instance per process tree, loaded before the workers fork (they inherit
 * its maps); the cgroup links are held by the process that serves ssctl.
 * A -errno API over the loader, user/kernel/bpf_capture.c.
 */
struct capture;
struct steer_list;

#define CAPTURE_MAX 256 /* cgroups captured at once */

/* Loads the programs for the capture port (host order); 0 or -errno with a reason. */
int capture_open(struct capture **out, uint16_t port, const char **why);
/* Detaches every cgroup and frees. */
void capture_close(struct capture *c);
/* Destinations that stay direct (a normalized list); 0 or -errno. */
int capture_exclude(struct capture *c, const struct steer_list *l);
/*
 * Records a captured cgroup v2 directory, whose processes live in network
 * namespace netns (NULL: the daemon's), with the SIP002 URI of an upstream
 * of its own (NULL: the daemon's server); 0, -EEXIST when it is recorded
 * already, or -errno with a reason. A worker records what its parent links.
 */
int capture_record(struct capture *c, const char *cgroup, const char *netns,
		   const char *upstream, const char **why);
/* Attaches the programs to a recorded cgroup; 0, -EEXIST, or -errno with a reason. */
int capture_link(struct capture *c, const char *cgroup, const char **why);
/* Detaches (if linked) and forgets a cgroup, and the slots of its processes; 0 or -ENOENT. */
int capture_forget(struct capture *c, const char *cgroup);

/* A capture entry's own upstream (upstream.h): its server and key. */
/* The upstream of the entry whose cgroup v2 id is cgroup, or NULL (the daemon's server). */
const struct upstream *capture_upstream_of(const struct capture *c, uint64_t cgroup);
/* The same, held until upstream_put (a connection or association using it). */
struct upstream *capture_upstream_get(const struct capture *c, uint64_t cgroup);
/* Whether cgroup v2 id cgroup is a capture entry's. */
bool capture_has(const struct capture *c, uint64_t cgroup);
/* The index of cgroup among the attached ones, or -1. */
int capture_cgroup_index(const struct capture *c, const char *cgroup);
/* The i-th attached cgroup (i from 0), or NULL after the last; its id and netns path. */
const char *capture_cgroup(const struct capture *c, int i, uint64_t *id, const char **netns);
/* A process of the daemon: its sockets are never captured (add false: it is gone). */
void capture_own_pid(struct capture *c, int pid, bool add);

/* What the slot address of a captured connection or datagram stands for. */
struct capture_orig {
	struct ss_addr dst;
	uint64_t cgroup; /* the sending process's cgroup v2 id */
	uint64_t netns;  /* its network namespace's cookie */
};
/*
 * local: the address a captured connection or datagram came to (the accepted
 * socket's local address, a datagram's destination). 1 with *o set when it
 * is a slot address, 0 when it is not, -ENOENT for a slot no longer held.
 */
int capture_lookup(const struct capture *c, const struct sockaddr_storage *local,
		   struct capture_orig *o);
/* The slot address (port included) that stands for UDP destination dst of cgroup; 0 or -ENOENT. */
int capture_slot_of(const struct capture *c, const struct ss_addr *dst, uint64_t cgroup,
		    struct sockaddr_in *slot);

struct capture_counts {
	uint64_t tcp, udp, direct, refused;
};
void capture_counts(const struct capture *c, struct capture_counts *n);
/* The connects and datagrams captured from processes of cgroup v2 id (directly in it). */
void capture_cgroup_counts(const struct capture *c, uint64_t id, uint64_t *tcp, uint64_t *udp);

/* netns: a /run/netns/NAME or /proc/PID/ns/net path; runs fn there; 0 or -errno with a reason. */
int capture_in_netns(const char *netns, int (*fn)(void *arg, const char **why), void *arg,
		     const char **why);
/* The cookie of fd's network namespace (SO_NETNS_COOKIE), or 0. */
uint64_t capture_netns_cookie(int fd);
/* The cookie of the daemon's own network namespace (read once), or 0. */
uint64_t capture_own_netns(void);

#endif
