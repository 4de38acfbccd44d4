/* SPDX-License-Identifier: MIT */
#ifndef SS_STATS_H
#define SS_STATS_H

#include <stddef.h>

struct capture;
struct upstream_pool;
struct counters;
struct replay;
struct sbuf;
struct traffic;

/* What a daemon counts, summed over its workers: the inputs of ssctl stats and /metrics. */
struct stats_src {
	const char *prog;
	const struct counters *ctr; /* one per worker */
	size_t workers;
	const struct traffic *traffic; /* ssserver, or NULL */
	const struct replay *replay;
	const struct capture *cap; /* sslocal redir --capture, or NULL */
	const struct upstream_pool *servers; /* sslocal: its servers, or NULL */
};

/* ssctl stats: one JSON object. */
void stats_json(const struct stats_src *s, struct sbuf *out);
/* /metrics: the Prometheus text exposition format, names prefixed ssbpf_. */
void stats_prometheus(const struct stats_src *s, struct sbuf *out);

#endif
