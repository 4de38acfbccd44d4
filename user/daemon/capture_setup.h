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
int capture_listen(struct ctx *p, struct listeners *ls, bool tcp, bool udp, const char **why);

#endif
