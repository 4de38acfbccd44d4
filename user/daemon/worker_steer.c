// SPDX-License-Identifier: MIT
/* sslocal redir --steer in a worker: the install by worker 0, its address watch and reload. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "config.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "steer.h"
#include "udp.h"
#include "upstream.h"
#include "worker.h"

static void on_steer_watch(struct handler *h, uint32_t events)
{
	struct worker *w = container_of(h, struct worker, steer_watch);

	(void)events;
	steer_watch_read(w->steer);
}

/* A server's addresses are never steered (upstream_each's callback). */
static void exclude_server(void *arg, const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV }, *res;
	char ps[8];

	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &res))
		return;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		steer_exclude_addr(arg, ai->ai_addr);
	freeaddrinfo(res);
}

/*
 * The steering lists of cfg; the way to the servers themselves (the
 * configuration's, and the online ones pl holds now) is never steered.
 */
static int steer_spec_of(const struct ss_config *cfg, struct upstream_pool *pl,
			 struct steer_spec *spec, const char **why)
{
	struct steer_sources src;
	int r;

	config_steer_sources(cfg, &src);
	if ((r = steer_parse(spec, &src, why))) {
		steer_spec_free(spec);
		return r;
	}
	upstream_each(cfg, exclude_server, spec);
	if (pl) {
		upstream_pool_sync(pl);
		upstream_pool_each_online(pl, exclude_server, spec);
	}
	return 0;
}

/*
 * redir --steer: the first worker installs the steering (the others share
 * its ports through SO_REUSEPORT, and sk_lookup's pick is spread over them).
 * --bpf auto falls back to nftables TPROXY with one line saying why.
 */
int worker_steer_setup(struct worker *w, bool tcp, const char **why)
{
	const struct ss_config *cfg = w->ctx.cfg;
	struct steer_spec spec;
	struct steer_params sp = {
		.spec = &spec, .bpf = cfg->bpf != BPF_OFF,
		.port = (uint16_t)cfg->local_port, .tcp_fd = tcp ? listener_fd(&w->ls) : -1,
		.udp_fd = udp_redir_fd(&w->ctx), .mark = (uint32_t)cfg->fwmark,
		.table = (uint32_t)cfg->route_table, .predecessor = (int)daemon_upgraded_from(),
	};
	int r;

	if ((r = steer_spec_of(cfg, w->ctx.servers, &spec, why)))
		return r;
	r = steer_install(&w->steer, &sp, why);
	if (r && sp.bpf && cfg->bpf == BPF_AUTO) {
		log_warn("steering: sk_lookup unavailable (%s); using nftables TPROXY instead", *why);
		sp.bpf = false;
		if ((r = steer_spec_of(cfg, w->ctx.servers, &spec, why)))
			return r;
		r = steer_install(&w->steer, &sp, why);
	}
	if (w->ctx.servers)
		w->steer_servers = w->ctx.servers->gen;
	if (!r && (w->steer_watch.fd = steer_watch_fd(w->steer)) >= 0) {
		w->steer_watch.on_event = on_steer_watch;
		loop_watch(w->ctx.loop, &w->steer_watch, EPOLLIN);
	}
	return r;
}

/*
 * sslocal redir SIGHUP, or a change of the online servers: the steering
 * lists again (files, ACL, config, the servers); connections stay.
 */
void worker_steer_reload(struct worker *w)
{
	const char *why = "";
	struct ss_config *n;
	struct steer_spec spec;

	if (w->ctx.servers)
		w->steer_servers = w->ctx.servers->gen; /* tried once per change of the list */
	if (!(n = config_reload(w->ctx.cfg, &why))) {
		log_err("reload refused, still steering the old lists: %s", why);
		return;
	}
	if (steer_spec_of(n, w->ctx.servers, &spec, &why))
		log_err("reload refused, still steering the old lists: %s", why);
	else if (steer_reload(w->steer, &spec, &why))
		log_err("steering reload: %s", why);
	steer_spec_free(&spec);
	config_free(n);
	free(n);
}

void worker_steer_tick(struct worker *w)
{
	struct upstream_pool *pl = w->ctx.servers;

	if (!w->steer || !pl)
		return;
	upstream_pool_sync(pl);
	if (pl->gen == w->steer_servers)
		return;
	log_info("steering: the online servers changed; their addresses are excluded anew");
	worker_steer_reload(w);
}
