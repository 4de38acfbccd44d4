// SPDX-License-Identifier: MIT
/* One request, one answer per client, on a listening stream socket (reqserver.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reqserver.h"
#include "sbuf.h"

struct rq_client {
	struct handler h;
	struct rq_server *s;
	struct rq_client *next;
	uint64_t deadline;
	char who[64];
	size_t len;
	char buf[]; /* ops->cap bytes */
};

int rq_send_all(int fd, const char *buf, size_t len, int timeout_ms)
{
	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

static void client_close(struct rq_client *cl)
{
	struct rq_client **at = &cl->s->clients;

	while (*at != cl)
		at = &(*at)->next;
	*at = cl->next;
	cl->s->n--;
	loop_forget(cl->s->loop, &cl->h);
	close(cl->h.fd);
	free(cl);
}

static void answer(struct rq_client *cl, bool full)
{
	const struct rq_ops *o = cl->s->ops;
	struct sbuf out = { 0 };

	o->answer(cl->s->arg, cl->buf, full, cl->who, &out);
	if (!out.failed && out.len)
		rq_send_all(cl->h.fd, out.p, out.len, o->send_ms);
	sbuf_free(&out);
}

static void on_client(struct handler *h, uint32_t events)
{
	struct rq_client *cl = (struct rq_client *)h;
	size_t cap = cl->s->ops->cap;
	ssize_t n = recv(h->fd, cl->buf + cl->len, cap - 1 - cl->len, MSG_DONTWAIT);

	(void)events;
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	cl->buf[cl->len] = 0;
	if (cl->s->ops->whole(cl->buf, cl->len))
		answer(cl, false);
	else if (cl->len == cap - 1)
		answer(cl, true);
	else
		return;
	client_close(cl);
}

static void on_accept(struct handler *h, uint32_t events)
{
	struct rq_server *s = (struct rq_server *)h;
	struct rq_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	(void)events;
	while ((fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (s->ops->max_clients && s->n >= s->ops->max_clients) {
			struct rq_client *old = s->clients;

			while (old->next)
				old = old->next;
			client_close(old);
		}
		if (!(cl = calloc(1, sizeof(*cl) + s->ops->cap))) {
			close(fd);
			continue;
		}
		cl->h.fd = fd;
		cl->h.on_event = on_client;
		cl->s = s;
		cl->deadline = loop_now(s->loop) + s->ops->deadline_ms;
		if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.pid)
			snprintf(cl->who, sizeof(cl->who), "uid %u pid %d", (unsigned)cred.uid,
				 (int)cred.pid);
		cl->next = s->clients;
		s->clients = cl;
		s->n++;
		loop_watch(s->loop, &cl->h, EPOLLIN);
	}
}

int rq_serve(struct rq_server *s, struct loop *l, int fd, const struct rq_ops *ops, void *arg)
{
	*s = (struct rq_server){ .h = { .fd = fd, .on_event = on_accept }, .loop = l, .ops = ops,
				 .arg = arg };
	return loop_watch(l, &s->h, EPOLLIN);
}

void rq_tick(struct rq_server *s, uint64_t now)
{
	if (!s->ops->deadline_ms)
		return;
	for (struct rq_client *c = s->clients, *next; c; c = next) {
		next = c->next;
		if (now >= c->deadline)
			client_close(c);
	}
}

void rq_stop(struct rq_server *s)
{
	while (s->clients)
		client_close(s->clients);
	loop_forget(s->loop, &s->h);
	close(s->h.fd);
}
