/* SPDX-License-Identifier: MIT */
#ifndef SS_WORKER_H
#define SS_WORKER_H

#include "config.h"
#include "ctx.h"
#include "listener.h"
#include "upgrade.h"
#include "replay.h"
#include "salt_window.h"

/*
 * Runs one worker (its own loop, SO_REUSEPORT listeners, connections and
 * UDP relays) until it is told to stop; returns its exit status.
 */
struct counters;
struct traffic;

struct worker_args {
	const struct ss_config *cfg;
	const struct replay *replay;
	struct salt_window *salts;
	struct shortcut *sc;     /* --bpf-cgroup: the local shortcut, or NULL */
	struct capture *cap;     /* redir --capture: loaded by the tree, or NULL */
	struct serve *serve;     /* ssserver --bpf: every port from one socket, or NULL */
	struct upstream_pool *servers; /* sslocal: its servers, made by the tree; or NULL */
	int (*s22_fwd)[2];       /* ssserver: the workers' SIP022 hand-over sockets */
	struct counters *ctr;    /* this worker's counters, shared with the parent */
	struct traffic *traffic; /* ssserver: bytes per port and user, shared; or NULL */
	const char *name;
	int index;
	int ctl_fd; /* the parent's control channel; -1: a lone worker serves ssctl itself */
	int pool_fd; /* where it hands the parent each socket it binds; -1: a lone worker */
};

int worker_run(const struct worker_args *a);

/* What one worker holds (worker.c; its steering in worker_steer.c). */
struct worker {
	struct ctx ctx;
	struct listeners ls;
	unsigned peak;         /* most connections since memory was last trimmed */
	bool draining;
	uint64_t drain_deadline;
	uint64_t replay_saved;  /* when the replay filter was last saved (one worker) */
	uint64_t spent_seen;    /* when live connections were last checked against data limits */
	struct steer *steer;   /* redir --steer: installed by worker 0 */
	struct handler steer_watch; /* this host's address changes, for steering */
	uint32_t steer_servers;     /* the server list's generation the steering excludes */
	struct ss_config *own_cfg;  /* ssserver: the configuration of the last reload */
	unsigned ticks;
	struct ctl *ctl;            /* ssctl: the parent's channel, or a lone worker's socket */
	const char *name;           /* ssserver or sslocal */
	struct metrics *metrics;    /* a lone worker's /metrics */
	struct upstream_checks *checks; /* sslocal with several servers: worker 0's checks */
	struct upgrade up;          /* a lone worker's ssctl upgrade, SIGUSR2 */
	bool handed_over;           /* a successor serves (and steers) in this one's place */
};

/* redir --steer: worker 0 installs the steering (sk_lookup, else nftables TPROXY); 0 or -errno. */
int worker_steer_setup(struct worker *w, bool tcp, const char **why);
/* redir SIGHUP: the steering lists again; connections stay. */
void worker_steer_reload(struct worker *w);
/* The tick: when the online servers changed, their addresses are excluded anew. */
void worker_steer_tick(struct worker *w);
struct ctx;
/* Log lines of what the worker counted (worker_log.c). */
void worker_log_stats(const struct ctx *p);

#endif
