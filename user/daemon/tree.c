// SPDX-License-Identifier: MIT
/*
 * The parent of --workers N worker processes: it forks them, forwards
 * signals, restarts a worker a signal killed, watches the plugin, saves the
 * replay filter, reports traffic to a manager, and vets a reload.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "capture_setup.h"
#include "common.h"
#include "counters.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "privs.h"
#include "procstat.h"
#include "replay_file.h"
#include "server_ports.h"
#include "tree.h"
#include "worker.h"
#include "ctl.h"
#include "metrics.h"
#include "online.h"
#include "upstream.h"
#include "sbuf.h"
#include "sockpool.h"
#include "stats.h"

/* A worker killed by a signal is restarted at most this often per window. */
#define RESTART_MAX 5
#define RESTART_WINDOW_S 60
#define REPORT_S 5

/* Starts worker i in a child process with a channel for control requests; its pid, or -1. */
static pid_t spawn_worker(struct tree *t, int i)
{
	struct tree_slot *w = &t->w[i];
	pid_t parent = getpid(), pid;
	int sv[2];

	if (w->ctl_fd >= 0)
		close(w->ctl_fd);
	w->ctl_fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		log_err("socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == 0) {
		struct worker_args a = { .cfg = t->cfg, .replay = &t->replay, .salts = t->salts, .sc = t->sc,
					 .cap = t->cap, .serve = t->serve, .servers = t->servers,
					 .s22_fwd = t->s22_fwd, .ctr = &t->ctr[i],
					 .traffic = t->traffic.names ? &t->traffic : NULL,
					 .name = t->name, .index = i, .ctl_fd = sv[1],
					 .pool_fd = t->pool_chan[1] };

		/* Workers do not outlive the parent (SIGKILL, a crash). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		close(sv[0]);
		close(t->pool_chan[0]);
		_exit(worker_run(&a));
	}
	close(sv[1]);
	if (pid < 0) {
		log_err("fork: %s", strerror(errno));
		close(sv[0]);
	} else {
		w->ctl_fd = sv[0];
	}
	return pid;
}

void tree_log_totals(const struct tree *t)
{
	size_t n = (size_t)t->cfg->workers;
	struct counters c;
	uint64_t live = 0, up = 0, down = 0, fails = 0;

	counters_sum(t->ctr, n, &c);
	for (int s = 0; s < ST_DESTROYED; s++)
		live += c.live[s];
	for (int i = 0; i < CTR_TIERS; i++) {
		up += c.bytes_up[i];
		down += c.bytes_down[i];
	}
	for (int f = 0; f < FAIL_REASONS; f++)
		fails += c.fail[f];
	log_info("all %zu workers: %llu connections accepted, %llu live, %llu failed before "
		 "STREAM; %llu bytes up, %llu down; UDP %llu in, %llu out", n,
		 (unsigned long long)c.accepted, (unsigned long long)live,
		 (unsigned long long)fails, (unsigned long long)up, (unsigned long long)down,
		 (unsigned long long)c.udp.in, (unsigned long long)c.udp.out);
	for (uint32_t i = 0; t->traffic.names && i < t->traffic.names->n; i++)
		if (strchr(t->traffic.names->name[i], '/'))
			log_info("user %s: %llu bytes", t->traffic.names->name[i],
				 (unsigned long long)traffic_total(&t->traffic, (int)i));
}

void tree_report(const struct tree *t)
{
	char msg[128];

	if (t->manager_fd < 0)
		return;
	for (int i = 0; i < t->cfg->nports; i++) {
		int n = snprintf(msg, sizeof(msg), "stat: {\"%d\":%llu}", t->cfg->ports[i].port,
				 (unsigned long long)traffic_total(&t->traffic, t->cfg->ports[i].slot));

		if (send(t->manager_fd, msg, (size_t)n, MSG_DONTWAIT) < 0)
			log_debug("manager: %s", strerror(errno));
	}
}

/*
 * SIGHUP: the file is read again here first; a config with an error is
 * refused with one line and the old one keeps serving. Otherwise the new
 * ports and users get their traffic slots and the workers reload it.
 */
static bool vet_reload(struct tree *t)
{
	const char *err = "";
	struct ss_config *n = config_reload(t->cfg, &err);

	if (!n) {
		log_err("reload refused, still serving the old configuration: %s", err);
		return false;
	}
	if (n->reuse_port && !n->port_shared && server_ports_taken(n, t->cfg, t->serve, true)) {
		log_err("reload refused, still serving the old configuration: a new port is in use");
		config_free(n);
		free(n);
		return false;
	}
	traffic_assign(&t->traffic, n, true);
	sockpool_prune(config_serves_port, n);
	config_free(t->cfg);
	free(t->cfg);
	t->cfg = n;
	log_info("reload: %d ports", n->nports);
	return true;
}

/* A predecessor's last bytes (after an upgrade), added to what is carried. */
void tree_take_added(struct tree *t)
{
	char path[PATH_MAX];

	if (t->traffic.names && traffic_path(t->cfg, path, sizeof(path)))
		traffic_take_added(&t->traffic, path);
}

void tree_save_spent(const struct tree *t)
{
	char path[PATH_MAX];
	int r;

	if (t->traffic.names && traffic_path(t->cfg, path, sizeof(path)) &&
	    (r = traffic_save(&t->traffic, path)))
		log_warn("data limits: cannot write %s: %s", path, strerror(-r));
}

/* A child is gone: the plugin (the tree stops), or a worker (restarted after a crash). */
static void reap(struct tree *t)
{
	struct tree_slot *w = t->w;
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		time_t now = time(NULL);

		if (online_reaped(t, pid) || upgrade_reaped(&t->up, pid, st))
			continue;
		/* Stopped by the successor of an upgrade, which starts its own. */
		if (pid == t->pl.pid && t->plugin_yields) {
			log_info("plugin (pid %d) stopped for the successor's", (int)pid);
			t->pl.pid = -1;
			continue;
		}
		/* SIP003: without its plugin the daemon cannot serve; it exits non-zero. */
		if (pid == t->pl.pid) {
			plugin_log_exit(t->cfg, pid, st);
			t->pl.pid = -1;
			t->status = t->status ? t->status : 1;
			t->stopping = true;
			for (i = 0; i < t->cfg->workers; i++)
				if (w[i].pid > 0)
					kill(w[i].pid, SIGTERM);
			continue;
		}
		for (i = 0; i < t->cfg->workers && w[i].pid != pid; i++)
			;
		if (i == t->cfg->workers)
			continue;
		w[i].pid = -1;
		t->live--;
		if (t->cap)
			capture_own_pid(t->cap, pid, false);
		if (!t->stopping && WIFSIGNALED(st)) {
			if (now - w[i].window >= RESTART_WINDOW_S) {
				w[i].window = now;
				w[i].restarts = 0;
			}
			if (++w[i].restarts <= RESTART_MAX) {
				log_warn("worker %d (pid %d) killed by signal %d (%s); restarting it",
					 i, (int)pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
				/* Its connections died with it. */
				memset(t->ctr[i].live, 0, sizeof(t->ctr[i].live));
				t->ctr[i].udp_assoc_live = 0;
				if ((w[i].pid = spawn_worker(t, i)) > 0) {
					t->live++;
					continue;
				}
			} else {
				log_err("worker %d died %d times in %d s; not restarting it",
					i, RESTART_MAX + 1, RESTART_WINDOW_S);
			}
		}
		sockpool_drop_owner(i); /* not restarted: its share of the clients goes to the others */
		if (!t->status && (!WIFEXITED(st) || WEXITSTATUS(st)))
			t->status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	if (t->live <= 0)
		loop_stop(t->loop);
}

static void on_signal(void *arg, int sig)
{
	struct tree *t = arg;

	if (sig == SIGCHLD) {
		reap(t);
		return;
	}
	if (sig == SIGUSR2) {
		tree_upgrade(t, "SIGUSR2", NULL);
		return;
	}
	t->stopping |= sig != SIGUSR1 && sig != SIGHUP;
	/* Drained or stopped: the ports close with the workers' listeners, not with this process. */
	if (t->stopping)
		sockpool_drop_copies();
	if (sig == SIGUSR1 || (sig == SIGHUP && t->cfg->prog != PROG_SERVER))
		tree_log_totals(t);
	if (sig == SIGHUP)
		t->online_next = 0; /* the online configuration again, at the next tick */
	/* ssserver's workers reload only a file that passed here. */
	if (sig == SIGHUP && t->cfg->prog == PROG_SERVER && !vet_reload(t))
		return;
	for (int i = 0; i < t->cfg->workers; i++)
		if (t->w[i].pid > 0)
			kill(t->w[i].pid, sig);
}

/* The parent's own timers: the replay file every REPLAY_SYNC_S, the manager every REPORT_S. */
static void on_tick(void *arg)
{
	struct tree *t = arg;
	time_t now = time(NULL);

	if (now - t->saved >= REPLAY_SYNC_S) {
		replay_file_sync(t->cfg, &t->replay, t->salts);
		tree_take_added(t);
		/* After an upgrade this process writes what it counted since once, at exit. */
		if (!upgrade_handed_over())
			tree_save_spent(t);
		t->saved = now;
	}
	if (now - t->reported >= REPORT_S) {
		tree_report(t);
		t->reported = now;
	}
	metrics_tick(t->metrics, loop_now(t->loop));
	upgrade_tick(&t->up, loop_now(t->loop));
	online_tick(t);
	if (t->servers)
		upstream_pool_sync(t->servers); /* for ssctl servers and /metrics */
	daemon_follow_manager();
}

/* ssctl conns: every worker's rows, asked over its channel. */
static void ctl_conns(void *arg, struct sbuf *rows)
{
	struct tree *t = arg;
	bool first = true;

	for (int i = 0; i < t->cfg->workers; i++) {
		struct sbuf r = { 0 };
		char *open, *close;

		if (t->w[i].pid > 0 && !ctl_ask(t->w[i].ctl_fd, "conns", &r) && r.p &&
		    (open = strchr(r.p, '[')) && (close = strrchr(r.p, ']')) && close > open + 1) {
			sbuf_printf(rows, "%s%.*s", first ? "" : ",", (int)(close - open - 1), open + 1);
			first = false;
		}
		sbuf_free(&r);
	}
}

static const struct ss_config *tree_config(void *arg)
{
	return ((struct tree *)arg)->cfg;
}

/* What ssctl stats and /metrics read: every worker's counters, summed. */
static struct stats_src tree_source(const struct tree *t)
{
	return (struct stats_src){ .prog = t->name, .ctr = t->ctr, .workers = (size_t)t->cfg->workers,
				   .traffic = t->traffic.names ? &t->traffic : NULL,
				   .replay = &t->replay, .cap = t->cap,
				   .servers = t->servers };
}

static void ctl_stats(void *arg, struct sbuf *out)
{
	struct stats_src s = tree_source(arg);

	stats_json(&s, out);
}

static void tree_metrics(void *arg, struct sbuf *out)
{
	struct tree *t = arg;
	struct stats_src s = tree_source(t);
	pid_t *pids = calloc((size_t)t->cfg->workers, sizeof(*pids));

	stats_prometheus(&s, out);
	for (int i = 0; pids && i < t->cfg->workers; i++)
		pids[i] = t->w[i].pid;
	procstat_prometheus(out, pids, pids ? (size_t)t->cfg->workers : 0);
	free(pids);
}

/* ssctl kill ID: the worker is ID modulo the worker count. */
static int ctl_kill(void *arg, uint64_t id, const char *who)
{
	struct tree *t = arg;
	struct tree_slot *w = &t->w[id % (uint64_t)t->cfg->workers];
	struct sbuf r = { 0 };
	char line[128];
	int ok;

	snprintf(line, sizeof(line), "kill %llu", (unsigned long long)id);
	log_info("ssctl kill %llu, asked by %s", (unsigned long long)id, who);
	ok = w->pid > 0 && !ctl_ask(w->ctl_fd, line, &r) && r.p && strstr(r.p, "\"ok\"");
	sbuf_free(&r);
	return ok ? 0 : -ENOENT;
}

/* ssctl capture: a line to every live worker; the first refusal stops it. */
static int ask_workers(void *arg, const char *line, const char **why)
{
	struct tree *t = arg;
	int r = 0;

	for (int i = 0; i < t->cfg->workers && !r; i++) {
		struct sbuf a = { 0 };

		if (t->w[i].pid > 0)
			r = ctl_ask(t->w[i].ctl_fd, line, &a) ? why_fmt(why, "worker %d did not answer", i) :
								 capture_answer_ok(a.p, why);
		sbuf_free(&a);
	}
	return r;
}

static void ctl_capture(void *arg, const struct ctl_capture *q, const char *who, struct sbuf *out)
{
	struct tree *t = arg;

	capture_command(t->cap, &(struct capture_workers){ ask_workers, t }, q, who, out);
}

/* A successor that failed after stopping this one's plugin: it starts again, on the same port. */
static void plugin_again(struct tree *t)
{
	const char *why = "";

	if (t->plugin_yields && t->pl.pid <= 0 && plugin_start(&t->pl, t->cfg, &why))
		log_err("plugin: cannot start it again (%s); TCP is not served", why);
	t->plugin_yields = false;
}

/* The successor serves: the workers drain (SIGQUIT), and the tree exits after the last. */
static void upgraded(void *arg, bool ok)
{
	struct tree *t = arg;

	if (!ok) {
		plugin_again(t);
		return;
	}
	t->stopping = true;
	sockpool_drop_copies(); /* the successor holds them */
	/* SIGUSR2 to a worker: drain, and leave the steering to the successor. */
	for (int i = 0; i < t->cfg->workers; i++)
		if (t->w[i].pid > 0)
			kill(t->w[i].pid, SIGUSR2);
}

int tree_upgrade(struct tree *t, const char *who, const char **why)
{
	struct upgrade_of o = { .loop = t->loop, .cfg = t->cfg, .ctl = &t->ctl, .metrics = &t->metrics,
				.traffic = t->traffic.names ? &t->traffic : NULL, .plugin = &t->pl,
				.stopping = t->stopping, .who = who, .done = upgraded, .arg = t };
	const char *w = "";
	int r = upgrade_begin(&t->up, &o, &w);

	t->plugin_yields = !r && t->pl.pid > 0;
	if (why)
		*why = w;
	return r;
}

static void ctl_upgrade(void *arg, bool start, const char *who, struct sbuf *out)
{
	struct tree *t = arg;
	const char *why = "";
	int r = start ? tree_upgrade(t, who, &why) : 0;

	upgrade_json(&t->up, r, why, out);
}

static void on_pool_report(struct handler *h, uint32_t events)
{
	(void)events;
	/* A bounded batch: the loop calls again while reports wait. */
	for (int i = 0; i < 64 && sockpool_receive(h->fd) != -EAGAIN; i++)
		;
}

/* The channel over which workers hand the parent each socket they bind. */
static int pool_channel(struct tree *t)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, t->pool_chan))
		return -errno;
	t->pool_h = (struct handler){ .fd = t->pool_chan[0], .on_event = on_pool_report };
	return loop_watch(t->loop, &t->pool_h, EPOLLIN);
}

/*
 * --user: every process runs as the user. The parent switches once its
 * control socket is open (in root's /run/ssbpf), before any worker, keeping
 * only the capabilities that start a worker again (privs.c); each worker
 * drops them all once it is set up.
 */
static int drop_to_user(struct tree *t)
{
	const char *why = "";
	int r;

	if (!t->cfg->user || !(r = privs_drop(t->cfg->user, PRIVS_KEEP_TREE, &why)))
		return 0;
	log_err("cannot switch to user %s: %s (%s)", t->cfg->user, why, strerror(-r));
	ctl_close(t->ctl);
	metrics_close(t->metrics);
	loop_free(t->loop);
	free(t->w);
	return r;
}

/*
 * --workers N: N processes, each a full worker on SO_REUSEPORT listeners (the
 * kernel spreads connections and UDP flows over them; no locks on the data
 * path). A worker that exits on its own is not restarted. The tree exits
 * with the first failing worker's status once all are gone.
 */
int tree_run(struct tree *t)
{
	struct ctl_backend b = { .conns = ctl_conns, .stats = ctl_stats, .kill = ctl_kill,
				 .capture = ctl_capture, .config = tree_config,
				 .upgrader = ctl_upgrade, .arg = t };

	if (!(t->w = calloc((size_t)t->cfg->workers, sizeof(*t->w))) ||
	    !(t->loop = loop_new(1000, on_signal, on_tick, NULL, t)) ||
	    loop_add_signal(t->loop, SIGCHLD) || pool_channel(t)) {
		log_err("cannot set up the process tree: %s", strerror(errno));
		return 1;
	}
	t->saved = t->reported = time(NULL);
	t->online_next = t->saved + t->cfg->online_interval; /* the first fetch was at start */
	t->online_pid = -1;
	for (int i = 0; i < t->cfg->workers; i++)
		t->w[i].ctl_fd = -1;
	/* Sockets shared through SO_REUSEPORT must all belong to one user: switch first. */
	ctl_start(t->cfg, t->name, t->loop, &b, tree_metrics, &t->ctl, &t->metrics);
	if (drop_to_user(t))
		return 1;
	for (int i = 0; i < t->cfg->workers; i++) {
		if ((t->w[i].pid = spawn_worker(t, i)) < 0) {
			t->status = 1;
			break;
		}
		t->live++;
	}
	log_info("%d workers started", t->live);
	if (t->live > 0)
		loop_run(t->loop);
	online_stop(t);
	ctl_close(t->ctl);
	metrics_close(t->metrics);
	tree_report(t);
	for (int i = 0; i < t->cfg->workers; i++)
		if (t->w[i].ctl_fd >= 0)
			close(t->w[i].ctl_fd);
	close(t->pool_chan[0]);
	close(t->pool_chan[1]);
	loop_free(t->loop);
	free(t->w);
	return t->status;
}
