// SPDX-License-Identifier: MIT
/*
 * The local shortcut as a connection sees it (--bpf-cgroup): a target on
 * this host is dialled from a port bound first and announced, so that the
 * target's socket is recorded when it is accepted; at STREAM the daemon's
 * own sockets are checked or recorded before a byte goes out, and at the
 * end their shortcut bytes are counted.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "pair.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "shortcut.h"

/* Reads published at least this often (bytes): a sender pauses at 4 MiB unread. */
#define SHORTCUT_ACK_STEP (256u << 10)

static bool loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

void shortcut_dial(struct conn *c, int fd, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	/* The encrypted leg (sslocal -> ssserver) stays on TCP. */
	if (!c->p->sc || (!c->in->serves && !c->bypass) || !loopback(sa))
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = sa->sa_family;
	if (bind(fd, (struct sockaddr *)&ss, sa->sa_family == AF_INET ?
		 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len))
		return;
	/* sin_port and sin6_port lie at the same place. */
	c->sc_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (shortcut_out_port(c->p->sc, c->sc_port, true))
		c->sc_port = 0;
}

void shortcut_start(struct conn *c)
{
	struct ctx *p = c->p;

	if (!p->sc)
		return;
	c->local.sc = shortcut_watch(p->sc, c->local.h.fd, false);
	if (c->sc_port)
		c->remote.sc = shortcut_watch(p->sc, c->remote.h.fd, true);
	if (!conn_on_shortcut(c))
		return;
	p->ctr->to_shortcut++;
	log_debug("conn %llu: tier shortcut (%s%s%s)", (unsigned long long)c->id,
		  c->local.sc ? "client leg" : "", c->local.sc && c->remote.sc ? ", " : "",
		  c->remote.sc ? "target leg" : "");
}

static uint64_t sock_bytes(struct ctx *p, const struct sock *s)
{
	uint64_t tx, rx;

	return s->sc && s->h.fd >= 0 && !shortcut_bytes(p->sc, s->sc, s->h.fd, &tx, &rx) ? tx + rx : 0;
}

/*
 * Takes s off the shortcut: a sender that flow control paused outruns the
 * daemon (a bulk transfer). Its socket leaves the map at once (its bytes keep
 * TCP from then on), s once its queue is empty (read up to drained_at); until
 * then each read checks again. The rest runs over plain TCP, without the
 * sockmap paths' cost (about 15% more CPU per byte here).
 */
static void leave(struct conn *c, struct sock *s, uint64_t drained_at)
{
	struct ctx *p = c->p;

	if (!s->sc_leaving) {
		shortcut_drop_peer(p->sc, s->sc);
		s->sc_leaving = true;
	}
	if (s->rd < drained_at)
		return;
	p->ctr->shortcut_bytes += sock_bytes(p, s);
	p->ctr->left_shortcut++;
	shortcut_leave(p->sc, s->sc);
	s->sc = NULL;
	log_debug("conn %llu: the %s leg leaves the shortcut (bulk transfer)", (unsigned long long)c->id,
		  s == &c->local ? "client" : "target");
}

/* After a read from s. */
static void check_leave(struct conn *c, struct sock *s)
{
	uint64_t drained_at;
	bool paused;

	if (!shortcut_paused(c->p->sc, s->sc, &paused, &drained_at) && (paused || s->sc_leaving))
		leave(c, s, drained_at);
}

void shortcut_read(struct conn *c, struct sock *s, bool dry)
{
	if ((dry || s->rd - shortcut_acked(s->sc) >= SHORTCUT_ACK_STEP) &&
	    s->rd != shortcut_acked(s->sc)) {
		shortcut_ack(c->p->sc, s->sc, s->rd);
		check_leave(c, s);
	}
}

uint64_t shortcut_conn_bytes(const struct conn *c)
{
	return sock_bytes(c->p, &c->local) + sock_bytes(c->p, &c->remote);
}

void shortcut_end(struct conn *c)
{
	struct ctx *p = c->p;

	if (c->sc_port)
		shortcut_out_port(p->sc, c->sc_port, false);
	c->sc_port = 0;
	if (!conn_on_shortcut(c))
		return;
	p->ctr->shortcut_bytes += shortcut_conn_bytes(c);
	shortcut_unwatch(p->sc, c->local.sc);
	shortcut_unwatch(p->sc, c->remote.sc);
	c->local.sc = c->remote.sc = NULL;
}
