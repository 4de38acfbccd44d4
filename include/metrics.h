/* SPDX-License-Identifier: MIT */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include <stdint.h>

struct loop;
struct sbuf;

/*
 * --metrics HOST:PORT: GET /metrics in the Prometheus text format; any other
 * request gets 404, a malformed one 400, and a client that has not sent its
 * request within 5 s is closed (slowloris).
 */
struct metrics;
typedef void (*metrics_fn)(void *arg, struct sbuf *out);

int metrics_open(struct metrics **out, struct loop *l, const char *hostport, metrics_fn fn,
		 void *arg, const char **why);
/* Closes clients past their deadline; call from the owner's tick. */
void metrics_tick(struct metrics *m, uint64_t now_ms);
void metrics_close(struct metrics *m);

#endif
