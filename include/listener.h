/* SPDX-License-Identifier: MIT */
#ifndef SS_LISTENER_H
#define SS_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "loop.h"

struct listener;

/* One worker's TCP listeners and what to do with an accepted socket. */
struct listeners {
	struct listener *head;
	struct loop *loop;
	bool full;                        /* accepting stopped at the connection cap */
	bool (*has_room)(void *arg);      /* false at the connection cap */
	/* Takes the accepted socket, with its peer's address from accept4. */
	void (*on_conn)(void *arg, int fd, const struct sockaddr_storage *peer, void *tag);
	void *arg;
};

struct listen_opts {
	bool reuse_port;  /* several workers share the port */
	bool v6only;      /* an IPv6 listener next to an IPv4 one */
	bool transparent; /* redir: accept connections for foreign addresses */
	bool fast_open;   /* TCP Fast Open (RFC 7413) */
	bool mptcp;       /* Multipath TCP where the kernel has it */
	void *tag;        /* handed to on_conn with each socket (ssserver: the port's keys) */
	bool held;        /* a public port: taken from, or reported to, the hand-over pool */
	int worker;       /* whose (the worker's index) */
};

/*
 * host:port as a local address to bind (the resolver's first answer; a NULL
 * host: the wildcard); 0, or -EINVAL with *why set.
 */
int listener_resolve(const char *host, int port, int socktype, struct sockaddr_storage *sa,
		     socklen_t *len, const char **why);
/* Binds and listens on host:port; 0 or -errno (*why set). */
int listener_open(struct listeners *s, const char *host, int port, const struct listen_opts *o,
		  const char **why);
/*
 * Is host:port (SOCK_STREAM or SOCK_DGRAM) held by a socket we would share
 * it with through SO_REUSEPORT? A probe bound without SO_REUSEPORT: 1 when
 * the address is in use (a TCP listener; TIME-WAIT does not count), else 0.
 */
int listener_addr_taken(const char *host, int port, int socktype, bool v6only);
/* The same for TCP and/or UDP; the count held, each logged as libev's bind error if say. */
int listener_taken_log(const char *host, int port, bool tcp, bool udp, bool v6only, bool say);
/* The first listener's fd (steering hands connections to it), or -1. */
int listener_fd(const struct listeners *s);
/* Stops (full) or resumes accepting on every listener. */
void listener_set_full(struct listeners *s, bool full);
/* Resumes the listeners that ran out of fds; call from the tick. */
void listener_tick(struct listeners *s);
void listener_close_all(struct listeners *s);
/* Gives the listeners tagged old a new tag (a port re-keyed by a reload). */
void listener_retag(struct listeners *s, void *old, void *tag);
/* Closes the listeners whose socket drop(fd, arg) picks (a captured namespace let go). */
void listener_close_if(struct listeners *s, bool (*drop)(int fd, void *arg), void *arg);
/* Closes the listeners opened with this tag (a port removed by a reload). */
void listener_close_tag(struct listeners *s, void *tag);
/* IP_TRANSPARENT (and IPV6_TRANSPARENT): binds to and accepts for foreign addresses. */
int listener_transparent(int fd);

#endif
