// SPDX-License-Identifier: MIT
/*
 * The parent of --workers N worker processes: it forks them, forwards
 * signals, restarts a worker a signal killed, watches the plugin, saves the
 * replay filter, reports traffic to a manager, and vets a reload.
 */
#include <errno.h>
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

#include "common.h"
#include "counters.h"
#include "log.h"
#include "loop.h"
#include "replay_file.h"
#include "tree.h"
#include "worker.h"

/* A worker killed by a signal is restarted at most this often per window. */
#define RESTART_MAX 5
#define RESTART_WINDOW_S 60
#define REPORT_S 5

struct slot {
	pid_t pid;
	int restarts;
	time_t window;
};

/* Starts worker i in a child process; its pid, or -1. */
static pid_t spawn_worker(struct tree *t, int i)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		int st;

		/* Workers do not outlive the parent (SIGKILL, a crash). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		st = worker_run(t->cfg, &t->replay, &t->ctr[i], t->traffic.names ? &t->traffic : NULL,
				t->name, i);
		_exit(st);
	}
	if (pid < 0)
		log_err("fork: %s", strerror(errno));
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
	struct ss_config *n = calloc(1, sizeof(*n));
	char err[512];

	if (!n)
		return false;
	if (config_load(n, t->cfg->prog, t->cfg->argc, t->cfg->argv, err, sizeof(err))) {
		log_err("reload refused, still serving the old configuration: %s", err);
		config_free(n);
		free(n);
		return false;
	}
	/* What cannot change without a restart stays as it was. */
	if (!n->replay_file && t->cfg->replay_file &&
	    config_set_str(&n->replay_file, t->cfg->replay_file)) {
		config_free(n);
		free(n);
		return false;
	}
	n->workers = t->cfg->workers;
	n->reuse_port = t->cfg->reuse_port;
	n->plugin_port = t->cfg->plugin_port;
	traffic_assign(&t->traffic, n, true);
	config_free(t->cfg);
	free(t->cfg);
	t->cfg = n;
	log_info("reload: %d ports", n->nports);
	return true;
}

/* The parent's own timers: the replay file every REPLAY_SAVE_S, the manager every REPORT_S. */
static void on_timer(struct tree *t, time_t *saved)
{
	time_t now = time(NULL);

	if (now - *saved >= REPLAY_SAVE_S) {
		replay_file_persist(t->cfg, &t->replay);
		*saved = now;
	}
	tree_report(t);
}

/* A child is gone: the plugin (the tree stops), or a worker (restarted after a crash). */
static void reap(struct tree *t, struct slot *w, int *live, int *status, bool *stopping)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		time_t now = time(NULL);

		/* SIP003: without its plugin the daemon cannot serve; it exits non-zero. */
		if (pid == t->pl.pid) {
			plugin_log_exit(t->cfg, pid, st);
			t->pl.pid = -1;
			*status = *status ? *status : 1;
			*stopping = true;
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
		--*live;
		if (!*stopping && WIFSIGNALED(st)) {
			if (now - w[i].window >= RESTART_WINDOW_S) {
				w[i].window = now;
				w[i].restarts = 0;
			}
			if (++w[i].restarts <= RESTART_MAX) {
				log_warn("worker %d (pid %d) killed by signal %d (%s); restarting it",
					 i, (int)pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
				/* Its connections died with it. */
				memset(t->ctr[i].live, 0, sizeof(t->ctr[i].live));
				if ((w[i].pid = spawn_worker(t, i)) > 0) {
					++*live;
					continue;
				}
			} else {
				log_err("worker %d died %d times in %d s; not restarting it",
					i, RESTART_MAX + 1, RESTART_WINDOW_S);
			}
		}
		if (!*status && (!WIFEXITED(st) || WEXITSTATUS(st)))
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
}

/*
 * --workers N: N processes, each a full worker on SO_REUSEPORT listeners (the
 * kernel spreads connections and UDP flows over them; no locks on the data
 * path). A worker that exits on its own is not restarted. The tree exits
 * with the first failing worker's status once all are gone.
 */
int tree_run(struct tree *t)
{
	struct slot *w = calloc((size_t)t->cfg->workers, sizeof(*w));
	sigset_t mask;
	int live = 0, status = 0;
	bool stopping = false;
	time_t saved = time(NULL);

	if (!w)
		return 1;
	loop_signal_set(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (int i = 0; i < t->cfg->workers; i++) {
		if ((w[i].pid = spawn_worker(t, i)) < 0) {
			status = 1;
			break;
		}
		live++;
	}
	log_info("%d workers started", live);
	while (live > 0) {
		siginfo_t si;
		struct timespec period = { .tv_sec = REPORT_S };
		int sig = sigtimedwait(&mask, &si, &period);

		if (sig < 0) {
			if (errno == EAGAIN)
				on_timer(t, &saved);
			continue;
		}
		if (sig == SIGCHLD) {
			reap(t, w, &live, &status, &stopping);
			continue;
		}
		stopping |= sig != SIGUSR1 && sig != SIGHUP;
		if (sig == SIGUSR1 || (sig == SIGHUP && t->cfg->prog != PROG_SERVER))
			tree_log_totals(t);
		/* ssserver's workers reload only a file that passed here. */
		if (sig == SIGHUP && t->cfg->prog == PROG_SERVER && !vet_reload(t))
			continue;
		for (int i = 0; i < t->cfg->workers; i++)
			if (w[i].pid > 0)
				kill(w[i].pid, sig);
	}
	tree_report(t);
	free(w);
	return status;
}
