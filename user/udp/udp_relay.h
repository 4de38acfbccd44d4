/* SPDX-License-Identifier: MIT */
#ifndef SS_UDP_RELAY_H
#define SS_UDP_RELAY_H

/*
 * Shared by the files of the UDP relay only: udp.c (listeners, associations,
 * datagrams in and out), udp_nat.c (the NAT table) and udp_redir.c (redir's
 * reply sockets).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "loop.h"
#include "salt_window.h"
#include "udp.h"
#include "sip022_udp.h"

#define UDP_BUCKETS 1024
#define UDP_LAZY_BUCKETS 1024 /* ssserver --bpf: the ports' relays, by port */
#define UDP_BATCH 64
#define UDP_MAX_DGRAM 65507 /* largest IPv4 UDP payload */

struct nat {
	struct handler h; /* the upstream socket */
	struct udp_relay *r;
	struct sockaddr_storage client;
	socklen_t client_len;
	uint64_t last_active;
	struct nat *prev, *next; /* LRU, oldest first; or the dead list */
	struct nat *hnext;
	struct dns_query *q;     /* a datagram waits for this resolution */
	const struct ss_key *key; /* ssserver: the client's user, whose key seals replies */
	uint8_t *pending;
	size_t pending_len;
	uint16_t pending_port;
	bool dead;
	uint64_t cap_cgroup; /* --capture: the client's cgroup; replies leave from slot addresses */
	int cap_row;         /* ... its entry's row of this worker's byte counts, or -1 */
	struct upstream *upstream; /* --capture: its entry's own server, held; or NULL */
	/*
	 * An edition with datagram sessions (SIP022, method.h): the session
	 * (sslocal: ours, made per client address; ssserver: the one made for a
	 * client session ID, which keys the entry instead of the address, so a
	 * client may move: replies go where it last sent from).
	 */
	struct udp_session *sess;
	bool by_sid;
	uint8_t sid[S22_SID];
	uint64_t claimed_at;     /* ssserver: when its claim in the salt window was last renewed */
	uint64_t rate_at;        /* ssserver rate_limit: when the bucket was last filled (ms) */
	uint64_t rate_tokens[2]; /* ... the bytes it may still send up and down */
	struct salt_claim claim; /* ssserver SIP022: where its newest packet ID is kept */
};

/*
 * redir: a transparent socket bound to a target's address, from which its
 * replies reach the clients. It is not connected, so it never takes the
 * clients' datagrams: TPROXY's established lookup skips unconnected UDP
 * sockets and assigns the redir socket, and sk_lookup's pick wins over any
 * socket that is not connected. Kept while used (timeout), at most REPLY_MAX.
 */
struct reply_sock {
	int fd;
	struct sockaddr_storage addr;
	uint64_t last_used;
	struct reply_sock *hnext;
};

#define REPLY_MAX 256
#define REPLY_BUCKETS 256

struct udp_relay;

/*
 * What a listening socket's datagrams are: ssserver's (udp_server.c) or one of
 * sslocal's kinds (udp_local.c). buf has SS_ADDR_MAX bytes of room before it.
 */
struct udp_kind {
	const char *name; /* in the log */
	bool serves;      /* ssserver: clients' datagrams are sealed, targets pass the policy */
	bool orig_dst;    /* redir: the listener asks for each datagram's original destination */
	/* A client's datagram (orig: its original destination, when asked for). */
	void (*from_client)(struct udp_relay *r, uint8_t *buf, size_t len,
			    const struct sockaddr_storage *src, socklen_t slen,
			    const struct sockaddr_storage *orig);
	/* A datagram on the client's NAT socket, from the server or a target. */
	void (*to_client)(struct nat *n, uint8_t *buf, size_t len,
			  const struct sockaddr_storage *from);
};

extern const struct udp_kind udp_kind_server, udp_kind_socks, udp_kind_tunnel, udp_kind_redir,
	udp_kind_shared;

struct udp_relay {
	struct handler h;
	struct ctx *p;
	const struct udp_kind *kind;
	struct sockaddr_storage bound;
	struct nat *buckets[UDP_BUCKETS];
	struct nat *lru_head, *lru_tail, *dead;
	struct udp_relay *reap_next; /* p->udp_reap, while dead holds entries */
	unsigned n;
	struct reply_sock *rbuckets[REPLY_BUCKETS];
	unsigned nreply;
	struct ss_addr server; /* sslocal: the ssserver */
	struct port_keys *pk;  /* ssserver: the keys of the port it serves */
	/*
	 * ssserver --bpf: a listen address's shared socket (kind shared), or a
	 * port's relay made for its datagrams (lazy: closed once idle); ai is the
	 * listen address's index.
	 */
	bool lazy;
	struct udp_relay *lazy_next; /* its bucket of p->udp_lazy */
	bool draining; /* read no more (a successor reads the socket); closed once idle */
	int ai;
	struct udp_relay *next;
	/*
	 * SOCKS5 association socket: the only client allowed (its IP, and the port
	 * it announced or 0) and the TCP control connection that keeps it alive.
	 */
	void *owner;
	void (*keepalive)(void *owner);
	struct sockaddr_storage allowed;
	uint16_t allowed_port;
	uint64_t bytes_up, bytes_down; /* datagram bytes from and to the clients (a close line) */
};

/* udp_nat.c */
/*
 * The NAT entry of a client, made on first use (evicting the oldest at the
 * cap); NULL on error. With sid (ssserver, SIP022) the entry is the client
 * session's, wherever it now sends from: found, it takes client as its address.
 */
struct nat *nat_get(struct udp_relay *r, const struct sockaddr_storage *client, socklen_t len,
		    const uint8_t *sid);
/* The entry of a SIP022 client session, or NULL. */
struct nat *nat_find_sid(struct udp_relay *r, const uint8_t *sid);
/* The key of an entry's datagrams: ssserver's client's user, or the worker's one key. */
const struct ss_key *nat_key(const struct nat *n);
/* Closes the NAT socket now; the memory goes at the end of the epoll batch. */
void nat_kill(struct nat *n);
/* Counts as activity: the entry moves to the LRU's tail. */
void nat_touch(struct nat *n);
/* Sends towards dst (numeric, or a name resolved through the shared resolver). */
void nat_send(struct nat *n, const struct ss_addr *dst, const uint8_t *data, size_t len);
/* Frees the NAT entries killed during this batch. */
void nat_reap(struct udp_relay *r);
/* udp.c */
/* A reply on a NAT socket. */
void udp_on_nat_event(struct handler *h, uint32_t events);
/*
 * Seals address + payload for the peer: in the entry's session if it has one,
 * else alone (its salt then goes into the replay filter).
 */
int udp_seal(struct ctx *p, struct nat *n, const struct ss_key *k, const uint8_t *in, size_t len,
	     uint8_t *out, size_t cap, size_t *olen);
/* Whether a datagram's salt came before (and records it). */
bool udp_salt_replayed(struct ctx *p, const struct ss_key *k, const uint8_t *dgram);
/*
 * ssserver: may len more bytes go up (or down) under key k? Not once its
 * data_limit is spent; and within its rate_limit: a token bucket per entry
 * and direction, refilled at the rate, holding one second's worth. A
 * datagram refused is dropped (counted as refused). Both editions' paths
 * (SIP004 datagrams, SIP022 sessions) ask here.
 */
bool udp_admit(struct nat *n, const struct ss_key *k, bool up, size_t len);
/* Sends to the entry's client from the listening socket, counted. */
void udp_client_send(struct nat *n, const uint8_t *data, size_t len);

/* udp_sessions.c: ssserver's datagram sessions (SIP022), by client session ID. */
/* A client datagram (forwarded: handed over by another worker, never passed on again). */
void sessions_from_client(struct udp_relay *r, const uint8_t *buf, size_t len,
			  const struct sockaddr_storage *src, socklen_t slen, bool forwarded);

/* udp_redir.c */
/* Closes the reply sockets unused since before, or (before == 0) the least recently used. */
void reply_expire(struct udp_relay *r, uint64_t before);
/* redir: the reply leaves from the address the client sent to. */
void redir_reply(struct nat *n, const struct ss_addr *from, const uint8_t *data, size_t len);
/* The destination the client sent to, from IP(V6)_ORIGDSTADDR. */
bool orig_dst(struct msghdr *mh, struct sockaddr_storage *out);
struct capture_orig;
/*
 * --capture: the original destination a slot address orig stands for: 1 with
 * *o set, 0 when orig is no slot (and r may take such datagrams), -1 to drop.
 */
int capture_target(struct udp_relay *r, const struct sockaddr_storage *orig,
		   struct capture_orig *o);
/* --capture: the reply leaves r's listener from the slot address standing for from. */
void capture_reply(struct nat *n, const struct ss_addr *from, const uint8_t *data, size_t len);

#endif
