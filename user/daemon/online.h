/* SPDX-License-Identifier: MIT */
#ifndef SS_ONLINE_H
#define SS_ONLINE_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

struct tree;

/*
 * sslocal's SIP008 online configuration, kept by the tree. The first fetch
 * runs before the workers start; a failure ends the start when there is no
 * other server, and is one warning otherwise. Later fetches run every
 * update interval and on SIGHUP, each in a short-lived child of the tree
 * so that a slow server never holds it up; a document that passes as a
 * whole replaces the online servers in the shared list (upstream.h), a bad
 * one leaves the list as it was. 0, or -1 (logged).
 */
int online_first(struct ss_config *cfg);
/* The tree's tick: a fetch when one is due and none runs. */
void online_tick(struct tree *t);
/* Whether pid was the fetch (reaped). */
bool online_reaped(struct tree *t, pid_t pid);
/* The tree stops: a fetch still running goes. */
void online_stop(struct tree *t);

#endif
