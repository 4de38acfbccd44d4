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
#include "sockpool.h"
#include "reqserver.h"
#include "sbuf.h"

#define REQ_MAX 8192
#define REQ_DEADLINE_MS 5000
#define CLIENTS_MAX 64

struct metrics {
	struct rq_server rq;
	metrics_fn fn;
	void *arg;
};

/* The request's head has ended (its first line is all that is read). */
static size_t http_whole(char *buf, size_t len)
{
	return strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n") ? len : 0;
}

static void respond(struct sbuf *r, int code, const char *reason, const struct sbuf *body)
{
	sbuf_printf(r, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", code, reason,
		    code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
		    body ? body->len : strlen(reason) + 1);
	if (body)
		sbuf_printf(r, "%.*s", (int)body->len, body->p ? body->p : "");
	else
		sbuf_printf(r, "%s\n", reason);
}

static void http_answer(void *arg, char *req, bool full, const char *who, struct sbuf *out)
{
	struct metrics *m = arg;
	char method[16], path[256];

	(void)who;
	if (full) {
		respond(out, 431, "Request Header Fields Too Large", NULL);
	} else if (sscanf(req, "%15s %255s HTTP/1.%*d", method, path) != 2) {
		respond(out, 400, "Bad Request", NULL);
	} else if (strcmp(method, "GET") || strcmp(path, "/metrics")) {
		respond(out, 404, "Not Found", NULL);
	} else {
		struct sbuf body = { 0 };

		m->fn(m->arg, &body);
		respond(out, 200, "OK", &body);
		sbuf_free(&body);
	}
}

static const struct rq_ops http_rq = {
	.cap = REQ_MAX, .max_clients = CLIENTS_MAX, .deadline_ms = REQ_DEADLINE_MS, .send_ms = 1000,
	.whole = http_whole, .answer = http_answer,
};

void metrics_tick(struct metrics *m, uint64_t now)
{
	if (m)
		rq_tick(&m->rq, now);
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
	/* The predecessor's listener after an upgrade; else one of its own, kept for a successor. */
	if ((fd = sockpool_take(SOCKPOOL_METRICS, SOCK_STREAM, &sa)) < 0) {
		fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
		if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sl) && !listen(fd, 64))
			sockpool_report(SOCKPOOL_METRICS, fd, false);
		else if (fd >= 0)
			fd = (close(fd), -1);
	}
	if (fd < 0 || !(m = calloc(1, sizeof(*m)))) {
		*why = strerror(errno);
		if (fd >= 0)
			close(fd);
		return -EADDRINUSE;
	}
	m->fn = fn;
	m->arg = arg;
	*out = m;
	log_info("metrics on http://%s/metrics", hostport);
	return rq_serve(&m->rq, l, fd, &http_rq, m);
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	rq_stop(&m->rq);
	free(m);
}
