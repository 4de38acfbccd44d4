/* SPDX-License-Identifier: MIT */
#ifndef SS_UPSTREAM_CHECK_H
#define SS_UPSTREAM_CHECK_H

/*
 * Background checks of sslocal's servers (upstream_check.c), run by worker
 * 0 for the tree when there are several servers: the result goes to each
 * server's shared record, which every worker's choice reads.
 */
struct ctx;
struct upstream_checks;

/* For p's servers (p->servers); 0 or -errno with why. */
int upstream_checks_open(struct ctx *p, struct upstream_checks **out, const char **why);
/* From the worker's tick: a round every check interval, and the deadline of each check. */
void upstream_checks_tick(struct upstream_checks *k);
void upstream_checks_close(struct upstream_checks *k);

#endif
