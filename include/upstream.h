/* SPDX-License-Identifier: MIT */
#ifndef SS_UPSTREAM_H
#define SS_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "key.h"

/*
 * sslocal's servers: the one place that chooses where a new connection or
 * UDP association goes. The pool holds every server of the configuration
 * (config_servers.c), each with its key; what the tree knows of each (its
 * health, the latency of its checks, its counts) lives in memory shared by
 * the supervisor and its workers. Worker 0 checks every server in the
 * background (upstream_check.c); any worker that fails to reach one marks
 * it failed at once. A capture entry's own server (capture.h) is a lone
 * struct upstream outside the pool, reference counted.
 */
#define UPSTREAM_MAX 64

enum upstream_state { UP_UNKNOWN, UP_OK, UP_FAILED };

/* One server as the tree sees it: written by the checker and by every worker. */
struct upstream_stat {
	uint32_t state;  /* enum upstream_state */
	uint32_t rtt_us; /* smoothed latency of its checks (0: none yet) */
	uint64_t checks, check_failures;
	uint64_t connects, connect_failures; /* new connections sent to it, those that failed */
	uint64_t udp_assocs;                 /* UDP associations sent to it */
	uint64_t bytes_up, bytes_down;
	uint64_t last_check_ms;              /* CLOCK_MONOTONIC ms of its last check's end */
	char why[96];                        /* why it last failed */
};

struct upstream {
	struct ss_key key;
	struct ss_addr server; /* numeric, or a name resolved at each use */
	char host[256];
	uint16_t port;
	unsigned refs;            /* connections and associations using it */
	bool dead;                /* a capture entry's own: its entry is gone, freed by the last put */
	int index;                /* in the pool, or -1 */
	struct upstream_stat *st; /* the pool's shared record of it, or NULL */
};

/*
 * A server as the list gives it: the supervisor writes the list (the
 * configuration's servers first, then those of the online configuration,
 * upstream_online.c); every process builds its own servers from it.
 */
struct upstream_def {
	char host[256];
	char method[40];
	char password[256];
	uint16_t port;
	uint8_t used, raw, online;
};

/* The list and each slot's record, shared by the tree; gen is a seqlock (odd: being written). */
struct upstream_shared {
	uint32_t gen;
	struct upstream_def d[UPSTREAM_MAX];
	struct upstream_stat st[UPSTREAM_MAX];
};

struct upstream_pool {
	struct upstream *u[UPSTREAM_MAX]; /* by slot; NULL: a free slot */
	struct upstream_def have[UPSTREAM_MAX]; /* each slot as this process built it */
	int n;                                  /* slots up to the last in use */
	uint32_t gen;                           /* the list's generation built */
	struct upstream_shared *sh;
	enum balance_mode mode;
	unsigned turn; /* load-balance: this worker's next */
};

/* A server from its host, port, method and password; 0 or -errno with why. */
int upstream_init(struct upstream *u, const char *host, int port, const struct ss_method *m,
		  const char *password, bool raw, const char **why);
/* A lone upstream from a SIP002 URI (a capture entry's); 0 or -errno with why. */
int upstream_from_uri(const char *uri, struct upstream **out, const char **why);
/* Drops a hold; a dead lone upstream goes with its last. */
void upstream_put(struct upstream *up);

/* The pool of cfg's servers, its records shared with children forked later; 0 or -errno. */
int upstream_pool_open(struct upstream_pool **out, const struct ss_config *cfg, const char **why);
void upstream_pool_close(struct upstream_pool *pl);
/*
 * Builds this process's servers again when the shared list changed: a
 * server that left is dropped (freed by the last connection holding it),
 * one that stayed keeps its state. Cheap when nothing changed.
 */
void upstream_pool_sync(struct upstream_pool *pl);
/* Servers in the pool now. */
int upstream_pool_live(const struct upstream_pool *pl);
/*
 * Writer (one process at a time): the online servers of the shared list
 * become list (n of them), keeping the slot and the record of each that
 * stays; the configuration's own are left alone. 0 or -ENOSPC.
 */
int upstream_list_set_online(struct upstream_shared *sh, const struct cfg_server *list, int n,
			     int *kept);
/*
 * The server for a new connection or association, by the pool's mode among
 * healthy servers not in tried (a bit per index); when none is healthy, the
 * untried one that failed least. NULL when every server was tried.
 */
struct upstream *upstream_pick(struct upstream_pool *pl, uint64_t tried);
/* Whether u is marked failed now (any worker's connection, or the last check). */
bool upstream_is_failed(const struct upstream *u);
/* "host:port", an IPv6 host in brackets, into buf. */
const char *upstream_str(const struct upstream *u, char *buf, size_t len);
/* A connection could not reach u (why): it is failed until a check passes. */
void upstream_failed(struct upstream *u, const char *why);
/* Counts, on u's shared record (atomic: every worker adds). */
void upstream_count(struct upstream *u, uint64_t *field, uint64_t n);
const char *upstream_state_name(uint32_t state);

/* A new TCP connection to u: host and port (the plugin's local port when there is one). */
void upstream_tcp(const struct ss_config *cfg, const struct upstream *u, const char **host,
		  uint16_t *port);
/* Calls fn with every server's host and port (never steered). */
void upstream_each(const struct ss_config *cfg,
		   void (*fn)(void *arg, const char *host, uint16_t port), void *arg);
/* The same for the online servers the pool holds now (a SIP008 document's). */
void upstream_pool_each_online(const struct upstream_pool *pl,
			       void (*fn)(void *arg, const char *host, uint16_t port), void *arg);

#endif
