/* SPDX-License-Identifier: MIT */
#ifndef SS_REQSERVER_H
#define SS_REQSERVER_H

/*
 * Shared by the control socket (ctl.c) and /metrics (metrics.c): a listening
 * stream socket whose clients each send one request, get one answer and are
 * closed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct sbuf;
struct rq_client;

struct rq_ops {
	size_t cap;           /* a request's buffer, in bytes */
	unsigned max_clients; /* 0: any number; else the oldest waiting one goes for a new one */
	unsigned deadline_ms; /* 0: none; else rq_tick closes the clients waiting longer */
	int send_ms;          /* how long an answer may wait for room in the socket */
	/* The length of the whole request at the start of buf (NUL-terminated), or 0: not yet. */
	size_t (*whole)(char *buf, size_t len);
	/*
	 * The answer to a whole request, or (full) to a buffer that filled up
	 * before; nothing is sent when out stays empty. who: the peer's uid and
	 * pid on a unix socket, else "".
	 */
	void (*answer)(void *arg, char *req, bool full, const char *who, struct sbuf *out);
};

struct rq_server {
	struct handler h; /* the listener */
	struct loop *loop;
	const struct rq_ops *ops;
	void *arg;
	struct rq_client *clients; /* newest first */
	unsigned n;
};

/* Serves the listening socket fd in loop l; 0 or -errno. */
int rq_serve(struct rq_server *s, struct loop *l, int fd, const struct rq_ops *ops, void *arg);
/* Closes the clients and the listener. */
void rq_stop(struct rq_server *s);
/* Closes the clients past their deadline. */
void rq_tick(struct rq_server *s, uint64_t now);
/* Sends all of buf, waiting at most timeout_ms each time the socket is full; 0 or -errno. */
int rq_send_all(int fd, const char *buf, size_t len, int timeout_ms);

#endif
