// SPDX-License-Identifier: MIT
/*
 * ssserver: each configured port's keys (its password, or its users), its
 * TCP listeners (tagged with the keys) and UDP relays; a reload adds,
 * removes and re-keys ports without touching the connections of the others.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "listener.h"
#include "log.h"
#include "port_index.h"
#include "serve.h"
#include "server_ports.h"
#include "shortcut.h"
#include "udp.h"

/* The keys of one port: its password, or one per user. */
static struct port_keys *keys_build(const struct cfg_port *cp)
{
	struct port_keys *pk = calloc(1, sizeof(*pk));
	unsigned n = cp->nusers ? (unsigned)cp->nusers : 1;

	if (!pk || port_keys_alloc(pk, cp->port, n) ||
	    (cp->server && !(pk->server = strdup(cp->server))))
		goto fail;
	pk->port_last = config_port_last(cp);
	for (unsigned i = 0; i < n; i++) {
		const struct cfg_user *u = cp->nusers ? &cp->users[i] : NULL;

		if (key_init(&pk->keys[i], cp->m, u ? u->password : cp->password ? cp->password : "",
			     !u && cp->raw_key, u ? u->name : NULL, cp->port))
			goto fail;
		pk->keys[i].port_slot = cp->slot;
		pk->keys[i].rate = u && u->rate_limit ? u->rate_limit : cp->rate_limit;
		pk->keys[i].data_limit = u && u->data_limit ? u->data_limit : cp->data_limit;
		pk->keys[i].limit_slot = u && u->data_limit ? u->slot : cp->slot;
		pk->keys[i].slot = u ? u->slot : -1;
		/* SIP023: a 2022 port's password with users is the identity PSK. */
		if (u && cp->m->sip022 && key_expect_identity(&pk->keys[i], cp->password))
			goto fail;
	}
	if (cp->nusers && cp->m->sip022 && port_keys_index_identities(pk))
		goto fail;
	return pk;
fail:
	if (pk)
		port_keys_free(pk);
	free(pk);
	return NULL;
}

static void keys_free(struct port_keys *pk)
{
	port_keys_free(pk);
	free(pk);
}

/* The listen addresses (bits of serve.h's mask) port cp is served on; 0: not all of them are. */
static uint32_t serve_mask_of(const struct ctx *p, const struct cfg_port *cp)
{
	const struct ss_config *cfg = p->cfg;
	uint32_t mask = 0;

	for (int i = 0; i < (cp->server ? 1 : cfg->nservers); i++) {
		const char *host = cp->server ? cp->server : cfg->servers[i], *why;
		struct sockaddr_storage sa;
		socklen_t sl;
		int ai;

		if (listener_resolve(host, 0, SOCK_STREAM, &sa, &sl, &why) ||
		    (ai = serve_addr_index(p->serve, &sa)) < 0)
			return 0;
		mask |= 1u << ai;
	}
	return mask;
}

/* One port of cp: its own sockets. */
static int open_one(struct ctx *p, struct listeners *ls, const struct cfg_port *cp, int port,
		    struct port_keys *pk, bool tcp, bool udp, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	struct listen_opts o = { .reuse_port = cfg->reuse_port, .fast_open = cfg->fast_open,
				 .mptcp = cfg->mptcp,
				 .v6only = !cp->server && cfg->nservers > 1, .tag = pk };
	int r;

	if (tcp && cfg->plugin_port) {
		o.v6only = false;
		o.held = true;
		o.worker = p->index;
		if ((r = listener_open(ls, "127.0.0.1", cfg->plugin_port, &o, why)))
			return r;
		shortcut_listen_port(p->sc, (uint16_t)cfg->plugin_port);
		tcp = false;
	}
	for (int i = 0; i < (cp->server ? 1 : cfg->nservers); i++) {
		const char *host = cp->server ? cp->server : cfg->servers[i];

		o.held = true;
		o.worker = p->index;
		if (tcp && (r = listener_open(ls, host, port, &o, why)))
			return r;
		if (tcp)
			shortcut_listen_port(p->sc, (uint16_t)port);
		if (udp && (r = udp_listen(p, UDP_SERVER, host, port, pk, true, why)))
			return r;
	}
	return 0;
}

/* One port: TCP (from the plugin on loopback, when there is one) and UDP; each of a range. */
static int open_port(struct ctx *p, struct listeners *ls, const struct cfg_port *cp,
		     struct port_keys *pk, bool tcp, bool udp, const char **why)
{
	int r;

	if (cp->nusers)
		log_info("port %d: %d users, method %s", cp->port, cp->nusers, cp->m->name);
	/* --bpf: served through the listen addresses' sockets; only the map changes. */
	if (p->serve && !p->cfg->plugin_port && (pk->serve_mask = serve_mask_of(p, cp))) {
		for (int port = cp->port; port <= config_port_last(cp); port++)
			shortcut_listen_port(p->sc, (uint16_t)port);
		return 0;
	}
	for (int port = cp->port; port <= config_port_last(cp); port++)
		if ((r = open_one(p, ls, cp, port, pk, tcp, udp, why)))
			return r;
	return 0;
}

/* Did old listen on port at host (its own address, or one of "server")? */
static bool had_port(const struct ss_config *old, int port, const char *host)
{
	for (int i = 0; old && i < old->nports; i++) {
		const struct cfg_port *o = &old->ports[i];

		if (port < o->port || port > config_port_last(o))
			continue;
		if (o->server && !strcmp(o->server, host))
			return true;
		for (int j = 0; !o->server && j < old->nservers; j++)
			if (!strcmp(old->servers[j], host))
				return true;
	}
	return false;
}

/* Is port served by another ssserver's sk_lookup program (one of the maps)? */
static bool served_elsewhere(const int *maps, int n, int port, bool say)
{
	for (int i = 0; i < n; i++) {
		if (!serve_map_has(maps[i], (uint16_t)port))
			continue;
		if (say)
			log_err("bind: Address already in use (port %d: another ssserver serves it "
				"through sk_lookup)", port);
		return true;
	}
	return false;
}

int server_ports_taken(const struct ss_config *cfg, const struct ss_config *old,
		       const struct serve *own, bool say)
{
	int taken = 0, maps[8], nmaps = serve_wanted(cfg) ? serve_other_maps(own, maps, 8) : 0;

	for (int i = 0; i < cfg->nports; i++) {
		const struct cfg_port *cp = &cfg->ports[i];

		for (int port = cp->port; port <= config_port_last(cp); port++)
			for (int j = 0; j < (cp->server ? 1 : cfg->nservers); j++) {
				const char *host = cp->server ? cp->server : cfg->servers[j];
				bool v6only = !cp->server && cfg->nservers > 1;

				if (had_port(old, port, host))
					continue;
				taken += listener_taken_log(host, port, cfg->mode != MODE_UDP_ONLY,
							    cfg->mode != MODE_TCP_ONLY, v6only, say);
				taken += served_elsewhere(maps, nmaps, port, say);
			}
	}
	while (nmaps)
		close(maps[--nmaps]);
	return taken;
}

/* --bpf: this worker's TCP and UDP socket for each listen address, in the program's map. */
static int serve_sockets(struct ctx *p, struct listeners *ls, bool tcp, bool udp, const char **why)
{
	const struct serve_addrs *a = serve_addrs(p->serve);
	int r, fd;

	for (int i = 0; i < a->n; i++) {
		struct listen_opts o = { .fast_open = p->cfg->fast_open, .mptcp = p->cfg->mptcp,
					 .v6only = a->v6only[i], .tag = &p->serve_tag[i],
					 .held = true, .worker = p->index };

		if (tcp && (r = listener_open(ls, a->host[i], 0, &o, why)))
			return r;
		if (tcp && (r = serve_sock_set(p->serve, i, p->index, false, listener_fd(ls))))
			goto refused;
		if (udp && (fd = udp_listen_shared(p, a->host[i], i, why)) < 0)
			return fd;
		if (udp && (r = serve_sock_set(p->serve, i, p->index, true, fd)))
			goto refused;
	}
	return 0;
refused:
	*why = "the kernel refused a socket in the sk_lookup map";
	return r;
}

/* Worker 0 tells the program which ports each listen address serves (the others follow it). */
static void serve_publish(struct ctx *p)
{
	uint32_t *mask;

	if (!p->serve || p->index || !(mask = calloc(65536, sizeof(*mask))))
		return;
	for (const struct port_keys *pk = p->ports; pk; pk = pk->next)
		for (int port = pk->port; port <= pk->port_last; port++)
			mask[port] |= pk->serve_mask;
	for (int port = 1; port < 65536; port++)
		if (serve_port_set(p->serve, (uint16_t)port, mask[port]))
			log_err("ports: cannot serve port %d through sk_lookup: %s", port, strerror(errno));
	free(mask);
}

/* The ports by number, for the listen addresses' sockets (made with them, at start). */
static void index_ports(struct ctx *p)
{
	if (p->port_ix)
		port_index_build(p->port_ix, p->ports);
}

struct port_keys *server_ports_find(struct ctx *p, int ai, int port)
{
	return p->port_ix ? port_index_find(p->port_ix, ai, port) : NULL;
}

struct port_keys *server_ports_of_conn(struct ctx *p, void *tag, int fd)
{
	struct sockaddr_storage here;
	socklen_t len = sizeof(here);
	ptrdiff_t ai = (char *)tag - p->serve_tag;

	if (ai < 0 || ai >= SERVE_ADDRS)
		return tag;
	if (getsockname(fd, (struct sockaddr *)&here, &len))
		return NULL;
	return server_ports_find(p, (int)ai, ss_sa_port(&here));
}

int server_ports_open(struct ctx *p, struct listeners *ls, bool tcp, bool udp, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	int r;

	if (p->serve && !(p->port_ix = malloc(sizeof(*p->port_ix)))) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (p->serve && !cfg->plugin_port && (r = serve_sockets(p, ls, tcp, udp, why)))
		return r;

	for (int i = cfg->nports - 1; i >= 0; i--) {
		struct port_keys *pk = keys_build(&cfg->ports[i]);

		if (!pk) {
			*why = "cannot derive the keys";
			return -ENOMEM;
		}
		pk->next = p->ports;
		p->ports = pk;
		if ((r = open_port(p, ls, &cfg->ports[i], pk, tcp, udp, why)))
			return r;
	}
	index_ports(p);
	serve_publish(p);
	return 0;
}

/* Same port and address, and the same keys in the same order? */
static bool same_port(const struct port_keys *pk, const struct cfg_port *cp)
{
	return pk->port == cp->port && !strcmp(pk->server ? pk->server : "", cp->server ? cp->server : "");
}

static bool same_keys(const struct port_keys *a, const struct port_keys *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (a->keys[i].m != b->keys[i].m || strcmp(a->keys[i].user, b->keys[i].user) ||
		    memcmp(a->keys[i].master, b->keys[i].master, sizeof(a->keys[i].master)))
			return false;
	return true;
}

/* The same keys with new limits: its live connections take new rates at once. */
static void take_rates(struct ctx *p, struct port_keys *pk, const struct port_keys *nk)
{
	bool changed = false;

	for (unsigned i = 0; i < pk->n; i++) {
		changed |= pk->keys[i].rate != nk->keys[i].rate;
		pk->keys[i].rate = nk->keys[i].rate;
		if (pk->keys[i].data_limit != nk->keys[i].data_limit)
			log_info("reload: port %d%s%s: data limit %llu bytes", pk->port,
				 *pk->keys[i].user ? ", user " : "", pk->keys[i].user,
				 (unsigned long long)nk->keys[i].data_limit);
		pk->keys[i].data_limit = nk->keys[i].data_limit;
		pk->keys[i].limit_slot = nk->keys[i].limit_slot;
	}
	if (!changed)
		return;
	log_info("reload: port %d: new rate limits, live connections included", pk->port);
	conn_pace_all(p, pk);
}

/* A port a reload dropped or replaced: freed once its last connection is gone. */
static void retire(struct ctx *p, struct port_keys *pk)
{
	pk->next = p->retired;
	p->retired = pk;
	server_ports_sweep(p);
}

/* One port of the new file: kept, re-keyed or opened; the new list gets it. */
static int reload_port(struct ctx *p, struct listeners *ls, const struct cfg_port *cp,
		       struct port_keys **old, struct port_keys **list, bool tcp, bool udp)
{
	struct port_keys *nk = keys_build(cp), **at = old;
	const char *why = "";

	if (!nk)
		return -ENOMEM;
	while (*at && !same_port(*at, cp))
		at = &(*at)->next;
	if (*at) {
		struct port_keys *pk = *at;

		*at = pk->next;
		if (same_keys(pk, nk)) {
			take_rates(p, pk, nk);
			keys_free(nk);
			nk = pk;
		} else {
			log_info("reload: port %d re-keyed; its live connections keep their keys", cp->port);
			nk->serve_mask = pk->serve_mask;
			listener_retag(ls, pk, nk);
			udp_retag(p, pk, nk);
			retire(p, pk);
		}
	} else if (open_port(p, ls, cp, nk, tcp, udp, &why)) {
		log_err("reload: cannot open port %d: %s", cp->port, why);
		listener_close_tag(ls, nk);
		udp_close_all(p, nk);
		keys_free(nk);
		return 0;
	} else {
		log_info("reload: port %d added", cp->port);
	}
	nk->next = *list;
	*list = nk;
	return 0;
}

int server_ports_reload(struct ctx *p, struct listeners *ls, bool tcp, bool udp)
{
	struct port_keys *old = p->ports, *list = NULL;
	int r;

	for (int i = 0; i < p->cfg->nports; i++)
		if ((r = reload_port(p, ls, &p->cfg->ports[i], &old, &list, tcp, udp)))
			return r;
	/* What is left of the old list is gone from the file: it closes with its connections. */
	while (old) {
		struct port_keys *pk = old;

		old = pk->next;
		log_info("reload: port %d removed; closing its connections", pk->port);
		listener_close_tag(ls, pk);
		udp_close_all(p, pk);
		conn_destroy_all(p, pk, "its port was removed");
		retire(p, pk);
	}
	p->ports = list;
	index_ports(p);
	serve_publish(p);
	return 0;
}

void server_ports_sweep(struct ctx *p)
{
	for (struct port_keys **at = &p->retired; *at;) {
		struct port_keys *pk = *at;

		if (pk->refs) {
			at = &pk->next;
			continue;
		}
		*at = pk->next;
		keys_free(pk);
	}
}

void server_ports_free(struct ctx *p)
{
	free(p->port_ix);
	p->port_ix = NULL;
	while (p->ports) {
		struct port_keys *pk = p->ports;

		p->ports = pk->next;
		keys_free(pk);
	}
	while (p->retired) {
		struct port_keys *pk = p->retired;

		p->retired = pk->next;
		keys_free(pk);
	}
}
