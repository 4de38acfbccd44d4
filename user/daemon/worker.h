/* SPDX-License-Identifier: MIT */
#ifndef SS_WORKER_H
#define SS_WORKER_H

#include "config.h"
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
};

int worker_run(const struct worker_args *a);
struct ctx;
/* Log lines of what the worker counted (worker_log.c). */
void worker_log_stats(const struct ctx *p);

#endif
