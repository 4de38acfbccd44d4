/* SPDX-License-Identifier: MIT */
#ifndef SS_TREE_H
#define SS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "plugin.h"
#include "replay.h"
#include "traffic.h"
#include "upgrade.h"

struct counters;
struct sbuf;
struct ctl;
struct ctl_backend;
struct loop;
struct metrics;

struct tree_slot {
	pid_t pid;
	int restarts;
	time_t window;
	int ctl_fd; /* the parent's end of the worker's control channel */
};

/* The process tree of one ssserver or sslocal: what the parent holds for its workers. */
struct tree {
	struct ss_config *cfg;   /* replaced by a reload */
	const char *name;
	struct replay replay;    /* shared by every worker */
	struct salt_window *salts; /* ssserver: SIP022's request salts, shared too */
	struct shortcut *sc;     /* --bpf-cgroup: the local shortcut, loaded once for all */
	struct capture *cap;     /* redir --capture: programs and cgroup links, held here */
	struct serve *serve;     /* ssserver --bpf: the ports' sk_lookup program, held here */
	struct upstream_pool *servers; /* sslocal: its servers, their records shared */
	int (*s22_fwd)[2];       /* ssserver with workers: a datagram socketpair per worker */
	struct counters *ctr;    /* one per worker, shared */
	struct traffic traffic;  /* ssserver: bytes per port and user, shared */
	struct plugin pl;
	int manager_fd;          /* ssserver --manager-address: where "stat:" goes, or -1 */

	/* tree_run's own state */
	struct tree_slot *w;
	int live, status;
	bool stopping;
	time_t saved, reported;
	struct loop *loop;
	struct ctl *ctl;
	struct metrics *metrics;
	struct upgrade up;       /* ssctl upgrade, SIGUSR2 */
	bool plugin_yields;      /* the successor stops this one's plugin to start its own */
	struct handler pool_h;   /* the workers' reports of the sockets they bound */
	int pool_chan[2];        /* its socketpair: [0] read here, [1] the workers' */
	pid_t online_pid;        /* sslocal: the online configuration's fetch running, or -1 */
	time_t online_next;      /* when the next is due (0: now, as after SIGHUP) */
};

/*
 * Runs cfg->workers worker processes until they are all gone: forwards
 * signals, restarts a worker a signal killed, watches the plugin, saves the
 * replay filter, sends "stat:" to the manager every 5 s, and on SIGHUP
 * checks the config file again before the workers reload it. The exit status.
 */
int tree_run(struct tree *t);
/* What each port and user has carried (data_limit), to its file beside the replay filter's. */
void tree_save_spent(const struct tree *t);
/* A predecessor's last bytes (PATH.add, written at its exit), added to what is carried. */
void tree_take_added(struct tree *t);
/*
 * ssctl upgrade (who: its caller), SIGUSR2: starts the successor; 0, or
 * -errno with *why (why may be NULL).
 */
int tree_upgrade(struct tree *t, const char *who, const char **why);
/* The sum of every worker's counters as one log line. */
void tree_log_totals(const struct tree *t);
/* One "stat: {\"PORT\": bytes}" datagram per port to the manager. */
void tree_report(const struct tree *t);


#endif
