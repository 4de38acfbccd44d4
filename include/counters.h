/* SPDX-License-Identifier: MIT */
#ifndef SS_COUNTERS_H
#define SS_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "udp.h"

/* Where STREAM bytes were moved. */
enum ctr_tier { CTR_USER, CTR_SPLICE, CTR_SOCKMAP, CTR_SHORTCUT, CTR_TIERS };

/* Why a connection ended before STREAM. */
enum ctr_fail {
	FAIL_AUTH,        /* ssserver: the first bytes failed authentication (a probe, a wrong key) */
	FAIL_REPLAY,      /* ssserver and sslocal: a salt seen before */
	FAIL_BAD_REQUEST, /* a malformed SOCKS5 request or address header */
	FAIL_SOCKS_AUTH,  /* SOCKS5 username/password refused */
	FAIL_DEADLINE,    /* the handshake deadline passed */
	FAIL_EARLY_CLOSE, /* the client closed during its handshake */
	FAIL_POLICY,      /* ssserver: the target is refused by the policy */
	FAIL_RESOLVE,     /* the target or server name did not resolve */
	FAIL_CONNECT,     /* the connection to the target or server failed */
	FAIL_REASONS
};

/*
 * --capture: the bytes one worker relayed for a capture entry, a row per
 * entry (id: its cgroup v2 id; 0: a free row). Rows are not summed: the
 * stats add up the rows of each live entry's id over the workers.
 */
#define CTR_CAPTURE_ROWS 256 /* CAPTURE_MAX */
struct ctr_capture {
	uint64_t id, up, down;
};

/* Histogram buckets (upper bounds) of DNS latency (ms) and connection duration (s). */
#define DNS_BUCKETS 10
#define DURATION_BUCKETS 8
extern const double counters_dns_le[DNS_BUCKETS];
extern const double counters_duration_le[DURATION_BUCKETS];

/*
 * One worker's counters, in memory shared with the supervisor (which sums
 * the workers); the log lines read them, and so will a control socket and
 * metrics. Each worker writes only its own; no locks.
 */
struct counters {
	uint64_t accepted, closed;
	uint64_t live[ST_DESTROYED];          /* connections now in each stage */
	uint64_t bytes_up[CTR_TIERS];         /* client -> target, by tier */
	uint64_t bytes_down[CTR_TIERS];       /* target -> client, by tier */
	uint64_t to_sockmap, to_splice, left_sockmap; /* pairs handed to each tier */
	uint64_t to_shortcut;    /* connections with a leg on the local shortcut */
	uint64_t shortcut_bytes; /* bytes of closed ones that the shortcut carried */
	uint64_t left_shortcut;  /* legs a bulk sender moved off it */
	uint64_t fail[FAIL_REASONS];
	struct udp_stats udp;
	/* Histograms: a count per bucket (not cumulative; +Inf is the last), and the sum. */
	uint64_t udp_assoc_live, udp_assoc_opened; /* UDP NAT associations */
	/* Copied by the worker's tick: its resolver cache and its BPF objects. */
	uint64_t dns_hits, dns_misses, dns_cache_entries;
	uint64_t bpf_loaded, sockmap_socks;
	/* Worker 0 only (the shortcut is one for the tree): its map's sockets, bytes redirected. */
	uint64_t shortcut_socks, shortcut_redirected;
	/* Worker 0 only (it holds redir's steering): list sizes; what sk_lookup handed over. */
	uint64_t steer_prefixes, steer_exclusions, steer_from_files, steer_from_acl;
	uint64_t steered_tcp, steered_udp;
	uint64_t captured_tcp, captured_udp, capture_direct, capture_refused; /* --capture */
	uint64_t dns_ms[DNS_BUCKETS + 1], dns_sum_ms;
	uint64_t duration[DURATION_BUCKETS + 1], duration_sum_ms;
	struct ctr_capture cap[CTR_CAPTURE_ROWS]; /* last: counters_sum stops before it */
};

/* n zeroed counters shared by this process and its children; NULL on error. */
struct counters *counters_shared(size_t n);
void counters_free(struct counters *c, size_t n);
/* out = the sum of n workers' counters. */
void counters_sum(const struct counters *c, size_t n, struct counters *out);
/* The row of capture entry id in one worker's counters (claimed if new), or -1 when all are taken. */
int counters_capture_row(struct counters *c, uint64_t id);
/* n bytes up or down for entry id, whose row counters_capture_row gave (rows are reused). */
static inline void counters_capture_add(struct counters *c, int row, uint64_t id, int up,
					uint64_t n)
{
	if (row >= 0 && row < CTR_CAPTURE_ROWS && id && c->cap[row].id == id) {
		if (up)
			c->cap[row].up += n;
		else
			c->cap[row].down += n;
	}
}
/* Entry id is gone: its row is free again. */
void counters_capture_drop(struct counters *c, uint64_t id);
/* The bytes of entry id over n workers' counters. */
void counters_capture_sum(const struct counters *c, size_t n, uint64_t id, uint64_t *up,
			  uint64_t *down);
/* Adds one observation to a histogram of n bounds (buckets has n + 1 slots). */
void counters_observe(uint64_t *buckets, const double *le, int n, double v);
/* The one vocabulary of tiers: ssctl, /metrics and the log lines. */
const char *counters_tier_name(enum ctr_tier t);
/* Names of the failure reasons, for logs. */
const char *counters_fail_name(enum ctr_fail f);

#endif
