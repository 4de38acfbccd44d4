/* SPDX-License-Identifier: MIT */
#ifndef SS_WORKER_H
#define SS_WORKER_H

#include "config.h"
#include "replay.h"

/*
 * Runs one worker (its own loop, SO_REUSEPORT listeners, connections and
 * UDP relays) until it is told to stop; returns its exit status.
 */
struct counters;
struct traffic;
/*
 * ctr: this worker's counters; traffic: bytes per port and user (ssserver,
 * or NULL); both in memory shared with the supervisor.
 */
int worker_run(const struct ss_config *cfg, const struct replay *replay, struct counters *ctr,
	       struct traffic *traffic, const char *name, int index);

#endif
