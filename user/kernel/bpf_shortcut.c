// SPDX-License-Identifier: MIT
/* Loader of bpf/shortcut.bpf.c (the local shortcut): self-test, cgroup links, the maps. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "bpf_common.h"
#include "log.h"
#include "shortcut.h"
#include "shortcut_bpf.h"
#include "shortcut.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Bytes a receiver may hold in its shortcut queue before its sender moves to TCP. */
#define SHORTCUT_LIMIT (4u << 20)

/* One of the daemon's recorded sockets: its key and what was published of its reads. */
struct shortcut_peer {
	struct sc_key k;
	uint64_t acked;
};

struct shortcut {
	struct shortcut_bpf *skel;
	struct bpf_link *link, *own_link;
	int socks_fd, state_fd, rcv_fd, ack_fd, ports_fd, out_fd, totals_fd;
	uint64_t netns; /* the daemon's network namespace cookie */
};

static int netns_cookie(int fd, uint64_t *out)
{
	socklen_t len = sizeof(*out);

	return getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, out, &len) ? -errno : 0;
}

static void ip_of(uint32_t out[4], const struct sockaddr_storage *ss, uint32_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		out[0] = out[1] = 0;
		out[2] = htonl(0xffff);
		out[3] = s->sin_addr.s_addr;
		*port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		memcpy(out, &s->sin6_addr, 16);
		*port = ntohs(s->sin6_port);
	}
}

/* fd's key as the sockops program would have made it (fd is in the daemon's namespace). */
static int key_of(const struct shortcut *sc, int fd, struct sc_key *k)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);

	memset(k, 0, sizeof(*k));
	if (getsockname(fd, (struct sockaddr *)&l, &ll) || getpeername(fd, (struct sockaddr *)&r, &rl))
		return -errno;
	if ((l.ss_family != AF_INET && l.ss_family != AF_INET6) || l.ss_family != r.ss_family)
		return -EAFNOSUPPORT;
	k->netns = sc->netns;
	ip_of(k->lip, &l, &k->lport);
	ip_of(k->rip, &r, &k->rport);
	return 0;
}

/* The key of k's peer: the same connection seen from the other end. */
static void swapped(const struct sc_key *k, struct sc_key *peer)
{
	*peer = *k;
	memcpy(peer->lip, k->rip, sizeof(peer->lip));
	memcpy(peer->rip, k->lip, sizeof(peer->rip));
	peer->lport = k->rport;
	peer->rport = k->lport;
}

static bool key_local(const struct sc_key *k)
{
	bool v4 = !k->rip[0] && !k->rip[1] && k->rip[2] == htonl(0xffff);

	if (v4 && (ntohl(k->rip[3]) >> 24) == 127)
		return true;
	if (!v4 && !k->rip[0] && !k->rip[1] && !k->rip[2] && k->rip[3] == htonl(1))
		return true;
	return !memcmp(k->lip, k->rip, sizeof(k->lip));
}

/* Records one of the daemon's connected sockets under key k. */
static bool adopt(struct shortcut *sc, int fd, const struct sc_key *k)
{
	struct sc_sock st = { .own = 1 };
	struct sc_rcv rcv = { .own = 1 };
	uint64_t v = (uint64_t)fd;

	/* Known as the daemon's, with no stale count, before it can be a redirect target. */
	bpf_map_delete_elem(sc->ack_fd, k);
	if ((bpf_map_update_elem(sc->state_fd, &fd, &st, BPF_NOEXIST) && errno != EEXIST) ||
	    bpf_map_update_elem(sc->rcv_fd, k, &rcv, BPF_ANY))
		return false;
	if (bpf_map_update_elem(sc->socks_fd, k, &v, BPF_NOEXIST))
		return errno == EEXIST;
	return true;
}

struct shortcut_peer *shortcut_watch(struct shortcut *sc, int fd, bool record)
{
	struct shortcut_peer *w;
	struct sc_key k, peer;
	struct sc_sock st;
	uint64_t cookie;

	if (!sc || key_of(sc, fd, &k) || !key_local(&k))
		return NULL;
	swapped(&k, &peer);
	/*
	 * No use without the peer (not in the cgroup): an accepted socket that
	 * was recorded leaves the map, back to plain TCP (nothing can have been
	 * redirected into it).
	 */
	if (bpf_map_lookup_elem(sc->socks_fd, &peer, &cookie)) {
		if (!record)
			bpf_map_delete_elem(sc->socks_fd, &k);
		return NULL;
	}
	if (record ? !adopt(sc, fd, &k) : bpf_map_lookup_elem(sc->state_fd, &fd, &st) || !st.own)
		return NULL;
	if (!(w = calloc(1, sizeof(*w))))
		return NULL;
	w->k = k;
	return w;
}

void shortcut_ack(struct shortcut *sc, struct shortcut_peer *w, uint64_t read_total)
{
	if (read_total != w->acked && !bpf_map_update_elem(sc->ack_fd, &w->k, &read_total, BPF_ANY))
		w->acked = read_total;
}

int shortcut_paused(struct shortcut *sc, const struct shortcut_peer *w, bool *paused,
		    uint64_t *drained_at)
{
	struct sc_rcv r;

	if (bpf_map_lookup_elem(sc->rcv_fd, &w->k, &r))
		return -errno;
	/* The queue is read first: it is empty once everything before the TCP bytes now unread is. */
	*paused = r.paused;
	*drained_at = r.redirected + (r.paused ? r.tcp_at_pause : r.tcp_sent);
	return 0;
}

void shortcut_drop_peer(struct shortcut *sc, struct shortcut_peer *w)
{
	struct sc_key peer;

	swapped(&w->k, &peer);
	bpf_map_delete_elem(sc->socks_fd, &peer);
}

void shortcut_leave(struct shortcut *sc, struct shortcut_peer *w)
{
	bpf_map_delete_elem(sc->socks_fd, &w->k);
	bpf_map_delete_elem(sc->rcv_fd, &w->k);
	shortcut_unwatch(sc, w);
}

uint64_t shortcut_acked(const struct shortcut_peer *w)
{
	return w->acked;
}

void shortcut_unwatch(struct shortcut *sc, struct shortcut_peer *w)
{
	if (!w)
		return;
	bpf_map_delete_elem(sc->ack_fd, &w->k);
	free(w);
}

/* Adds port to (or takes it out of) the port map fd. */
static int port_entry(int fd, uint16_t port, bool add)
{
	uint32_t k = port, one = 1;

	if (add)
		return bpf_map_update_elem(fd, &k, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(fd, &k) ? -errno : 0;
}

int shortcut_out_port(struct shortcut *sc, uint16_t port, bool add)
{
	return sc ? port_entry(sc->out_fd, port, add) : 0;
}

int shortcut_bytes(struct shortcut *sc, const struct shortcut_peer *w, int fd, uint64_t *tx,
		   uint64_t *rx)
{
	struct sc_sock st;
	struct sc_rcv rcv;

	*tx = *rx = 0;
	if (bpf_map_lookup_elem(sc->state_fd, &fd, &st) ||
	    bpf_map_lookup_elem(sc->rcv_fd, &w->k, &rcv))
		return -errno;
	*tx = st.tx;
	*rx = rcv.redirected;
	return 0;
}

int shortcut_listen_port(struct shortcut *sc, uint16_t port)
{
	return sc ? port_entry(sc->ports_fd, port, true) : 0;
}

void shortcut_totals(struct shortcut *sc, struct shortcut_totals *t)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t sum[SC_T_N] = { 0 };

	memset(t, 0, sizeof(*t));
	if (!sc || ncpu <= 0)
		return;
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	for (uint32_t i = 0; v && i < SC_T_N; i++)
		if (!bpf_map_lookup_elem(sc->totals_fd, &i, v))
			for (int c = 0; c < ncpu; c++)
				sum[i] += v[c];
	free(v);
	t->bytes = sum[SC_T_BYTES];
	t->msgs = sum[SC_T_MSGS];
	t->tcp_msgs = sum[SC_T_TCP];
	t->recorded = sum[SC_T_RECORDED];
	t->paused = sum[SC_T_PAUSED];
	t->socks = bpf_map_entries(sc->socks_fd, sizeof(struct sc_key));
}

static int recv_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n && (r = recv(fd, buf + got, n - got, 0)) > 0)
		got += (size_t)r;
	return got == n ? 0 : -EIO;
}

/* The bytes and the FIN of the self-test pair a, b, and what the maps counted; NULL or a reason. */
static const char *selftest_bytes(struct shortcut *sc, int a, int b, struct shortcut_peer *wa,
				  struct shortcut_peer *wb)
{
	char out[4096], in[sizeof(out)];
	uint64_t tx, rx, tx2, rx2;
	struct timeval tv = { .tv_sec = 1 };

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + 1);
	setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(a, out, sizeof(out), 0) != (ssize_t)sizeof(out) || recv_all(b, in, sizeof(in)) ||
	    memcmp(in, out, sizeof(in)) || send(b, out, 100, 0) != 100 || recv_all(a, in, 100) ||
	    memcmp(in, out, 100))
		return "bytes sent through the self-test pair did not arrive intact";
	if (shutdown(a, SHUT_WR) || recv(b, in, 1, 0) != 0)
		return "the self-test pair's FIN did not arrive";
	if (shortcut_bytes(sc, wa, a, &tx, &rx) || shortcut_bytes(sc, wb, b, &tx2, &rx2) ||
	    tx != sizeof(out) || rx != 100 || tx2 != 100 || rx2 != sizeof(out))
		return "the self-test pair's bytes went over TCP, not the shortcut";
	return NULL;
}

/* One byte stream each way and a FIN over a loopback pair of our own; NULL or a reason. */
static const char *selftest_pair(struct shortcut *sc, int a, int b)
{
	struct shortcut_peer *wa = NULL, *wb = NULL;
	const char *why = "cannot record sockets in the sockhash";
	struct sc_key ka;

	/* a first, so that b finds its peer; then a is found as one of ours. */
	if (!key_of(sc, a, &ka) && adopt(sc, a, &ka) && (wb = shortcut_watch(sc, b, true)) &&
	    (wa = shortcut_watch(sc, a, false)))
		why = selftest_bytes(sc, a, b, wa, wb);

	shortcut_unwatch(sc, wa);
	shortcut_unwatch(sc, wb);
	return why;
}

static const char *selftest(struct shortcut *sc)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a = -1, b = -1;
	const char *why = "cannot make a loopback socket pair";
	int ncpu = libbpf_num_possible_cpus();

	if (l >= 0 && !bind(l, (struct sockaddr *)&sa, sizeof(sa)) && !listen(l, 1) &&
	    !getsockname(l, (struct sockaddr *)&sa, &len) &&
	    (a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
	    !connect(a, (struct sockaddr *)&sa, sizeof(sa)) &&
	    (b = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		why = selftest_pair(sc, a, b);
	close(a);
	close(b);
	close(l);
	/* The counters start at zero for the daemon's own traffic. */
	uint64_t *zero = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*zero)) : NULL;
	for (uint32_t i = 0; zero && i < SC_T_N; i++)
		bpf_map_update_elem(sc->totals_fd, &i, zero, BPF_ANY);
	free(zero);
	return why;
}

/* The mount point of the cgroup2 file system that holds path. */
static int cgroup_root(const char *path, char *root, size_t n)
{
	char cur[PATH_MAX], *slash;
	struct stat st, up;

	if (!realpath(path, cur) || stat(cur, &st))
		return -errno;
	while ((slash = strrchr(cur, '/')) && slash != cur) {
		*slash = 0;
		if (stat(cur, &up) || up.st_dev != st.st_dev) {
			*slash = '/';
			break;
		}
	}
	if (slash == cur && !stat("/", &up) && up.st_dev == st.st_dev)
		cur[1] = 0;
	snprintf(root, n, "%s", cur);
	return 0;
}

/* The daemon's own cgroup v2 directory, unless it lies within dir (then NULL). */
static char *own_cgroup(const char *dir)
{
	char root[PATH_MAX], given[PATH_MAX], line[PATH_MAX], *own = NULL;
	FILE *f = fopen("/proc/self/cgroup", "re");
	size_t gl;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			if (!cgroup_root(dir, root, sizeof(root)) && realpath(dir, given) &&
			    asprintf(&own, "%s%s", strcmp(root, "/") ? root : "",
				     strcmp(line + 3, "/") || !strcmp(root, "/") ? line + 3 : "") < 0)
				own = NULL;
			break;
		}
	fclose(f);
	gl = own ? strlen(given) : 0;
	if (own && !strncmp(own, given, gl) && (own[gl] == 0 || own[gl] == '/')) {
		free(own);
		own = NULL;
	}
	return own;
}

static int attach_cgroup(struct bpf_program *prog, const char *dir, struct bpf_link **link,
			 const char **why)
{
	struct statfs sf;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0 || fstatfs(fd, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC) {
		r = fd < 0 ? -errno : -ENOTDIR;
		*why = "the --bpf-cgroup path is not a cgroup v2 directory (mount -t cgroup2 none DIR)";
	} else if (!(*link = bpf_program__attach_cgroup(prog, fd))) {
		r = -errno;
		*why = "the kernel refused to attach the sockops program to the cgroup";
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static int load(struct shortcut *sc, const char **why)
{
	int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
	uint64_t netns = 0;

	bpf_log_via_daemon();
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		*why = "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
		return -ENOTSUP;
	}
	r = probe < 0 ? -errno : netns_cookie(probe, &netns);
	if (probe >= 0)
		close(probe);
	if (r) {
		*why = "the kernel has no network namespace cookies (SO_NETNS_COOKIE, Linux 5.14)";
		return r;
	}
	if (!(sc->skel = shortcut_bpf__open())) {
		*why = "cannot open the shortcut programs";
		return -errno ? -errno : -EINVAL;
	}
	sc->skel->bss->own_netns = sc->netns = netns;
	sc->skel->bss->limit = SHORTCUT_LIMIT;
	if (shortcut_bpf__load(sc->skel)) {
		r = -errno;
		*why = bpf_load_failed(r, "the kernel refused the sockops/sk_msg programs (too old, "
				       "or BPF disabled)");
		return r;
	}
	sc->socks_fd = bpf_map__fd(sc->skel->maps.sc_socks);
	sc->state_fd = bpf_map__fd(sc->skel->maps.sc_state);
	sc->ports_fd = bpf_map__fd(sc->skel->maps.sc_ports);
	sc->out_fd = bpf_map__fd(sc->skel->maps.sc_out);
	sc->rcv_fd = bpf_map__fd(sc->skel->maps.sc_rcv);
	sc->ack_fd = bpf_map__fd(sc->skel->maps.sc_ack);
	sc->totals_fd = bpf_map__fd(sc->skel->maps.sc_totals);
	if (bpf_prog_attach(bpf_program__fd(sc->skel->progs.sc_send), sc->socks_fd,
			    BPF_SK_MSG_VERDICT, 0)) {
		*why = "cannot attach the sk_msg program to the sockhash";
		return -errno;
	}
	return 0;
}

int shortcut_open(struct shortcut **out, const char *cgroup, const char **why)
{
	struct shortcut *sc = calloc(1, sizeof(*sc));
	char *own = NULL;
	int r;

	if (!sc) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if ((r = load(sc, why)))
		goto fail;
	if ((*why = selftest(sc))) {
		r = -EPROTO;
		goto fail;
	}
	if ((r = attach_cgroup(sc->skel->progs.sc_record, cgroup, &sc->link, why)))
		goto fail;
	if ((own = own_cgroup(cgroup)) &&
	    (r = attach_cgroup(sc->skel->progs.sc_record_own, own, &sc->own_link, why))) {
		*why = "cannot attach the sockops program to the daemon's own cgroup";
		goto fail;
	}
	log_info("shortcut: what processes of cgroup %s send to this daemon skips the loopback "
		 "TCP stack (sockops + sk_msg; self-test passed)%s%s", cgroup,
		 own ? "; own cgroup " : "", own ? own : "");
	free(own);
	*out = sc;
	return 0;
fail:
	free(own);
	shortcut_close(sc);
	return r;
}

void shortcut_close(struct shortcut *sc)
{
	if (!sc)
		return;
	/*
	 * New connections keep TCP from now on; nothing is pinned, so the
	 * links and maps go with their last fd.
	 */
	if (sc->skel && sc->skel->bss)
		sc->skel->bss->stopped = 1;
	/*
	 * Applications' sockets hold the sk_msg program, and it the maps, until
	 * they leave the map: take them out now (their queues are empty).
	 */
	if (sc->skel) {
		struct sc_key k;

		while (!bpf_map_get_next_key(sc->socks_fd, NULL, &k))
			if (bpf_map_delete_elem(sc->socks_fd, &k))
				break;
	}
	bpf_link__destroy(sc->own_link);
	bpf_link__destroy(sc->link);
	shortcut_bpf__destroy(sc->skel);
	free(sc);
}
