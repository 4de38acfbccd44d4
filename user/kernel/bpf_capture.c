// SPDX-License-Identifier: MIT
/*
 * Loader of bpf/capture.bpf.c (capture by cgroup): the capture port, the
 * exclusion trie, the daemon's own processes, a set of cgroup links per
 * captured cgroup, and the slot table read back for each captured
 * connection and datagram. Nothing is pinned: when the daemon exits or
 * dies, the links close and the programs leave every cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_common.h"
#include "capture.h"
#include "capture_bpf.h"
#include "common.h"
#include "config.h"
#include "log.h"
#include "steer.h"
#include "capture.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define CAP_PROGS 8

struct cap_cgroup {
	char *path, *netns;
	uint64_t id;
	struct upstream *up; /* an upstream of its own, or NULL */
	struct bpf_link *links[CAP_PROGS];
};

struct capture {
	struct capture_bpf *skel;
	uint16_t port; /* host order */
	struct cap_cgroup cg[CAPTURE_MAX];
	int n;
};

int capture_open(struct capture **out, uint16_t port, const char **why)
{
	struct capture *c = calloc(1, sizeof(*c));
	struct cap_conf conf = { .port = htons(port) };
	int ncpu = libbpf_num_possible_cpus();
	uint32_t zero = 0;
	int r;

	if (!c) {
		*why = "out of memory";
		return -ENOMEM;
	}
	bpf_log_via_daemon();
	if (!(c->skel = capture_bpf__open_and_load())) {
		r = -errno;
		*why = bpf_load_failed(r, "the kernel refused the cgroup sock_addr programs "
					  "(needs Linux 5.8+)");
		free(c);
		return r;
	}
	c->port = port;
	while (ncpu > 1 << conf.cpu_bits && conf.cpu_bits < 15)
		conf.cpu_bits++;
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.cap_conf), &zero, &conf, BPF_ANY)) {
		r = -errno;
		*why = "cannot set the capture port";
		capture_close(c);
		return r;
	}
	*out = c;
	return 0;
}

static void unlink_all(struct cap_cgroup *g)
{
	for (int i = 0; i < CAP_PROGS; i++) {
		bpf_link__destroy(g->links[i]);
		g->links[i] = NULL;
	}
}

static void drop(struct cap_cgroup *g)
{
	unlink_all(g);
	free(g->path);
	free(g->netns);
	if (g->up) {
		g->up->dead = true;
		g->up->refs++;
		upstream_put(g->up);
	}
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++)
		drop(&c->cg[i]);
	capture_bpf__destroy(c->skel);
	free(c);
}

static int exclude_one(void *arg, const struct steer_prefix *p)
{
	struct cap_key k = { 0 };
	uint8_t one = 1, *b = (uint8_t *)k.addr;

	if (p->family == AF_INET) {
		b[10] = b[11] = 0xff;
		memcpy(b + 12, p->addr, 4);
		k.prefixlen = 96u + p->len;
	} else {
		memcpy(b, p->addr, 16);
		k.prefixlen = p->len;
	}
	return bpf_map_update_elem(*(int *)arg, &k, &one, BPF_ANY) ? -errno : 0;
}

int capture_exclude(struct capture *c, const struct steer_list *l)
{
	int fd = bpf_map__fd(c->skel->maps.cap_exclude);
	struct steer_list none = { 0 };

	return steer_list_each_new(l, &none, exclude_one, &fd);
}

int capture_cgroup_index(const struct capture *c, const char *path)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->cg[i].path, path))
			return i;
	return -1;
}

int capture_record(struct capture *c, const char *cgroup, const char *netns,
		   const char *upstream, const char **why)
{
	struct cap_cgroup g = { 0 };
	struct statfs sf;
	struct stat st;
	int r = 0;

	if (capture_cgroup_index(c, cgroup) >= 0)
		return -EEXIST;
	if (c->n >= CAPTURE_MAX)
		return why_fmt(why, "too many captured cgroups (256)"), -ENOSPC;
	if (stat(cgroup, &st) || statfs(cgroup, &sf))
		return r = -errno, why_fmt(why, "cgroup %s: %s", cgroup, strerror(errno)), r;
	if (sf.f_type != CGROUP2_SUPER_MAGIC || !S_ISDIR(st.st_mode))
		return why_fmt(why, "%s is not a cgroup v2 directory (mount -t cgroup2 none DIR)",
			       cgroup), -ENOTDIR;
	g.id = (uint64_t)st.st_ino; /* a cgroup v2 directory's inode is its id */
	if (upstream && (r = upstream_from_uri(upstream, &g.up, why)))
		return r;
	if (!(g.path = strdup(cgroup)) || (netns && !(g.netns = strdup(netns)))) {
		drop(&g);
		return why_fmt(why, "out of memory"), -ENOMEM;
	}
	c->cg[c->n++] = g;
	return 0;
}

int capture_link(struct capture *c, const char *cgroup, const char **why)
{
	struct bpf_program *progs[CAP_PROGS] = {
		c->skel->progs.cap_connect4, c->skel->progs.cap_connect6,
		c->skel->progs.cap_sendmsg4, c->skel->progs.cap_sendmsg6,
		c->skel->progs.cap_recvmsg4, c->skel->progs.cap_recvmsg6,
		c->skel->progs.cap_getpeername4, c->skel->progs.cap_getpeername6,
	};
	int i = capture_cgroup_index(c, cgroup), fd, r = 0;
	struct cap_cgroup *g = i >= 0 ? &c->cg[i] : NULL;

	if (!g)
		return -ENOENT;
	if (g->links[0])
		return -EEXIST;
	if ((fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return r = -errno, why_fmt(why, "cgroup %s: %s", cgroup, strerror(errno)), r;
	/* The entry first: a process below the cgroup counts as the entry's from its first connect. */
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.cap_entries), &g->id, &(uint8_t){ 1 },
				BPF_ANY)) {
		r = -errno;
		why_fmt(why, "cannot add cgroup %s to the entries: %s", cgroup, strerror(errno));
	}
	for (int k = 0; k < CAP_PROGS && !r; k++) {
		if (!(g->links[k] = bpf_program__attach_cgroup(progs[k], fd))) {
			r = -errno;
			why_fmt(why, "cannot attach to cgroup %s: %s", cgroup, strerror(errno));
			unlink_all(g);
		}
	}
	if (r)
		bpf_map_delete_elem(bpf_map__fd(c->skel->maps.cap_entries), &g->id);
	close(fd);
	return r;
}

/* Drops the slots of cgroup id: a cgroup let go leaves no map entry behind. */
static void forget_slots(struct capture *c, uint64_t id)
{
	int slots = bpf_map__fd(c->skel->maps.cap_slots), of = bpf_map__fd(c->skel->maps.cap_of);
	uint32_t key, cur, *prev = NULL, *gone = NULL;
	size_t n = 0, cap = 0;
	struct cap_orig v;

	/* Collected first: a key deleted during the walk would end it. */
	while (!bpf_map_get_next_key(slots, prev, &key)) {
		if (!bpf_map_lookup_elem(slots, &key, &v) && v.cgroup == id) {
			if (n == cap) {
				uint32_t *g = realloc(gone, (cap = cap ? cap * 2 : 256) * sizeof(*g));

				if (!g)
					break;
				gone = g;
			}
			gone[n++] = key;
		}
		cur = key;
		prev = &cur;
	}
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(slots, &gone[i], &v))
			continue;
		v.netns = 0;
		bpf_map_delete_elem(of, &v);
		bpf_map_delete_elem(slots, &gone[i]);
	}
	free(gone);
}

int capture_forget(struct capture *c, const char *cgroup)
{
	int i = capture_cgroup_index(c, cgroup);
	bool linked;
	uint64_t id;

	if (i < 0)
		return -ENOENT;
	id = c->cg[i].id;
	linked = c->cg[i].links[0];
	drop(&c->cg[i]);
	c->cg[i] = c->cg[--c->n];
	/* The process holding the links owns the slots; a worker's record has none. */
	if (linked) {
		bpf_map_delete_elem(bpf_map__fd(c->skel->maps.cap_entries), &id);
		forget_slots(c, id);
	}
	return 0;
}

struct upstream *capture_upstream_get(const struct capture *c, uint64_t cgroup)
{
	for (int i = 0; c && i < c->n; i++) {
		if (c->cg[i].id == cgroup) {
			if (c->cg[i].up)
				c->cg[i].up->refs++;
			return c->cg[i].up;
		}
	}
	return NULL;
}

bool capture_has(const struct capture *c, uint64_t cgroup)
{
	for (int i = 0; c && i < c->n; i++)
		if (c->cg[i].id == cgroup)
			return true;
	return false;
}

const struct upstream *capture_upstream_of(const struct capture *c, uint64_t cgroup)
{
	struct upstream *up = capture_upstream_get(c, cgroup);

	if (up)
		up->refs--;
	return up;
}

const char *capture_cgroup(const struct capture *c, int i, uint64_t *id, const char **netns)
{
	if (!c || i < 0 || i >= c->n)
		return NULL;
	if (id)
		*id = c->cg[i].id;
	if (netns)
		*netns = c->cg[i].netns;
	return c->cg[i].path;
}

void capture_own_pid(struct capture *c, int pid, bool add)
{
	uint32_t k = (uint32_t)pid;
	uint8_t one = 1;
	int fd = bpf_map__fd(c->skel->maps.cap_pids);

	if (add)
		bpf_map_update_elem(fd, &k, &one, BPF_ANY);
	else
		bpf_map_delete_elem(fd, &k);
}

/* A slot address: 127.16.0.0/12, plain or v4-mapped; the slot, or -1. */
static int64_t slot_of_addr(const struct sockaddr_storage *ss, uint16_t *port)
{
	uint32_t ip;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		ip = ntohl(s4->sin_addr.s_addr);
		*port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6 &&
		   IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		memcpy(&ip, s6->sin6_addr.s6_addr + 12, 4);
		ip = ntohl(ip);
		*port = ntohs(s6->sin6_port);
	} else {
		return -1;
	}
	return (ip & ~CAP_SLOT_MASK) == CAP_SLOT_BASE ? (int64_t)(ip & CAP_SLOT_MASK) : -1;
}

int capture_lookup(const struct capture *c, const struct sockaddr_storage *local,
		   struct capture_orig *o)
{
	uint16_t port;
	int64_t s = c ? slot_of_addr(local, &port) : -1;
	uint32_t slot = (uint32_t)s;
	struct cap_orig v;
	const uint8_t *a = (const uint8_t *)v.addr;

	if (s < 0 || port != c->port)
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.cap_slots), &slot, &v))
		return -ENOENT;
	memset(o, 0, sizeof(*o));
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
		o->dst.atyp = SS_ATYP_IPV4;
		memcpy(&o->dst.v4, a + 12, 4);
	} else {
		o->dst.atyp = SS_ATYP_IPV6;
		memcpy(&o->dst.v6, a, 16);
	}
	o->dst.port = ntohs(v.port);
	o->cgroup = v.cgroup;
	o->netns = v.netns;
	return 1;
}

int capture_slot_of(const struct capture *c, const struct ss_addr *dst, uint64_t cgroup,
		    struct sockaddr_in *slot)
{
	struct cap_orig k = { .cgroup = cgroup, .port = htons(dst->port), .proto = 17 };
	uint8_t *a = (uint8_t *)k.addr;
	uint32_t s;

	if (dst->atyp == SS_ATYP_IPV4) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &dst->v4, 4);
	} else if (dst->atyp == SS_ATYP_IPV6) {
		memcpy(a, &dst->v6, 16);
	} else {
		return -ENOENT;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.cap_of), &k, &s))
		return -ENOENT;
	*slot = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(c->port),
				      .sin_addr.s_addr = htonl(CAP_SLOT_BASE | s) };
	return 0;
}

void capture_counts(const struct capture *c, struct capture_counts *n)
{
	int fd = bpf_map__fd(c->skel->maps.cap_counts), ncpu = libbpf_num_possible_cpus();
	uint64_t sum[CAP_T_N] = { 0 }, *v;

	if (ncpu > 0 && (v = calloc((size_t)ncpu, sizeof(*v)))) {
		for (uint32_t k = 0; k < CAP_T_N; k++) {
			if (bpf_map_lookup_elem(fd, &k, v))
				continue;
			for (int i = 0; i < ncpu; i++)
				sum[k] += v[i];
		}
		free(v);
	}
	*n = (struct capture_counts){ sum[CAP_T_TCP], sum[CAP_T_UDP], sum[CAP_T_EXCLUDED],
				      sum[CAP_T_REFUSED] };
}

void capture_cgroup_counts(const struct capture *c, uint64_t id, uint64_t *tcp, uint64_t *udp)
{
	struct cap_cg_count v = { 0 };

	bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.cap_by_cgroup), &id, &v);
	*tcp = v.n[0];
	*udp = v.n[1];
}

int capture_in_netns(const char *netns, int (*fn)(void *arg, const char **why), void *arg,
		     const char **why)
{
	int self, there, r;

	if (!netns)
		return fn(arg, why);
	if ((there = open(netns, O_RDONLY | O_CLOEXEC)) < 0) {
		why_fmt(why, "network namespace %s: %s", netns, strerror(errno));
		return -errno;
	}
	if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		close(there);
		*why = "cannot open /proc/thread-self/ns/net";
		return r;
	}
	if (setns(there, CLONE_NEWNET)) {
		r = -errno;
		why_fmt(why, "cannot enter the network namespace %s: %s", netns, strerror(errno));
	} else {
		r = fn(arg, why);
		if (setns(self, CLONE_NEWNET))
			log_err("cannot return to the daemon's network namespace: %s",
				strerror(errno));
	}
	close(self);
	close(there);
	return r;
}

uint64_t capture_netns_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t l = sizeof(cookie);

	return getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &l) ? 0 : cookie;
}

uint64_t capture_own_netns(void)
{
	static uint64_t cookie;
	int fd;

	if (!cookie && (fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
		cookie = capture_netns_cookie(fd);
		close(fd);
	}
	return cookie;
}
