/* SPDX-License-Identifier: MIT */
#ifndef SS_CAPTURE_SETUP_H
#define SS_CAPTURE_SETUP_H

#include <stdbool.h>

#include "config.h"

struct capture;
struct ctx;
struct listeners;

/*
 * The tree's side (before the workers fork): loads the capture programs,
 * fills the exclusions and attaches every cgroup of cfg->capture. 0, or
 * -errno after one log line saying why (capture has no fallback tier).
 */
int capture_up(struct capture **out, const struct ss_config *cfg);
/*
 * A worker's side: a TCP and a UDP listener on the redir port in each
 * captured network namespace (its own one too, when the redir listener is
 * not on a wildcard address). 0 or -errno with *why.
 */
int capture_listen(struct ctx *p, struct listeners *ls, const char **why);

struct ctl_capture;
struct sbuf;
/* Whether a worker's answer is {"ok": true}; 0 or -EINVAL with *why. */
int capture_answer_ok(const char *reply, const char **why);
/*
 * A worker's control request: a tree's worker does its part (listen,
 * unlisten); a lone worker all of ssctl capture, asking itself.
 */
void capture_worker_ctl(struct ctx *p, struct listeners *ls, const struct ctl_capture *q,
			const char *who, struct sbuf *out);
/* Worker 0: the capture counts into the shared counters (ssctl stats, /metrics). */
void capture_publish(struct ctx *p);
/* How the process that holds the links reaches its workers: a line to each, 0 or -errno. */
struct capture_workers {
	int (*ask)(void *arg, const char *line, const char **why);
	void *arg;
};
/* ssctl capture add, del and list: one JSON object into out. */
void capture_command(struct capture *c, const struct capture_workers *w,
		     const struct ctl_capture *q, const char *who, struct sbuf *out);

#endif
