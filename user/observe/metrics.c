// SPDX-License-Identifier: MIT
/* A minimal HTTP/1.x server for GET /metrics. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sbuf.h"

#define REQ_MAX 8192
#define REQ_DEADLINE_MS 5000
#define CLIENTS_MAX 64

struct mclient {
	struct handler h;
	struct metrics *m;
	struct mclient *next;
	uint64_t deadline;
	char buf[REQ_MAX];
	size_t len;
};

struct metrics {
	struct handler h;
	struct loop *loop;
	metrics_fn fn;
	void *arg;
	struct mclient *clients;
	unsigned n;
};

static void mclient_close(struct mclient *c)
{
	struct mclient **at = &c->m->clients;

	while (*at != c)
		at = &(*at)->next;
	*at = c->next;
	c->m->n--;
	loop_forget(c->m->loop, &c->h);
	close(c->h.fd);
	free(c);
}

static void respond(struct mclient *c, int code, const char *reason, const struct sbuf *body)
{
	struct sbuf r = { 0 };
	size_t off = 0;

	sbuf_printf(&r, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", code, reason,
		    code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
		    body ? body->len : strlen(reason) + 1);
	if (body)
		sbuf_printf(&r, "%.*s", (int)body->len, body->p ? body->p : "");
	else
		sbuf_printf(&r, "%s\n", reason);
	while (!r.failed && off < r.len) {
		struct pollfd pfd = { .fd = c->h.fd, .events = POLLOUT };
		ssize_t n = send(c->h.fd, r.p + off, r.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			off += (size_t)n;
		else if ((n < 0 && errno != EAGAIN && errno != EINTR) || poll(&pfd, 1, 1000) <= 0)
			break;
	}
	sbuf_free(&r);
}

static void on_client(struct handler *h, uint32_t events)
{
	struct mclient *c = (struct mclient *)h;
	char method[16], path[256];
	ssize_t n = recv(h->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);

	(void)events;
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			mclient_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	if (!strstr(c->buf, "\r\n\r\n") && !strstr(c->buf, "\n\n")) {
		if (c->len == sizeof(c->buf) - 1) {
			respond(c, 431, "Request Header Fields Too Large", NULL);
			mclient_close(c);
		}
		return;
	}
	if (sscanf(c->buf, "%15s %255s HTTP/1.%*d", method, path) != 2) {
		respond(c, 400, "Bad Request", NULL);
	} else if (strcmp(method, "GET") || strcmp(path, "/metrics")) {
		respond(c, 404, "Not Found", NULL);
	} else {
		struct sbuf body = { 0 };

		c->m->fn(c->m->arg, &body);
		respond(c, 200, "OK", &body);
		sbuf_free(&body);
	}
	mclient_close(c);
}

static void on_accept(struct handler *h, uint32_t events)
{
	struct metrics *m = (struct metrics *)h;
	struct mclient *c;
	int fd;

	(void)events;
	while ((fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		/* Too many at once: the oldest waiting one goes. */
		if (m->n >= CLIENTS_MAX) {
			struct mclient *old = m->clients;

			while (old->next)
				old = old->next;
			mclient_close(old);
		}
		if (!(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->h.fd = fd;
		c->h.on_event = on_client;
		c->m = m;
		c->deadline = loop_now(m->loop) + REQ_DEADLINE_MS;
		c->next = m->clients;
		m->clients = c;
		m->n++;
		loop_watch(m->loop, &c->h, EPOLLIN);
	}
}

void metrics_tick(struct metrics *m, uint64_t now)
{
	for (struct mclient *c = m ? m->clients : NULL, *next; c; c = next) {
		next = c->next;
		if (now >= c->deadline)
			mclient_close(c);
	}
}

int metrics_open(struct metrics **out, struct loop *l, const char *hostport, metrics_fn fn,
		 void *arg, const char **why)
{
	struct sockaddr_storage sa;
	struct metrics *m;
	char host[300];
	socklen_t sl;
	int port, fd;

	if (config_split_hostport(hostport, host, sizeof(host), &port)) {
		*why = "must be HOST:PORT";
		return -EINVAL;
	}
	if (listener_resolve(host, port, SOCK_STREAM, &sa, &sl, why)) {
		*why = "cannot resolve the host";
		return -EINVAL;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sl) || listen(fd, 64) ||
	    !(m = calloc(1, sizeof(*m)))) {
		*why = strerror(errno);
		if (fd >= 0)
			close(fd);
		return -EADDRINUSE;
	}
	m->h.fd = fd;
	m->h.on_event = on_accept;
	m->loop = l;
	m->fn = fn;
	m->arg = arg;
	*out = m;
	log_info("metrics on http://%s/metrics", hostport);
	return loop_watch(l, &m->h, EPOLLIN);
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	while (m->clients)
		mclient_close(m->clients);
	loop_forget(m->loop, &m->h);
	close(m->h.fd);
	free(m);
}
