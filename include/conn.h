/* SPDX-License-Identifier: MIT */
#ifndef SS_CONN_H
#define SS_CONN_H

#include "method.h"
#include "config.h"
#include "addr.h"
#include "loop.h"

struct ctx;
struct port_keys;
struct ss_key;
struct dns_query;
struct udp_relay;
struct tier_ops;
struct inbound_ops;
struct upstream;

/* The stage machine (docs/architecture.md); only conn.c changes a connection's stage. */
enum conn_stage {
	ST_INIT,
	ST_ADDR,
	ST_UDP_ASSOC,
	ST_DNS,
	ST_CONNECTING,
	ST_STREAM,
	ST_DESTROYED,
};

enum conn_role { ROLE_SOCKS, ROLE_TUNNEL, ROLE_REDIR, ROLE_RELAY, ROLE_SERVER };

/* Where a sockmap direction's bytes are moved. */
enum kstate {
	KS_KERNEL,   /* redirected by the verdict program */
	KS_DEMOTING, /* interception stopped for flow control; the kernel queue drains */
	KS_USER,     /* carried on by the daemon (read/write) */
};

struct shortcut_peer;

struct sock {
	struct handler h;
	struct conn *c;
	uint64_t rd;              /* bytes read from it (conn_recv) */
	struct shortcut_peer *sc; /* --bpf-cgroup: on the local shortcut (conn_shortcut.c) */
	bool sc_leaving;          /* ... its peer left the map, it leaves once its queue is empty */
};

/* Bytes waiting to be written to a direction's sink. */
struct relay_buf {
	uint8_t *data; /* PROXY_BUF_CAP bytes from the pool, or NULL */
	size_t off, len;
};

/* One direction: up is local -> remote, down is remote -> local. */
struct dir {
	struct relay_buf out;
	bool eof;   /* the source sent FIN (or reset) */
	bool shut;  /* the sink's write side is shut down (or the sink is gone) */
	bool reset; /* the source was reset: the sink gets a reset after the bytes before it */
	uint64_t bytes; /* bytes read from the source */

	/* splice tier: pending bytes wait in a pipe from the worker's pool */
	int pipe[2];
	size_t pipe_len;

	/* sockmap tier */
	enum kstate ks;
	uint64_t cookie;       /* the source socket */
	uint64_t base;         /* the sink's TCP bytes written at hand-off */
	uint64_t user_written; /* bytes the daemon wrote to the sink since */
	uint64_t seen;         /* redirected count at the last idle check */
	uint64_t mark;         /* progress while the daemon waits on the kernel ... */
	uint64_t mark_at;      /* ... and when it last moved (0: not waiting) */
	struct conn *owner;
	struct dir *cnext;     /* the cookie table's chain */
};

#define CONN_COOKIE_SLOTS 4096

/* One worker's connections; changed by the connection module only. */
struct conn_table {
	/* Live connections ordered by last activity, oldest first (idle sweep). */
	struct conn *lru_head, *lru_tail;
	/* Connections still in their handshake, oldest accept first (deadline sweep). */
	struct conn *hs_head, *hs_tail;
	struct conn *dead;     /* destroyed during this batch, freed at its end */
	unsigned n;            /* live connections */
	uint64_t next_id;

	/* The poll list (conn_table.c), and the sockmap tier's events (tier_sockmap.c) */
	struct handler poll;   /* timerfd armed while listed connections need polling */
	struct conn *polls;
	bool (*visit)(struct conn *c); /* conn.c: one visit of a listed connection */
	struct handler bpf_events; /* sockets over their flow-control limit */
	struct dir *cookies[CONN_COOKIE_SLOTS]; /* sockmap directions by source cookie */
};

struct conn {
	struct sock local, remote;
	struct ctx *p;
	enum conn_stage stage;
	enum conn_role role;
	const struct inbound_ops *in; /* what the client speaks (conn/pair.h) */
	uint64_t id;
	uint64_t last_active;
	uint64_t accepted_at;
	uint64_t stage_at;        /* when the current stage began */
	bool in_hs;               /* on the handshake list, not the LRU */
	struct conn *prev, *next; /* LRU or handshake list, or the dead list */

	struct dir up, down;
	const struct ss_key *key; /* the port's or user's key; NULL until a user's is found */
	struct port_keys *pk;     /* ssserver: the keys of the port it came in on */
	union method_enc enc; /* sslocal: up; ssserver: down */
	union method_dec dec; /* sslocal: down; ssserver: up */
	bool enc_ready, dec_ready;

	bool socks_auth;  /* INIT: waiting for RFC 1929 sub-negotiation */
	bool hdr_pending; /* sslocal: the request header waits in hs for the first data */
	bool tfo_pending; /* TCP Fast Open: the remote socket may still wait for its SYN-ACK */
	uint64_t stream_at; /* when STREAM began */
	bool bad_auth;    /* server: authentication failed, discarding until timeout */
	bool paced;       /* server: its sockets carry a pacing rate (rate_limit) */
	bool spent;       /* server: its user's data_limit ran out; both sockets shut */
	uint8_t hs[SS_ADDR_MAX + 64]; /* SOCKS5 handshake bytes */
	uint16_t hs_len;
	uint8_t proxy;     /* sslocal's SOCKS port: 5, 4 (SOCKS4/4a) or 'H' (HTTP); 0 before the first byte */
	bool http_connect; /* HTTP CONNECT: 200 once the server's connection is up */
	char *http;        /* an HTTP request head while it arrives (HTTP_HEAD_MAX bytes) */
	uint32_t http_len;
	uint8_t *first;    /* the client's first data when larger than hs (an HTTP request), or NULL */
	uint32_t first_len;

	const struct tier_ops *tier; /* tier_user until a pass-through pair is handed off */
	bool passthrough;      /* both legs carry the same bytes (none, --relay, bypass) */
	bool bypass;           /* sslocal ACL: the target is reached directly, in the clear */
	bool left_kernel;      /* flow control moved the pair out of sockmap for good */
	uint16_t sc_port;      /* the port a local target is dialled from, announced to it */
	struct conn *poll_next; /* the sockmap poll list */
	bool polling;

	struct ss_addr target;
	uint64_t cgroup, netns; /* --capture: the client's cgroup v2 id and namespace cookie */
	int cap_row;            /* ... its entry's row of this worker's byte counts, or -1 */
	struct upstream *upstream; /* sslocal: its server (the pool's or a capture entry's), held */
	uint64_t tried;            /* sslocal: the pool's servers tried, a bit per index */
	struct dns_query *q;
	struct sockaddr_storage peer_sa; /* the local peer */
	char peer[64];    /* ... as text, for logs */
	struct udp_relay *assoc_udp; /* UDP_ASSOC: the association's own UDP socket */
};

/* Whether a leg of c is on the local shortcut (--bpf-cgroup). */
static inline bool conn_on_shortcut(const struct conn *c)
{
	return c->local.sc || c->remote.sc;
}

/* Takes ownership of an accepted socket and starts its stage machine. */
/* pk: ssserver, the keys of the listener's port (NULL for sslocal roles). */
void conn_accept(struct ctx *p, int fd, const struct sockaddr_storage *peer, enum conn_role role,
		 struct port_keys *pk);
/* Closes both sockets now; the memory is freed by conn_reap at batch end. */
void conn_destroy(struct conn *c, const char *why);
void conn_reap(struct ctx *p);
/* Destroys every connection (exit, drain deadline), or those of port pk (a reload removed it). */
void conn_destroy_all(struct ctx *p, const struct port_keys *pk, const char *why);
/* A reload changed port pk's rate limits: its live connections take them. */
void conn_pace_all(struct ctx *p, const struct port_keys *pk);
/* Ends the live connections whose user's data_limit is spent (by this worker or another). */
void conn_end_spent(struct ctx *p);
/*
 * Closes connections idle for longer than timeout_ms and those that have
 * not completed their handshake hs_ms after accept (oldest first).
 */
void conn_sweep(struct ctx *p, uint64_t now, uint64_t timeout_ms, uint64_t hs_ms);
const char *conn_stage_name(enum conn_stage s);
/*
 * Chooses the STREAM tier of pass-through pairs (loads BPF when it is
 * wanted), logs it, and sets up the sockmap poll timer; 0 or -errno (*why).
 */
int conn_tiers_open(struct ctx *p, const char **why);
void conn_tiers_close(struct ctx *p);

struct conn_stats {
	unsigned live;
	uint64_t to_sockmap, to_splice, left_sockmap;
	bool sockmap_loaded;
	unsigned sockmap_socks, sockmap_peers; /* entries in the BPF maps */
};
void conn_stats(const struct ctx *p, struct conn_stats *st);

#endif
