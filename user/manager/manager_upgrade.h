/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_UPGRADE_H
#define SS_MANAGER_UPGRADE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct manager;
struct sbuf;

/*
 * ssctl upgrade on ssmanager: each server it runs is upgraded in turn (the
 * shared tree first, then each port's own ssserver), through the server's
 * control socket; the manager follows each to the end before the next, and
 * records the successor's pid in its table. ssmanager itself is not
 * replaced. With PR_SET_CHILD_SUBREAPER the successors become its children
 * once their predecessors exit.
 */
#define MGR_UPGRADE_STEP_S 75

struct mgr_upgrade {
	bool running;
	int ports[1025];   /* what to upgrade: 0 the shared tree, else a port */
	int n, at;         /* how many, and the one under way */
	bool waiting;      /* the one under way started: follow it */
	pid_t old, fresh;  /* its pids */
	char aside[108];   /* where the old one answers while it drains */
	uint64_t deadline;
	int upgraded;
	char notes[1024];  /* ports skipped or failed, with the reason */
};

/* ssctl upgrade / upgrade-status on the manager's control socket. */
void mgr_upgrade_ctl(void *arg, bool start, const char *who, struct sbuf *out);
/* One step of a running upgrade; call from the tick. */
void mgr_upgrade_tick(struct manager *m);

#endif
