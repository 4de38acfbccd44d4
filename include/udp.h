/* SPDX-License-Identifier: MIT */
#ifndef SS_UDP_H
#define SS_UDP_H

#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

struct ctx;
struct port_keys;
struct udp_relay;

/* UDP_SHARED: ssserver --bpf, the datagrams of every port served on one listen address. */
enum udp_role { UDP_SERVER, UDP_SOCKS, UDP_TUNNEL, UDP_REDIR, UDP_SHARED };

/* Why datagrams were dropped; reported on SIGUSR1 and at exit. */
struct udp_stats {
	uint64_t in, out;        /* datagrams relayed towards the right / back left */
	uint64_t bad_crypto;     /* failed to open (wrong key, truncated, tampered) */
	uint64_t bad_header;     /* malformed SOCKS5 UDP header or address, unknown ATYP */
	uint64_t fragmented;     /* SOCKS5 FRAG != 0 (RFC 1928 section 7: may drop) */
	uint64_t oversize;       /* too large to relay once sealed */
	uint64_t no_assoc;       /* SOCKS5: no UDP ASSOCIATE from that client */
	uint64_t unresolved;     /* target name did not resolve, or a query was pending */
	uint64_t send_failed;
	uint64_t evicted;        /* associations dropped to respect the cap */
	uint64_t replayed;       /* ssserver: salt seen before */
	uint64_t refused;        /* ssserver: target refused by the policy */
};

/* Opens the UDP listener for p's role on host:port; 0 or -errno (*why set). */
/* pk: ssserver, the keys of the port (NULL for sslocal's relays); held: see listen_opts. */
int udp_listen(struct ctx *p, enum udp_role role, const char *host, int port,
	       struct port_keys *pk, bool held, const char **why);
/* ssserver --bpf: listen address ai's shared socket (bound to host, any port); its fd or -errno. */
int udp_listen_shared(struct ctx *p, const char *host, int ai, const char **why);
/*
 * ssserver --bpf: the relay of one served port at orig (a datagram's original
 * destination, through listen address ai), made on first use with a socket
 * bound there that its replies leave from; NULL when no port of ai is there.
 */
struct udp_relay *udp_port_relay(struct ctx *p, int ai, const struct sockaddr_storage *orig);
/* Frees NAT entries closed during this epoll batch. */
void udp_reap(struct ctx *p);
/* ssserver with workers: reads the SIP022 datagrams other workers hand over; 0 or -errno. */
int udp22_forwarding_open(struct ctx *p);
/* Closes the UDP listeners (with their associations) whose socket drop(fd, arg) picks. */
void udp_close_if(struct ctx *p, bool (*drop)(int fd, void *arg), void *arg);
/*
 * Stops reading every UDP listener (its socket is read by a successor, or
 * closed); each is closed once its last association has timed out.
 */
void udp_drain(struct ctx *p);
/* Closes every UDP listener (not association sockets), or those of port pk. */
void udp_close_all(struct ctx *p, const struct port_keys *pk);
/* A port re-keyed by a reload: its relays take the new keys; their NAT entries start again. */
void udp_retag(struct ctx *p, const struct port_keys *old, struct port_keys *pk);
/* Expires idle associations; call from the tick. */
void udp_sweep(struct ctx *p, uint64_t now, uint64_t timeout_ms);
/* Sum of the stats of all relays of p. */
void udp_stats(const struct ctx *p, struct udp_stats *out);
/* The redir UDP socket (for steering), or -1 without one. */
int udp_redir_fd(const struct ctx *p);
/* The address the SOCKS5 UDP relay is bound to (for the ASSOCIATE reply). */
int udp_socks_bound(const struct ctx *p, struct sockaddr_storage *sa);
/* A SOCKS5 UDP ASSOCIATE, as its TCP control connection knows it. */
struct udp_assoc {
	const struct sockaddr_storage *here;   /* the address the client connected to */
	const struct sockaddr_storage *client; /* the client; only its IP may send */
	uint16_t client_port;                  /* ... from this port, unless 0 */
	void *owner;                           /* the control connection */
	void (*keepalive)(void *owner);        /* called for each datagram from it */
};

/*
 * A UDP socket of the association's own, bound to a->here on an ephemeral
 * port, so that the client's datagrams reach the worker holding its control
 * connection whatever the worker count; it takes datagrams from that client
 * only (RFC 1928 section 7). 0 or -errno; *bound is the address for the reply.
 */
int udp_assoc_open(struct ctx *p, const struct udp_assoc *a, struct udp_relay **r,
		   struct sockaddr_storage *bound);
/* Ends the association: closes its socket and its NAT entries. */
void udp_assoc_close(struct ctx *p, struct udp_relay *r);
/* The datagram payload an association relayed each way. */
void udp_assoc_bytes(const struct udp_relay *r, uint64_t *up, uint64_t *down);

#endif
