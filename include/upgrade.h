/* SPDX-License-Identifier: MIT */
#ifndef SS_UPGRADE_H
#define SS_UPGRADE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"

struct ctl;
struct metrics;
struct plugin;
struct ss_config;
struct sbuf;
struct traffic;

/*
 * ssctl upgrade and SIGUSR2: the installed binary, started with this
 * process's command line on the listening sockets it holds (sockpool.h);
 * the successor tells its READY=1 (or its errors, STATUS=) over a private
 * notify socket. Until then this process serves on; after it, done(arg,
 * true) and this process drains. A successor that exits, or is not ready
 * in UPGRADE_READY_S, is stopped and done(arg, false) says why.
 */
#define UPGRADE_READY_S 60

enum upgrade_state { UPGRADE_NONE, UPGRADE_STARTING, UPGRADE_FAILED, UPGRADE_DONE };

/* What an upgrade needs of the process that starts it (a tree's parent, or a lone worker). */
struct upgrade_of {
	struct loop *loop;
	const struct ss_config *cfg;  /* read by upgrade_begin only */
	struct ctl **ctl;             /* the control socket: steps aside for the successor's */
	struct metrics **metrics;     /* closed once the successor serves /metrics */
	struct traffic *traffic;      /* what is carried, saved for the successor; or NULL */
	const struct plugin *plugin;  /* the plugin the successor stops; or NULL */
	bool stopping;                /* the daemon is stopping: refused */
	const char *who;              /* who asked: ssctl's caller, or the signal */
	void (*done)(void *arg, bool ok);
	void *arg;
};

struct upgrade {
	enum upgrade_state state;
	pid_t child;            /* the successor */
	pid_t ready_pid;        /* the main pid its READY=1 named */
	struct handler notify;  /* its notify datagrams */
	struct handler exited;  /* a pidfd: it is gone */
	uint64_t deadline;
	char why[512];          /* why the last attempt failed */
	char status[400];       /* the successor's last error line */
	char sock[108];         /* the control socket's path while this process drains */
	char home[108];         /* and before */
	struct upgrade_of of;   /* the last upgrade_begin's */
};

/* The binary and command line to start again; call first in main. */
void upgrade_remember(int argc, char **argv);
/*
 * A plugin: the successor stops its predecessor's (named in its
 * environment by upgrade_begin) once it starts, and starts its own on the
 * same loopback port.
 */
void upgrade_plugin_take(struct plugin *pl);
/* Why this configuration cannot be handed over, or NULL. */
const char *upgrade_refusal(const struct ss_config *cfg);
/*
 * Starts the successor (the sockets must be in the pool), once what is
 * carried is saved for it; 0, or -errno with *why, also logged: the daemon
 * is stopping, one is starting, this process is draining, the one it
 * replaced is still draining, or the fork failed.
 */
int upgrade_begin(struct upgrade *u, const struct upgrade_of *o, const char **why);
/* Did this process hand over to a successor (which now keeps the shared files)? */
bool upgrade_handed_over(void);
/* The tree reaped pid: the successor's exit, if it is that. */
bool upgrade_reaped(struct upgrade *u, pid_t pid, int status);
/* The readiness deadline; call from the tick. */
void upgrade_tick(struct upgrade *u, uint64_t now_ms);
/*
 * ssctl: {"state": ..., "pid": ..., "new": ..., "why": ...}; r: what
 * upgrade_begin returned for "upgrade" (refused when not 0, with why).
 */
void upgrade_json(const struct upgrade *u, int r, const char *why, struct sbuf *out);

#endif
