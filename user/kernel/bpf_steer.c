// SPDX-License-Identifier: MIT
/*
 * Loader of bpf/steer.bpf.c (sk_lookup steering for sslocal redir): fills
 * the port table and the socket map, keeps the prefix tries in step with
 * the lists, reads the counts, and attaches the
 * program to this network namespace through a BPF link. Nothing is pinned:
 * when the daemon exits or dies, the link and the maps go with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_common.h"
#include "log.h"
#include "steer.h"
#include "steer_bpf.h"
#include "steer.skel.h"

struct bpf_steer {
	struct steer_bpf *skel;
	struct bpf_link *link;
};

static void to_key(const struct steer_prefix *p, struct steer_key *k)
{
	memset(k, 0, sizeof(*k));
	if (p->family == AF_INET) {
		uint8_t *b = (uint8_t *)k->addr;

		b[10] = b[11] = 0xff;
		memcpy(b + 12, p->addr, 4);
		k->prefixlen = 96u + p->len;
	} else {
		memcpy(k->addr, p->addr, 16);
		k->prefixlen = p->len;
	}
}

struct trie_op {
	int fd;
	bool add;
};

static int trie_one(void *arg, const struct steer_prefix *p)
{
	const struct trie_op *o = arg;
	struct steer_key k;
	uint8_t one = 1;

	to_key(p, &k);
	if (o->add)
		return bpf_map_update_elem(o->fd, &k, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(o->fd, &k) && errno != ENOENT ? -errno : 0;
}

int bpf_steer_lists(struct bpf_steer *b, const struct steer_list *old_steer,
		    const struct steer_list *old_exclude, const struct steer_spec *spec)
{
	int steer = bpf_map__fd(b->skel->maps.steer_to), excl = bpf_map__fd(b->skel->maps.exclude);
	struct trie_op add_s = { steer, true }, del_s = { steer, false };
	struct trie_op add_x = { excl, true }, del_x = { excl, false };
	int r;

	/* A destination steered before and after is never unsteered meanwhile. */
	if ((r = steer_list_each_new(&spec->exclude, old_exclude, trie_one, &add_x)) ||
	    (r = steer_list_each_new(&spec->steer, old_steer, trie_one, &add_s)) ||
	    (r = steer_list_each_new(old_steer, &spec->steer, trie_one, &del_s)))
		return r;
	return steer_list_each_new(old_exclude, &spec->exclude, trie_one, &del_x);
}

void bpf_steer_counts(struct bpf_steer *b, uint64_t *tcp, uint64_t *udp)
{
	int fd = bpf_map__fd(b->skel->maps.steered), ncpu = libbpf_num_possible_cpus();
	uint64_t *v;

	*tcp = *udp = 0;
	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return;
	for (uint32_t k = 0; k < 2; k++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
		*(k == STEER_SOCK_TCP ? tcp : udp) = sum;
	}
	free(v);
}

static int fill(struct bpf_steer *b, const struct steer_spec *s, int tcp_fd, int udp_fd)
{
	int ports = bpf_map__fd(b->skel->maps.ports), socks = bpf_map__fd(b->skel->maps.redir_socks);
	uint8_t one = 1;

	for (uint32_t port = 1; port < 65536; port++) {
		bool on = !s->nports;

		for (int i = 0; i < s->nports && !on; i++)
			on = port >= s->ports[i].lo && port <= s->ports[i].hi;
		if (on && bpf_map_update_elem(ports, &port, &one, BPF_ANY))
			return -errno;
	}
	for (uint32_t k = 0; k < 2; k++) {
		uint64_t fd = (uint64_t)(k == STEER_SOCK_TCP ? tcp_fd : udp_fd);

		if ((int)fd >= 0 && bpf_map_update_elem(socks, &k, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

int bpf_steer_open(struct bpf_steer **out, const struct steer_spec *spec, int tcp_fd, int udp_fd,
		   const char **why)
{
	struct bpf_steer *b = calloc(1, sizeof(*b));
	int r;

	if (!b) {
		*why = "out of memory";
		return -ENOMEM;
	}
	bpf_log_via_daemon();
	b->skel = steer_bpf__open_and_load();
	if (!b->skel) {
		r = -errno;
		*why = bpf_load_failed(r, "the kernel refused the sk_lookup program (needs Linux 5.9+)");
		goto err;
	}
	if ((r = fill(b, spec, tcp_fd, udp_fd))) {
		*why = "cannot fill the steering maps (a redir socket the kernel cannot steer to?)";
		goto err;
	}
	if (!(b->link = bpf_attach_here(b->skel->progs.steer_lookup, why))) {
		r = -errno;
		goto err;
	}
	*out = b;
	return 0;
err:
	bpf_steer_close(b);
	return r;
}

void bpf_steer_close(struct bpf_steer *b)
{
	if (!b)
		return;
	bpf_link__destroy(b->link);
	steer_bpf__destroy(b->skel);
	free(b);
}
