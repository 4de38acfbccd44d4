/* SPDX-License-Identifier: MIT */
#ifndef SS_CONN_H
#define SS_CONN_H

#include "aead.h"
#include "config.h"
#include "addr.h"
#include "loop.h"

struct proxy;
struct dns_query;
struct udp_relay;

/* The stage machine of DESIGN.md; only conn.c changes a connection's stage. */
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

struct sock {
	struct handler h;
	struct conn *c;
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

	/* splice tier: pending bytes wait in a pipe from the proxy's pool */
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
	struct dir *cnext;     /* proxy's cookie table chain */
};

struct conn {
	struct sock local, remote;
	struct proxy *p;
	enum conn_stage stage;
	enum conn_role role;
	uint64_t id;
	uint64_t last_active;
	uint64_t accepted_at;
	bool in_hs;               /* on the proxy's handshake list, not the LRU */
	struct conn *prev, *next; /* proxy LRU or handshake list, or the dead list */

	struct dir up, down;
	struct ss_enc enc; /* sslocal: up; ssserver: down */
	struct ss_dec dec; /* sslocal: down; ssserver: up */
	bool enc_ready, dec_ready;

	bool socks_auth;  /* INIT: waiting for RFC 1929 sub-negotiation */
	bool bad_auth;    /* server: authentication failed, discarding until timeout */
	uint8_t hs[SS_ADDR_MAX + 64]; /* SOCKS5 handshake bytes */
	uint16_t hs_len;

	enum conn_tier tier;   /* TIER_USER until a pass-through pair is handed off */
	bool passthrough;      /* both legs carry the same bytes (none, --relay) */
	bool left_kernel;      /* flow control moved the pair out of sockmap for good */
	struct conn *poll_next; /* proxy's sockmap poll list */
	bool polling;

	struct ss_addr target;
	struct dns_query *q;
	struct sockaddr_storage peer_sa; /* the local peer */
	char peer[64];    /* ... as text, for logs */
	struct conn *assoc_next; /* proxy's list of UDP associations */
	struct udp_relay *assoc_udp; /* UDP_ASSOC: the association's own UDP socket */
};

/* Takes ownership of an accepted socket and starts its stage machine. */
void conn_accept(struct proxy *p, int fd, enum conn_role role);
/* Closes both sockets now; the memory is freed by conn_reap at batch end. */
void conn_destroy(struct conn *c, const char *why);
void conn_reap(struct proxy *p);
/*
 * Closes connections idle for longer than timeout_ms and those that have
 * not completed their handshake hs_ms after accept (oldest first).
 */
void conn_sweep(struct proxy *p, uint64_t now, uint64_t timeout_ms, uint64_t hs_ms);
const char *conn_stage_name(enum conn_stage s);
/* Sockmap bookkeeping that cannot wait for an event: returns true while more is needed. */
bool conn_poll(struct conn *c);
/* sockmap flow control: the socket with this cookie is over its limit. */
void conn_over_limit(struct proxy *p, uint64_t cookie);
/* Counts as activity (UDP traffic of a SOCKS5 association keeps its TCP alive). */
void conn_keepalive(struct conn *c);

#endif
