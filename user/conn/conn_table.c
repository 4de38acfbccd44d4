// SPDX-License-Identifier: MIT
/*
 * The connection table of a worker: the handshake list (oldest accept
 * first, for the handshake deadline) and the LRU (oldest activity first, for
 * the idle timeout), O(1) per event; and the poll list with its 2 ms timer
 * for what no socket event reports (sockmap drains, resets waiting for an
 * acknowledgement).
 */
#include <errno.h>
#include <stddef.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common.h"
#include "pair.h"
#include "ctx.h"

/* sockmap bookkeeping (FIN after drain, flow-control hand-over) every 2 ms while needed. */
#define POLL_NS 2000000

void conn_table_remove(struct ctx *p, struct conn *c)
{
	struct conn **head = c->in_hs ? &p->conns.hs_head : &p->conns.lru_head;
	struct conn **tail = c->in_hs ? &p->conns.hs_tail : &p->conns.lru_tail;

	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		*tail = c->prev;
	c->prev = c->next = NULL;
}

void conn_table_add(struct ctx *p, struct conn *c)
{
	struct conn **head = c->in_hs ? &p->conns.hs_head : &p->conns.lru_head;
	struct conn **tail = c->in_hs ? &p->conns.hs_tail : &p->conns.lru_tail;

	c->prev = *tail;
	c->next = NULL;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

/* O(1): activity moves the connection to the young end of the list. */
void conn_touch(struct conn *c)
{
	struct ctx *p = c->p;

	c->last_active = loop_now(p->loop);
	if (!c->in_hs && p->conns.lru_tail != c) {
		conn_table_remove(p, c);
		conn_table_add(p, c);
	}
}

/* The request is complete: from now on the idle timeout applies. */
void conn_leave_handshake(struct conn *c)
{
	if (!c->in_hs)
		return;
	conn_table_remove(c->p, c);
	c->in_hs = false;
	conn_table_add(c->p, c);
	conn_touch(c);
}

void conn_poll_arm(struct ctx *p, bool on)
{
	struct itimerspec its = { 0 };

	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = POLL_NS;
	timerfd_settime(p->conns.poll.fd, 0, &its, NULL);
}

void conn_poll_add(struct ctx *p, struct conn *c)
{
	if (c->polling)
		return;
	if (!p->conns.polls)
		conn_poll_arm(p, true);
	c->polling = true;
	c->poll_next = p->conns.polls;
	p->conns.polls = c;
}

static void on_poll(struct handler *h, uint32_t events)
{
	struct ctx *p = container_of(h, struct ctx, conns.poll);
	struct conn **pp = &p->conns.polls;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) != sizeof(n))
		return;
	while (*pp) {
		struct conn *c = *pp;

		/* A visit may destroy c, which unlinks it from this list itself. */
		if (p->conns.visit(c)) {
			pp = &c->poll_next;
		} else if (*pp == c) {
			*pp = c->poll_next;
			c->polling = false;
		}
	}
	if (!p->conns.polls)
		conn_poll_arm(p, false);
}

int conn_poll_open(struct ctx *p, bool (*visit)(struct conn *c), const char **why)
{
	p->conns.visit = visit;
	p->conns.poll.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	p->conns.poll.on_event = on_poll;
	if (p->conns.poll.fd < 0 || loop_watch(p->loop, &p->conns.poll, EPOLLIN)) {
		*why = "cannot create the poll timer";
		return -EIO;
	}
	return 0;
}

void conn_poll_close(struct ctx *p)
{
	if (p->conns.poll.fd >= 0) {
		loop_forget(p->loop, &p->conns.poll);
		close(p->conns.poll.fd);
		p->conns.poll.fd = -1;
	}
}

void ctr_fail(struct conn *c, enum ctr_fail f)
{
	c->p->ctr->fail[f]++;
}

void conn_poll_forget(struct ctx *p, struct conn *c)
{
	struct conn **pp = &p->conns.polls;

	if (!c->polling)
		return;
	while (*pp != c)
		pp = &(*pp)->poll_next;
	*pp = c->poll_next;
	c->polling = false;
}
