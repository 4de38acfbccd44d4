// SPDX-License-Identifier: MIT
/*
 * Loader of bpf/serve.bpf.c (ssserver: every port from one socket per listen
 * address, protocol and worker): the listen addresses, the worker count, the
 * served ports and the sockets go in its maps; the program is attached to
 * this network namespace through a BPF link. Nothing is pinned: the link and
 * the maps go with the last process that holds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "bpf_common.h"
#include "config.h"
#include "listener.h"
#include "serve.h"
#include "serve_bpf.h"
#include "serve.skel.h"

struct serve {
	struct serve_bpf *skel;
	struct bpf_link *link;
	struct serve_addrs addrs;
	int ports_fd, socks_fd;
	uint32_t *mask; /* the port map as this process knows it (read once), or NULL */
};

/* IPv4 as ::ffff:a.b.c.d; false for another family. */
static bool to_key(const struct sockaddr_storage *sa, struct serve_addr *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->ss_family == AF_INET) {
		uint8_t *b = (uint8_t *)k->addr;

		b[10] = b[11] = 0xff;
		memcpy(b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->ss_family != AF_INET6)
		return false;
	memcpy(k->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return true;
}

static bool wildcard(const struct serve_addr *k, bool *v4)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	*v4 = !memcmp(k->addr, mapped, 12);
	return *v4 ? !k->addr[3] : !k->addr[0] && !k->addr[1] && !k->addr[2] && !k->addr[3];
}

int serve_addr_index(const struct serve *s, const struct sockaddr_storage *sa)
{
	struct serve_addr k, o;

	if (!to_key(sa, &k))
		return -1;
	for (int i = 0; i < s->addrs.n; i++)
		if (to_key(&s->addrs.sa[i], &o) && !memcmp(&k, &o, sizeof(k)))
			return i;
	return -1;
}

/* cfg's listen addresses: servers[] first, then each port's own, once each. */
static int addrs_of(const struct ss_config *cfg, struct serve_addrs *a, const char **why)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < cfg->nservers + cfg->nports; i++) {
		const char *host = i < cfg->nservers ? cfg->servers[i] : cfg->ports[i - cfg->nservers].server;
		struct sockaddr_storage sa;
		struct serve s = { .addrs = *a };
		socklen_t sl;
		int r;

		if (!host)
			continue;
		if ((r = listener_resolve(host, 0, SOCK_STREAM, &sa, &sl, why)))
			return r;
		if (serve_addr_index(&s, &sa) >= 0)
			continue;
		if (a->n == SERVE_ADDRS) {
			*why = "more than 16 listen addresses";
			return -E2BIG;
		}
		a->host[a->n] = host;
		a->sa[a->n] = sa;
		a->v6only[a->n++] = i < cfg->nservers && cfg->nservers > 1;
	}
	return 0;
}

bool serve_wanted(const struct ss_config *cfg)
{
	int ports = 0;

	for (int i = 0; i < cfg->nports; i++)
		ports += cfg->ports[i].port_hi > cfg->ports[i].port ? 2 : 1;
	return cfg->bpf != BPF_OFF && (ports > 1 || cfg->bpf_ports) && !cfg->plugin;
}

/* The listen addresses and the worker count in the maps. */
static int fill(struct serve *s, int workers)
{
	int fd = bpf_map__fd(s->skel->maps.serve_addrs), wild = bpf_map__fd(s->skel->maps.serve_wild);
	uint32_t zero = 0, n = (uint32_t)workers;

	for (int i = 0; i < s->addrs.n; i++) {
		struct serve_addr k;
		uint32_t ix = (uint32_t)i, w1 = ix + 1, wk;
		bool v4;

		to_key(&s->addrs.sa[i], &k);
		if (wildcard(&k, &v4)) {
			wk = v4 ? SERVE_WILD_V4 : SERVE_WILD_V6;
			if (bpf_map_update_elem(wild, &wk, &w1, BPF_ANY))
				return -errno;
		} else if (bpf_map_update_elem(fd, &k, &ix, BPF_ANY)) {
			return -errno;
		}
	}
	return bpf_map_update_elem(bpf_map__fd(s->skel->maps.serve_conf), &zero, &n, BPF_ANY) ?
		       -errno : 0;
}

static int attach(struct serve *s, const char **why)
{
	return (s->link = bpf_attach_here(s->skel->progs.serve_lookup, why)) ? 0 : -errno;
}

int serve_open(struct serve **out, const struct ss_config *cfg, const char **why)
{
	struct serve *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (cfg->workers > SERVE_WORKERS) {
		*why = "more than 64 workers";
		r = -E2BIG;
		goto err;
	}
	if ((r = addrs_of(cfg, &s->addrs, why)))
		goto err;
	bpf_log_via_daemon();
	if (!(s->skel = serve_bpf__open_and_load())) {
		r = -errno;
		*why = bpf_load_failed(r, "the kernel refused the sk_lookup program (needs Linux 5.9+)");
		goto err;
	}
	s->ports_fd = bpf_map__fd(s->skel->maps.serve_ports);
	s->socks_fd = bpf_map__fd(s->skel->maps.serve_socks);
	if ((r = fill(s, cfg->workers))) {
		*why = "cannot fill the maps of the sk_lookup program";
		goto err;
	}
	if ((r = attach(s, why)))
		goto err;
	*out = s;
	return 0;
err:
	serve_close(s);
	return r;
}

void serve_close(struct serve *s)
{
	if (!s)
		return;
	bpf_link__destroy(s->link);
	serve_bpf__destroy(s->skel);
	free(s->mask);
	free(s);
}

const struct serve_addrs *serve_addrs(const struct serve *s)
{
	return &s->addrs;
}

int serve_sock_set(struct serve *s, int ai, int worker, bool udp, int fd)
{
	uint32_t k = SERVE_SOCK_KEY((uint32_t)ai, (uint32_t)worker, udp ? 1u : 0u);
	uint64_t v = (uint64_t)fd;

	if (ai < 0 || ai >= SERVE_ADDRS || worker < 0 || worker >= SERVE_WORKERS)
		return -EINVAL;
	return bpf_map_update_elem(s->socks_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* The port map copied once into this process (a reload then compares without system calls). */
static uint32_t *mask_copy(struct serve *s)
{
	if (!s->mask && (s->mask = calloc(65536, sizeof(*s->mask))))
		for (uint32_t k = 0; k < 65536; k++)
			bpf_map_lookup_elem(s->ports_fd, &k, &s->mask[k]);
	return s->mask;
}

int serve_port_set(struct serve *s, uint16_t port, uint32_t mask)
{
	uint32_t k = port, *copy = mask_copy(s);

	if (copy && copy[port] == mask)
		return 0;
	if (bpf_map_update_elem(s->ports_fd, &k, &mask, BPF_ANY))
		return -errno;
	if (copy)
		copy[port] = mask;
	return 0;
}

void serve_counts(const struct serve *s, uint64_t *tcp, uint64_t *udp)
{
	int n = libbpf_num_possible_cpus(), fd = bpf_map__fd(s->skel->maps.served);
	uint64_t v[n > 0 ? n : 1];

	*tcp = *udp = 0;
	for (uint32_t k = 0; k < 2 && n > 0; k++) {
		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		for (int c = 0; c < n; c++)
			*(k ? udp : tcp) += v[c];
	}
}

/* prog's map named "serve_ports", as a new fd, or -1. */
static int ports_map_of(int prog)
{
	struct bpf_prog_info pi = { 0 };
	uint32_t ids[16], len = sizeof(pi);

	pi.nr_map_ids = 16;
	pi.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(prog, &pi, &len) || strcmp(pi.name, "serve_lookup"))
		return -1;
	for (uint32_t i = 0; i < pi.nr_map_ids && i < 16; i++) {
		struct bpf_map_info mi = { 0 };
		uint32_t ml = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &mi, &ml) && !strcmp(mi.name, "serve_ports"))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info pi = { 0 };
	uint32_t len = sizeof(pi);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &pi, &len) ? pi.id : 0;
}

int serve_other_maps(const struct serve *own, int *fds, int max)
{
	uint32_t ids[64], cnt = 64, flags = 0, mine;
	int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), n = 0;

	if (ns < 0)
		return 0;
	if (bpf_prog_query(ns, BPF_SK_LOOKUP, 0, &flags, ids, &cnt))
		cnt = 0;
	close(ns);
	mine = own ? prog_id(bpf_program__fd(own->skel->progs.serve_lookup)) : 0;
	for (uint32_t i = 0; i < cnt && n < max; i++) {
		int prog = ids[i] == mine ? -1 : bpf_prog_get_fd_by_id(ids[i]);

		if (prog < 0)
			continue;
		if ((fds[n] = ports_map_of(prog)) >= 0)
			n++;
		close(prog);
	}
	return n;
}

bool serve_map_has(int fd, uint16_t port)
{
	uint32_t k = port, v = 0;

	return !bpf_map_lookup_elem(fd, &k, &v) && v;
}
