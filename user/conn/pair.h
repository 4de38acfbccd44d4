/* SPDX-License-Identifier: MIT */
#ifndef SS_CONN_PAIR_H
#define SS_CONN_PAIR_H

/*
 * A connection is a pair of sockets: its parts (sides, directions, the
 * inbound kind and the STREAM tier behind their interfaces), shared by the
 * files of conn/ only: conn.c (lifecycle and the one stage switch),
 * conn_table.c, conn_stream.c, the inbound kinds (inbound*.c) and the STREAM
 * tiers (tiers.c, tier_*.c).
 * Only conn.c changes a connection's stage; see docs/architecture.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "counters.h"
#include "ctx.h"

/*
 * A queue the daemon waits on (a kernel redirect queue, the bytes before a
 * FIN, a peer acknowledging before a reset) must show progress within
 * KERNEL_STALL_MS, or the pair is given up.
 */
#define KERNEL_STALL_MS 3000

/* conn_table.c: the lists of the connection table. */
void conn_table_add(struct ctx *p, struct conn *c);
void conn_table_remove(struct ctx *p, struct conn *c);
/* Counts a connection that ended before STREAM, by reason. */
void ctr_fail(struct conn *c, enum ctr_fail f);
/* Activity: the connection moves to the young end of the LRU. */
void conn_touch(struct conn *c);
/* The request is complete: from now on the idle timeout applies. */
void conn_leave_handshake(struct conn *c);
/* Makes sure the poll timer visits c soon and until it needs no more. */
void conn_poll_add(struct ctx *p, struct conn *c);
void conn_poll_arm(struct ctx *p, bool on);
/*
 * The poll timer (conn_table.c), created with the tiers; -errno (*why) on
 * failure. Each tick visits the listed connections (conn.c's visit: false
 * once c needs no more polling; it may destroy c).
 */
int conn_poll_open(struct ctx *p, bool (*visit)(struct conn *c), const char **why);
void conn_poll_close(struct ctx *p);
/* A destroyed connection leaves the poll list. */
void conn_poll_forget(struct ctx *p, struct conn *c);

/* What a handshake step found; conn.c acts on it. */
enum hs_outcome {
	HS_AGAIN,     /* nothing to do until more bytes arrive */
	HS_MORE,      /* read: bytes arrived, call parse (start: read a handshake) */
	HS_ADDR,      /* INIT is over: the stage becomes ADDR, then parse on */
	HS_TARGET,    /* the target is known (c->target); bytes after it wait in c->hs */
	HS_UDP_ASSOC, /* SOCKS5 UDP ASSOCIATE */
	HS_HOLD,      /* ssserver: bad authentication, read and discard until the deadline */
	HS_CLOSE,     /* close the connection; *why says why (NULL: quietly) */
};
/*
 * An inbound kind: what a client speaks to the daemon, parsed in stages INIT
 * and ADDR into a target (c->target). One file per kind: inbound_ss.c
 * (ssserver: salt and address header), inbound_socks.c (SOCKS5),
 * inbound_redir.c (redir's original destination; tunnel's and relay's one
 * target). conn.c calls c->in's ops and reads its flags; it tests no kind.
 */
struct inbound_ops {
	const char *name;
	/* At accept: HS_TARGET (the target is known), HS_MORE (read a handshake), HS_CLOSE (*why). */
	enum hs_outcome (*start)(struct conn *c, const char **why);
	/* Reads what the client sent during INIT/ADDR (HS_MORE: parse it). */
	enum hs_outcome (*read)(struct conn *c, const char **why);
	/* Takes one step over the bytes read so far. */
	enum hs_outcome (*parse)(struct conn *c, const char **why);
	/* How the request ended (0, or the connect's -errno; bound: a UDP association's). NULL: nothing said. */
	void (*reply)(struct conn *c, int err, const struct ss_addr *bound);
	/*
	 * ssserver's kind: the client leg carries Shadowsocks, and targets are
	 * dialled for remote clients under the target policy. Otherwise the
	 * upstream leg carries it to ssserver (or, plain, the bytes as they are).
	 */
	bool serves;
	bool plain;      /* --relay: a transit node, bytes as they are to the upstream */
	bool acl_bypass; /* sslocal's ACL may send the target direct */
};
extern const struct inbound_ops inbound_ss, inbound_socks, inbound_redir, inbound_tunnel,
	inbound_relay;
/* inbound.c: the kind of a listener's role. */
const struct inbound_ops *inbound_of(enum conn_role role);
/* sslocal: does the ACL send c->target directly, through the server, or does its address decide? */
enum acl_route { ROUTE_PROXY, ROUTE_BYPASS, ROUTE_RESOLVE };
enum acl_route hs_route(const struct conn *c);
/* conn.c: on from a target whose route is known (c->bypass). */
void conn_route(struct conn *c, const uint8_t *extra, size_t n);
/* conn_stream.c: the userspace and splice pump. */
/* Every salt this process generates goes into the replay filter. */
void stream_remember_salt(struct conn *c);
/* Was the peer's salt, just read, seen before? */
bool stream_salt_replayed(struct conn *c, bool had_salt);

size_t stream_pending(const struct dir *d);
/* An ACL bypass: the client's first bytes go to the target as they are. */
int stream_take_plain(struct conn *c, const uint8_t *data, size_t n);
int stream_buf_reserve(struct ctx *p, struct relay_buf *b);
void stream_buf_release(struct ctx *p, struct relay_buf *b);
/* Gives back a connection's buffers and pipes. */
void stream_release(struct conn *c);
/* Writes what the direction has pending; 0, or -errno on a fatal error. */
int stream_flush(struct conn *c, struct dir *d, int sink);
/* Reads once from src into d (transformed); bytes, 0 at EOF, -EAGAIN, -EBADMSG, -errno. */
ssize_t stream_read(struct conn *c, struct dir *d, int src, int *derr);
/*
 * recv(2) on one of c's sockets, every read of a connection: counts what was
 * read (and on the shortcut publishes it, shortcut_read). errno as recv left it.
 */
ssize_t conn_recv(struct conn *c, int fd, void *buf, size_t len);
/* sslocal: queues the request header alone (the client sent nothing first); 0 or -errno. */
int stream_send_header(struct conn *c);
/* Moves one direction along; 0 or -errno. */
int stream_pump(struct conn *c, struct dir *d, int src, int sink, bool can_read);
/* Ends d at its sink (FIN, or a reset after the peer has every byte); 1 while it waits. */
int stream_end(struct conn *c, struct dir *d, int sink);
/* Whether a socket's handshake is over (getpeername fails before, in SYN_SENT). */
bool stream_connected(int fd);
/* The sink of d was reset by its peer. */
void stream_sink_reset(struct conn *c, struct dir *d);
/* c's data_limit is spent: it ends once what it read is delivered. */
void stream_spent(struct conn *c);
/* Counts n STREAM bytes of direction d moved in tier t. */
void stream_count(struct conn *c, const struct dir *d, enum ctr_tier t, uint64_t n);
/* "closed", or "reset by a peer" when a reset ended the pair. */
const char *stream_end_reason(const struct conn *c);
/* 0 while progress moves or stall_ms has not passed since it last did; -EPIPE then. */
int stream_waiting(struct conn *c, struct dir *d, uint64_t progress, bool moving,
		   uint64_t stall_ms);

/* conn_shortcut.c: --bpf-cgroup. Before connecting to a target (fd not yet connected). */
/* inbound_http.c: an HTTP proxy request on the SOCKS port (inbound_socks.c calls these). */
enum hs_outcome http_begin(struct conn *c, const char **why);
enum hs_outcome http_read(struct conn *c, const char **why);
enum hs_outcome http_request(struct conn *c, const char **why);
void http_reply(struct conn *c, int err);

/* conn_server.c: sslocal's server for c. Under key k from now on; 0, or -1 (cipher set-up failed). */
int conn_use_key(struct conn *c, const struct ss_key *k);
/* ssserver: its user's (or port's) rate_limit on both sockets, as the kernel's pacing rate. */
void conn_pace(struct conn *c);
/* Chooses c's server (unless a capture entry gave one); 0, or -1 when c is destroyed. */
int server_choose(struct conn *c);
/* Queues the encrypted first flight (address header and the client's first data); 0 or -1. */
int server_first_flight(struct conn *c, const uint8_t *extra, size_t n);
/*
 * ROUTE_RESOLVE: the name's address decides, as in libev's ss-local: 0 when
 * it did at once (the resolver's cache; c->bypass set), 1 when the answer
 * will call conn_route later (extra kept till then).
 */
int server_acl_resolve(struct conn *c, const uint8_t *extra, size_t n);
/* c's server failed (err, in step what): marks it, and true when c goes to another now. */
bool server_retry(struct conn *c, int err, const char *what);

void shortcut_dial(struct conn *c, int fd, const struct sockaddr *sa);
/* At STREAM, before the first byte goes out: which legs take the shortcut. */
void shortcut_start(struct conn *c);
/*
 * After a read from leg s on the shortcut (dry: it had no more): publishes
 * what was read for flow control, now and then and whenever it runs dry.
 */
void shortcut_read(struct conn *c, struct sock *s, bool dry);
/* Bytes of both legs that went through the shortcut so far. */
uint64_t shortcut_conn_bytes(const struct conn *c);
/* At destroy, before the sockets close. */
void shortcut_end(struct conn *c);

/*
 * A STREAM tier: how a pair's bytes move once both legs are up. Every pair
 * starts in tier_user; tiers.c hands pass-through pairs (method none,
 * --relay) to tier_splice or tier_sockmap, and a tier may hand a pair back
 * (sockmap's flow control). The stage switch (conn.c) calls c->tier's ops
 * and never names a tier: a new tier is one more file and one more row.
 */
struct tier_ops {
	enum conn_tier id;
	/* A socket of the pair woke up (is_local: the client's); 0 or -errno. */
	int (*sock_event)(struct conn *c, bool is_local, uint32_t events);
	/* stream_pump's read of direction d from src: as stream_read. */
	ssize_t (*read)(struct conn *c, struct dir *d, int src, int *derr);
	/* The epoll interest of both sockets. */
	void (*interest)(const struct conn *c, uint32_t *lev, uint32_t *rev);
	/* The poll timer's visit: 1 to poll again, 0 done, -1 to destroy (*why). */
	int (*poll)(struct conn *c, const char **why);
	/* Did the kernel move bytes since the last look (activity for the idle sweep)? */
	bool (*moved)(struct conn *c);
	/* A destroyed pair leaves the tier (the kernel's maps), before its sockets close. */
	void (*forget)(struct conn *c);
};

/* tier_user.c: read, seal or open, write, in the daemon. */
extern const struct tier_ops tier_user;
int tier_user_sock_event(struct conn *c, bool is_local, uint32_t events);
void tier_user_interest(const struct conn *c, uint32_t *lev, uint32_t *rev);
int tier_user_poll(struct conn *c, const char **why);
bool tier_none_moved(struct conn *c);
void tier_none_forget(struct conn *c);
/* tier_splice.c: socket to pipe to socket, in the kernel. */
extern const struct tier_ops tier_splice;
/* Takes pipes for both directions: 0, or -ENOMEM (the pair stays where it is). */
int splice_enter(struct conn *c);
/* tier_sockmap.c: sk_msg redirect between the two sockets (bpf_relay.c). */
extern const struct tier_ops tier_sockmap;
enum sockmap_entry { SOCKMAP_IN, SOCKMAP_LATER, SOCKMAP_NO, SOCKMAP_SPLICE };
/* A quiet moment (no unread bytes): attach the pair. What happened. */
enum sockmap_entry sockmap_enter(struct conn *c);
/* Loads the relay program when wanted: 0, or -errno (*why) when it must be there. */
int sockmap_open(struct ctx *p, bool pass, const char **why);
void sockmap_close(struct ctx *p);
/* tiers.c */
/* Hands a pass-through pair to the kernel once the daemon holds none of its bytes. */
void tier_handoff(struct conn *c);
/* Chooses the tier of pass-through pairs (loads BPF when wanted) and logs it. */
int tiers_open(struct ctx *p, const char **why);
void tiers_close(struct ctx *p);

#endif
