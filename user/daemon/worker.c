// SPDX-License-Identifier: MIT
/*
 * One worker: its event loop, listeners, UDP relays and connections, the
 * tick, signals and SIGQUIT drain; shared by ssserver and sslocal. The path
 * of one connection through the modules is in docs/architecture.md.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "conn.h"
#include "conn_view.h"
#include "capture.h"
#include "capture_setup.h"
#include "counters.h"
#include "ctl.h"
#include "ctx.h"
#include "daemon.h"
#include "dns.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "privs.h"
#include "procstat.h"
#include "replay_file.h"
#include "sbuf.h"
#include "stats.h"
#include "server_ports.h"
#include "shortcut.h"
#include "sockpool.h"
#include "steer.h"
#include "traffic.h"
#include "upstream.h"
#include "upstream_check.h"
#include "udp.h"
#include "worker.h"

#define TICK_MS 100


/*
 * ssserver SIGHUP: the config file again. A worker of a tree reloads what
 * its parent already checked and gave traffic slots to; a lone worker does
 * both itself. Ports and users change; live connections stay.
 */
static void reload(struct worker *w)
{
	struct ctx *p = &w->ctx;
	bool alone = daemon_is_main();
	const char *err = "";
	struct ss_config *n = config_reload(p->cfg, &err);

	if (!n) {
		log_err("reload refused, still serving the old configuration: %s", err);
		return;
	}
	traffic_assign(p->traffic, n, alone);
	if (alone)
		sockpool_prune(config_serves_port, n);
	p->cfg = n;
	if (server_ports_reload(p, &w->ls, n->mode != MODE_UDP_ONLY, n->mode != MODE_TCP_ONLY))
		log_err("reload: out of memory");
	if (w->own_cfg) {
		config_free(w->own_cfg);
		free(w->own_cfg);
	}
	w->own_cfg = n;
	if (alone)
		log_info("reload: %d ports", n->nports);
}

/* SIGQUIT, or a successor serves: no new connections; live ones until the drain timeout. */
static void drain(struct worker *w)
{
	struct ctx *p = &w->ctx;
	int secs = p->cfg->drain_timeout ? p->cfg->drain_timeout : p->cfg->timeout;

	if (w->draining)
		return;
	log_info("draining: no new connections; %u live ones have at most %d s", p->conns.n, secs);
	w->draining = true;
	w->drain_deadline = loop_now(p->loop) + (uint64_t)secs * 1000;
	listener_close_all(&w->ls);
	/* A lone worker's held copies too: SIGQUIT refuses new clients (a successor holds its own). */
	sockpool_drop_copies();
	udp_drain(p);
	udp_sweep(p, loop_now(p->loop), (uint64_t)p->cfg->timeout * 1000);
	if (!p->conns.n && !p->udp)
		loop_stop(p->loop);
}

static void upgraded(void *arg, bool ok)
{
	struct worker *w = arg;

	w->handed_over |= ok;
	if (ok)
		drain(w);
}

/* A lone worker's upgrade (a tree's parent runs its own); 0 or -errno with *why. */
static int upgrade(struct worker *w, const char *who, const char **why)
{
	struct upgrade_of o = { .loop = w->ctx.loop, .cfg = w->ctx.cfg, .ctl = &w->ctl,
				.metrics = &w->metrics, .traffic = w->ctx.traffic, .who = who,
				.done = upgraded, .arg = w };

	return upgrade_begin(&w->up, &o, why);
}

static void on_signal(void *arg, int signo)
{
	struct worker *w = arg;
	struct ctx *p = &w->ctx;
	const char *why = "";

	if (signo == SIGQUIT) {
		drain(w);
		return;
	}
	/* A lone worker upgrades; a tree's worker hears that its parent's successor serves. */
	if (signo == SIGUSR2 && daemon_is_main()) {
		upgrade(w, "SIGUSR2", &why);
		return;
	}
	if (signo == SIGUSR2) {
		w->handed_over = true;
		drain(w);
		return;
	}
	if (signo == SIGHUP && p->cfg->prog == PROG_SERVER) {
		reload(w);
		return;
	}
	if (signo == SIGHUP && w->steer) {
		worker_steer_reload(w);
		return;
	}
	if (signo == SIGHUP || signo == SIGUSR1) {
		worker_log_stats(&w->ctx);
		return;
	}
	log_info("%s: exiting", strsignal(signo));
	loop_stop(p->loop);
}

/*
 * After a crowd of connections has gone, give the memory back: keep a few
 * pooled buffers and return freed heap pages to the kernel.
 */
static void trim_memory(struct worker *w)
{
	unsigned n = w->ctx.conns.n;

	if (n > w->peak)
		w->peak = n;
	/* After a crowd: at each quarter of the peak, and once more when all are gone. */
	if (!(w->peak >= 256 && n <= w->peak / 4) && !(w->peak >= 64 && !n))
		return;
	pool_buf_trim(&w->ctx.pool);
	malloc_trim(0);
	w->peak = n;
}

/* What only the worker knows, for ssctl stats and /metrics: its resolver cache, its BPF objects. */
static void publish(struct worker *w)
{
	struct ctx *p = &w->ctx;
	struct conn_stats st;

	if (++w->ticks % 10)
		return;
	dns_stats(p->dns, &p->ctr->dns_hits, &p->ctr->dns_misses, &p->ctr->dns_cache_entries);
	conn_stats(p, &st);
	p->ctr->bpf_loaded = st.sockmap_loaded;
	p->ctr->sockmap_socks = st.sockmap_socks;
	if (p->sc && p->index == 0) {
		struct shortcut_totals t;

		shortcut_totals(p->sc, &t);
		p->ctr->shortcut_socks = t.socks;
		p->ctr->shortcut_redirected = t.bytes;
	}
	if (p->cap && p->index == 0)
		capture_publish(p);
	if (w->steer) {
		struct steer_stats ss;

		steer_get_stats(w->steer, &ss);
		p->ctr->steer_prefixes = ss.steer;
		p->ctr->steer_exclusions = ss.exclude;
		p->ctr->steer_from_files = ss.from_files;
		p->ctr->steer_from_acl = ss.from_acl;
		p->ctr->steered_tcp = ss.steered_tcp;
		p->ctr->steered_udp = ss.steered_udp;
	}
}

static void on_tick(void *arg)
{
	struct worker *w = arg;
	struct ctx *p = &w->ctx;
	uint64_t now = loop_now(p->loop);

	trim_memory(w);
	pool_pipe_trim(&p->pool);
	dns_tick(p->dns);
	conn_sweep(p, now, (uint64_t)p->cfg->timeout * 1000,
		   (uint64_t)p->cfg->handshake_timeout * 1000);
	udp_sweep(p, now, (uint64_t)p->cfg->timeout * 1000);
	listener_tick(&w->ls);
	server_ports_sweep(p);
	if (p->traffic && now - w->spent_seen >= 1000) {
		conn_end_spent(p);
		w->spent_seen = now;
	}
	metrics_tick(w->metrics, now);
	upgrade_tick(&w->up, now);
	steer_tick(w->steer);
	worker_steer_tick(w);
	if (w->checks)
		upstream_checks_tick(w->checks);
	publish(w);
	/* A lone worker keeps the replay filter's file; in a tree, the parent does. */
	if (daemon_is_main() && now - w->replay_saved >= REPLAY_SYNC_S * 1000) {
		char path[PATH_MAX];

		if (w->replay_saved)
			replay_file_sync(p->cfg, &p->replay, p->salts);
		/* A predecessor's last bytes, written at its exit. */
		if (p->traffic && traffic_path(p->cfg, path, sizeof(path)))
			traffic_take_added(p->traffic, path);
		w->replay_saved = now;
	}
	if (daemon_is_main())
		daemon_follow_manager();
	if (w->draining && now >= w->drain_deadline) {
		conn_destroy_all(p, NULL, "drain deadline");
		udp_close_all(p, NULL);
	}
}

static bool has_room(void *arg)
{
	struct worker *w = arg;
	int max = w->ctx.cfg->max_connections;

	if (!max || w->ctx.conns.n < (unsigned)max)
		return true;
	if (!w->ls.full)
		log_warn("%u connections: the max_connections limit; accepting again below it",
			 w->ctx.conns.n);
	return false;
}

static enum conn_role listener_role(const struct ss_config *cfg)
{
	if (cfg->prog == PROG_SERVER)
		return ROLE_SERVER;
	if (cfg->relay)
		return ROLE_RELAY;
	if (cfg->local_mode == LOCAL_REDIR)
		return ROLE_REDIR;
	return cfg->local_mode == LOCAL_TUNNEL ? ROLE_TUNNEL : ROLE_SOCKS;
}

static void on_conn(void *arg, int fd, const struct sockaddr_storage *peer, void *tag)
{
	struct worker *w = arg;

	/* ssserver ACL: a client on [black_list] (or off [white_list]) is closed at once, as libev. */
	if (w->ctx.policy.acl && w->ctx.cfg->prog == PROG_SERVER &&
	    policy_refuses_client(&w->ctx.policy, (const struct sockaddr *)peer)) {
		static struct log_rate rate;
		unsigned quiet;
		char who[64];

		if (log_rate_ok(&rate, &quiet))
			log_info("Access denied from %s: the ACL refuses this client (%u more not logged)",
				 ss_sa_str(peer, who, sizeof(who)), quiet);
		close(fd);
		return;
	}
	/* A listen address's socket: the port the client came to (a reload may just have removed it). */
	if (w->ctx.cfg->prog == PROG_SERVER && !(tag = server_ports_of_conn(&w->ctx, tag, fd))) {
		close(fd);
		return;
	}
	conn_accept(&w->ctx, fd, peer, listener_role(w->ctx.cfg), tag);
}

static void on_batch_end(void *arg)
{
	struct worker *w = arg;
	struct ctx *p = &w->ctx;

	conn_reap(p);
	udp_reap(p);
	/* After every batch, the tick's included: closed connections free slots. */
	if (w->ls.full && p->conns.n < (unsigned)p->cfg->max_connections)
		listener_set_full(&w->ls, false);
	if (w->draining && !p->conns.n && !p->udp)
		loop_stop(p->loop);
}

/* sslocal: the local listener of its mode, its UDP relay, and redir's steering. */
static int setup_local(struct worker *w, bool tcp, bool udp, const char **why)
{
	struct ctx *p = &w->ctx;
	const struct ss_config *cfg = p->cfg;
	bool socks = cfg->local_mode == LOCAL_SOCKS;
	enum udp_role ur = socks ? UDP_SOCKS : cfg->local_mode == LOCAL_REDIR ? UDP_REDIR :
									UDP_TUNNEL;
	struct listen_opts o = { .reuse_port = cfg->reuse_port, .fast_open = cfg->fast_open,
				 .mptcp = cfg->mptcp,
				 .transparent = listener_role(cfg) == ROLE_REDIR,
				 .held = true, .worker = p->index };
	int r;

	/* SOCKS5 UDP needs the TCP control connection even in udp_only. */
	if ((tcp || socks) &&
	    (r = listener_open(&w->ls, cfg->local_address, cfg->local_port, &o, why)))
		return r;
	shortcut_listen_port(p->sc, (uint16_t)cfg->local_port);
	if (udp && (r = udp_listen(p, ur, cfg->local_address, cfg->local_port, NULL, true, why)))
		return r;
	if (p->cap && (r = capture_listen(p, &w->ls, why)))
		return r;
	if (cfg->steer && p->index == 0 && (r = worker_steer_setup(w, tcp, why)))
		return r;
	/* One worker checks the servers for the tree; with one server there is no choice. */
	if (p->servers && p->index == 0 &&
	    (upstream_pool_live(p->servers) > 1 || p->cfg->online_url))
		return upstream_checks_open(p, &w->checks, why);
	return 0;
}

static const struct ss_config *w_config(void *arg)
{
	return ((struct worker *)arg)->ctx.cfg;
}

static void w_conns(void *arg, struct sbuf *rows)
{
	bool first = true;

	conn_view_rows(&((struct worker *)arg)->ctx, rows, &first);
}

static void w_source(struct worker *w, struct stats_src *s)
{
	*s = (struct stats_src){ .prog = w->name, .ctr = w->ctx.ctr, .workers = 1,
				 .traffic = w->ctx.traffic, .replay = &w->ctx.replay, .cap = w->ctx.cap,
				 .servers = w->ctx.servers };
}

static void w_stats(void *arg, struct sbuf *out)
{
	struct stats_src s;

	w_source(arg, &s);
	stats_json(&s, out);
}

static void w_metrics(void *arg, struct sbuf *out)
{
	struct stats_src s;

	w_source(arg, &s);
	stats_prometheus(&s, out);
	procstat_prometheus(out, NULL, 0);
}

static int w_kill(void *arg, uint64_t id, const char *who)
{
	return conn_view_kill(&((struct worker *)arg)->ctx, id, who);
}

static void w_capture(void *arg, const struct ctl_capture *q, const char *who, struct sbuf *out)
{
	struct worker *w = arg;

	capture_worker_ctl(&w->ctx, &w->ls, q, who, out);
}

static void w_upgrade(void *arg, bool start, const char *who, struct sbuf *out)
{
	struct worker *w = arg;
	const char *why = "";
	int r = start ? upgrade(w, who, &why) : 0;

	upgrade_json(&w->up, r, why, out);
}

/* ssctl and /metrics: through the parent's channel, or, alone, on sockets of its own. */
static void observe(struct worker *w, int ctl_fd)
{
	struct ctl_backend b = { .conns = w_conns, .stats = w_stats, .kill = w_kill,
				 .capture = w_capture, .config = w_config,
				 .upgrader = ctl_fd < 0 ? w_upgrade : NULL, .arg = w };

	if (ctl_fd >= 0 && ctl_channel(&w->ctl, w->ctx.loop, ctl_fd, &b))
		log_warn("control channel: %s", strerror(errno));
	else if (ctl_fd < 0)
		ctl_start(w->ctx.cfg, w->name, w->ctx.loop, &b, w_metrics, &w->ctl, &w->metrics);
}

static int setup(struct worker *w, const char **why)
{
	struct ctx *p = &w->ctx;
	const struct ss_config *cfg = p->cfg;
	bool tcp = cfg->mode != MODE_UDP_ONLY, udp = cfg->mode != MODE_TCP_ONLY;
	int r;

	if ((r = conn_tiers_open(p, why)))
		return r;
	log_info("replay filter: %d salts at false-positive rate %g, %zu KiB", cfg->replay_capacity,
		 cfg->replay_fp, replay_bytes(&p->replay) / 1024);
	{
		char acl[128];

		if ((r = policy_init(&p->policy, cfg->prog == PROG_LOCAL, cfg->allow_private, cfg->acl,
				     why)))
			return r;
		policy_describe_acl(&p->policy, acl, sizeof(acl));
		if (cfg->prog == PROG_SERVER)
			log_info("target policy: %s%s", cfg->allow_private ?
				 "private and loopback targets allowed" :
				 "loopback, private, link-local, CGNAT, unique-local ranges and this host refused",
				 acl);
		else if (*acl)
			log_info("bypass policy%s", acl);
	}
	if ((r = dns_new(&p->dns, p->loop, cfg->nameserver, cfg->ipv6_first, why)))
		return r;
	p->udp_max = (unsigned)cfg->udp_max_associations;
	r = cfg->prog == PROG_SERVER ? server_ports_open(p, &w->ls, tcp, udp, why) :
				       setup_local(w, tcp, udp, why);
	if (!r && udp && (r = udp22_forwarding_open(p)))
		*why = "cannot watch the SIP022 hand-over socket";
	return r;
}

/*
 * --user, once every privileged step (listeners, BPF, the control socket) is
 * done. ssserver serving UDP ports below 1024 through sk_lookup keeps the
 * right to bind them: their replies leave from sockets made for each port.
 */
static int drop_privileges(const struct ctx *p, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	enum privs_keep keep = PRIVS_KEEP_NONE;
	const char *pwhy = "";
	int r;

	if (!cfg->user)
		return 0;
	for (int i = 0; p->serve && cfg->mode != MODE_TCP_ONLY && i < cfg->nports; i++)
		if (cfg->ports[i].port < 1024)
			keep = PRIVS_KEEP_BIND;
	if ((r = privs_drop(cfg->user, keep, &pwhy))) {
		log_err("cannot switch to user %s: %s (%s)", cfg->user, pwhy, strerror(-r));
		*why = "cannot drop privileges";
		return r;
	}
	log_info("running as %s", cfg->user);
	return 0;
}

static void teardown(struct worker *w)
{
	struct ctx *p = &w->ctx;

	if (p->udp)
		worker_log_stats(&w->ctx);
	if (steer_watch_fd(w->steer) >= 0)
		loop_forget(p->loop, &w->steer_watch);
	if (w->handed_over)
		steer_leave(w->steer);
	else
		steer_remove(w->steer);
	upstream_checks_close(w->checks);
	if (p->cap)
		capture_own_pid(p->cap, getpid(), false);
	listener_close_all(&w->ls);
	udp_close_all(p, NULL);
	conn_destroy_all(p, NULL, NULL);
	conn_reap(p);
	udp_reap(p);
	conn_tiers_close(p);
	policy_free(&p->policy);
	server_ports_free(p);
	explicit_bzero(&p->key, sizeof(p->key));
	dns_free(p->dns);
	loop_free(p->loop);
	pool_free(&p->pool);
	free(p->scratch);
}

int worker_run(const struct worker_args *a)
{
	const struct ss_config *cfg = a->cfg;
	const char *name = a->name;
	int index = a->index;
	struct worker *w = calloc(1, sizeof(*w));
	struct ctx *p;
	const char *why = "";
	int r, status = 0, verbosity;

	if (!w) {
		log_err("out of memory");
		return 1;
	}
	p = &w->ctx;
	/* The start-up block once per daemon: worker 0 tells it, the others only warn. */
	verbosity = log_set_verbosity(-1);
	if (index && !log_enabled(LOG_DEBUG))
		log_set_verbosity(MIN(verbosity, LOG_WARN));
	w->name = name;
	p->conns.poll.fd = -1;
	p->index = index;
	p->cfg = cfg;
	p->replay = *a->replay;
	p->salts = a->salts;
	p->sc = a->sc;
	p->cap = a->cap;
	p->serve = a->serve;
	p->servers = a->servers;
	if (p->cap)
		capture_own_pid(p->cap, getpid(), true);
	p->s22_fwd = a->s22_fwd;
	p->s22_nfwd = a->s22_fwd ? cfg->workers : 0;
	p->ctr = a->ctr;
	p->traffic = a->traffic;
	p->scratch = malloc(POOL_BUF_CAP);
	if (a->pool_fd >= 0)
		sockpool_channel(a->pool_fd, index);
	p->loop = loop_new(TICK_MS, on_signal, on_tick, on_batch_end, w);
	w->ls = (struct listeners){ .loop = p->loop, .has_room = has_room, .on_conn = on_conn,
				    .arg = w };
	if (!p->scratch || !p->loop) {
		log_err("out of memory");
		status = 1;
	} else if ((cfg->prog != PROG_SERVER || cfg->password) &&
		   (r = key_init(&p->key, cfg->m, cfg->password ? cfg->password : "", cfg->raw_key,
				 NULL, cfg->server_port))) {
		/* sslocal's key (ssserver's are its ports', checked with the configuration). */
		log_err("start-up failed: the key: %s", strerror(-r));
		status = 1;
	} else if ((r = setup(w, &why)) || (observe(w, a->ctl_fd), drop_privileges(p, &why))) {
		log_err("start-up failed: %s", why);
		status = 1;
	} else {
		/* A tree's worker took what it needed of the parent's held sockets. */
		if (a->pool_fd >= 0)
			sockpool_drop_copies();
		log_info("%s ready: method %s, timeout %d s", name, cfg->m->name, cfg->timeout);
		log_set_verbosity(verbosity);
		if (index == 0)
			daemon_notify_ready();
		if (loop_run(p->loop))
			status = 1;
	}
	ctl_close(w->ctl);
	metrics_close(w->metrics);
	teardown(w);
	if (w->own_cfg) {
		config_free(w->own_cfg);
		free(w->own_cfg);
	}
	free(w);
	return status;
}
