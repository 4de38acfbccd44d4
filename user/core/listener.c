// SPDX-License-Identifier: MIT
/* TCP listeners: bind, listen, accept in batches, pause at the cap or without fds. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "listener.h"
#include "log.h"
#include "sockopts.h"
#include "sockpool.h"

#define ACCEPT_BATCH 64

struct listener {
	struct handler h;
	struct listeners *set;
	struct listener *next;
	bool paused; /* accept failed for lack of fds; retried on the tick */
	void *tag;
};

int listener_transparent(int fd)
{
	int v4 = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &(int){ 1 }, sizeof(int));
	int v6 = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &(int){ 1 }, sizeof(int));

	return v4 && v6 ? -errno : 0;
}

void listener_set_full(struct listeners *s, bool full)
{
	if (full == s->full)
		return;
	s->full = full;
	for (struct listener *ls = s->head; ls; ls = ls->next)
		if (!ls->paused)
			loop_watch(s->loop, &ls->h, full ? 0 : EPOLLIN);
}

static void on_accept(struct handler *h, uint32_t events)
{
	struct listener *ls = (struct listener *)h;
	struct listeners *s = ls->set;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (!s->has_room(s->arg)) {
			listener_set_full(s, true);
			return;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(h->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of fds: stop accepting until the next tick, never spin. */
				log_warn("accept: %s; pausing new connections", strerror(errno));
				loop_watch(s->loop, h, 0);
				ls->paused = true;
			}
			return;
		}
		s->on_conn(s->arg, fd, &peer, ls->tag);
	}
}

static void set_options(int fd, int family, const struct listen_opts *o, const char *where)
{
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (o->reuse_port)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int));
	if (family == AF_INET6 && o->v6only)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 }, sizeof(int));
	if (o->transparent && listener_transparent(fd))
		log_warn("redir: IP_TRANSPARENT on %s: %s; only NAT REDIRECT will reach it",
			 where, strerror(errno));
	if (o->fast_open && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &(int){ 256 }, sizeof(int)))
		log_warn("TCP Fast Open unavailable on %s: %s", where, strerror(errno));
}

int listener_resolve(const char *host, int port, int socktype, struct sockaddr_storage *sa,
		     socklen_t *len, const char **why)
{
	struct addrinfo hints = { .ai_socktype = socktype, .ai_flags = AI_PASSIVE }, *res;
	char ports[8];
	int r;

	snprintf(ports, sizeof(ports), "%d", port);
	if ((r = getaddrinfo(host, ports, &hints, &res))) {
		*why = gai_strerror(r);
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Watches fd (bound and listening) as one more listener of s. */
static int listener_add(struct listeners *s, int fd, void *tag, const char *where, const char **why)
{
	struct listener *ls = calloc(1, sizeof(*ls));

	if (!ls) {
		close(fd);
		*why = "out of memory";
		return -ENOMEM;
	}
	ls->h.fd = fd;
	ls->h.on_event = on_accept;
	ls->set = s;
	ls->tag = tag;
	ls->next = s->head;
	s->head = ls;
	loop_watch(s->loop, &ls->h, EPOLLIN);
	log_info("listening on %s", where);
	return 0;
}

/* The held sockets of this address (inherited, or a restarted worker's own); how many, or -errno. */
static int listener_take(struct listeners *s, const struct sockaddr_storage *sa,
			 const struct listen_opts *o, const char *where, const char **why)
{
	int fd, n = 0, r;

	while ((fd = sockpool_take(o->worker, SOCK_STREAM, sa)) >= 0) {
		if (o->fast_open)
			setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &(int){ 256 }, sizeof(int));
		if (o->transparent)
			listener_transparent(fd);
		if ((r = listener_add(s, fd, o->tag, where, why)))
			return r;
		n++;
	}
	/* Another worker's inherited socket: this one binds none of its own beside it. */
	return n || !sockpool_covers(SOCK_STREAM, sa) ? n : 1;
}

int listener_open(struct listeners *s, const char *host, int port, const struct listen_opts *o,
		  const char **why)
{
	struct sockaddr_storage sa;
	char where[300];
	socklen_t sl;
	int fd, r;

	if ((r = listener_resolve(host, port, SOCK_STREAM, &sa, &sl, why)))
		return r;
	sockaddr_str((struct sockaddr *)&sa, where, sizeof(where));
	if (o->held && (r = listener_take(s, &sa, o, where, why)))
		return r < 0 ? r : 0;
	fd = sock_tcp(o->mptcp, sa.ss_family, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		goto err;
	set_options(fd, sa.ss_family, o, where);
	if (bind(fd, (struct sockaddr *)&sa, sl) || listen(fd, 1024))
		goto err_close_fd;
	/* Port 0 (ssserver --bpf: sk_lookup hands it every port): say which it got. */
	if (!port && !getsockname(fd, (struct sockaddr *)&sa, &sl))
		sockaddr_str((struct sockaddr *)&sa, where, sizeof(where));
	if (o->held)
		sockpool_report(o->worker, fd, !port);
	return listener_add(s, fd, o->tag, where, why);

err_close_fd:
	r = -errno;
	close(fd);
	errno = -r;
	log_err("bind: %s (%s)", strerror(-r), where);
err:
	r = -errno;
	*why = strerror(-r);
	return r;
}

int listener_addr_taken(const char *host, int port, int socktype, bool v6only)
{
	struct sockaddr_storage sa;
	const char *why;
	socklen_t sl;
	int fd, taken = 0;

	if (listener_resolve(host, port, socktype, &sa, &sl, &why))
		return 0; /* the listener's own open says why */
	/* A socket systemd passed for the address holds it for this process. */
	if (sockpool_covers(socktype, &sa))
		return 0;
	fd = socket(sa.ss_family, socktype | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		/* TCP: a listener holds the address; TIME-WAIT and closing sockets do not. */
		if (socktype == SOCK_STREAM)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
		if (sa.ss_family == AF_INET6 && v6only)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 }, sizeof(int));
		taken = bind(fd, (struct sockaddr *)&sa, sl) && errno == EADDRINUSE;
		close(fd);
	}
	return taken;
}

int listener_taken_log(const char *host, int port, bool tcp, bool udp, bool v6only, bool say)
{
	static const char *const proto[] = { "TCP", "UDP" };
	bool held[2] = { tcp && listener_addr_taken(host, port, SOCK_STREAM, v6only),
			 udp && listener_addr_taken(host, port, SOCK_DGRAM, v6only) };
	int n = 0;

	for (int i = 0; i < 2; i++) {
		if (!held[i])
			continue;
		n++;
		if (!say)
			continue;
		log_err("bind: Address already in use (%s %s port %d is held by another process; "
			"--reuse-port shares it on purpose)", proto[i], host, port);
	}
	return n;
}

int listener_fd(const struct listeners *s)
{
	return s->head ? s->head->h.fd : -1;
}

void listener_tick(struct listeners *s)
{
	for (struct listener *ls = s->head; ls; ls = ls->next) {
		if (ls->paused) {
			ls->paused = false;
			if (!s->full)
				loop_watch(s->loop, &ls->h, EPOLLIN);
		}
	}
}

void listener_close_if(struct listeners *s, bool (*drop)(int fd, void *arg), void *arg)
{
	for (struct listener **at = &s->head; *at;) {
		struct listener *ls = *at;

		if (!drop(ls->h.fd, arg)) {
			at = &ls->next;
			continue;
		}
		*at = ls->next;
		loop_forget(s->loop, &ls->h);
		close(ls->h.fd);
		free(ls);
	}
}

void listener_close_tag(struct listeners *s, void *tag)
{
	for (struct listener **at = &s->head; *at;) {
		struct listener *ls = *at;

		if (tag && ls->tag != tag) {
			at = &ls->next;
			continue;
		}
		*at = ls->next;
		loop_forget(s->loop, &ls->h);
		close(ls->h.fd);
		free(ls);
	}
}

void listener_retag(struct listeners *s, void *old, void *tag)
{
	for (struct listener *ls = s->head; ls; ls = ls->next)
		if (ls->tag == old)
			ls->tag = tag;
}

void listener_close_all(struct listeners *s)
{
	listener_close_tag(s, NULL);
}
