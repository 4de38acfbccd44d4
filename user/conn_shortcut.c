// SPDX-License-Identifier: MIT
/*
 * The local shortcut as a connection sees it (--bpf-cgroup): a target on
 * this host is dialled from a port bound first and announced, so that the
 * target's socket is recorded when it is accepted; at STREAM the daemon's
 * own sockets are checked or recorded before a byte goes out, and at the
 * end their shortcut bytes are counted.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_internal.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "shortcut.h"

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
	if (!c->p->sc || (c->role != ROLE_SERVER && !c->bypass) || !loopback(sa))
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
	c->sc_local = shortcut_has(p->sc, c->local.h.fd);
	if (c->sc_port)
		c->sc_remote = shortcut_adopt(p->sc, c->remote.h.fd);
	if (!c->sc_local && !c->sc_remote)
		return;
	p->ctr->to_shortcut++;
	log_debug("conn %llu: tier shortcut (%s%s%s)", (unsigned long long)c->id,
		  c->sc_local ? "client leg" : "", c->sc_local && c->sc_remote ? ", " : "",
		  c->sc_remote ? "target leg" : "");
}

static uint64_t sock_bytes(struct shortcut *sc, int fd)
{
	uint64_t tx, rx;

	return shortcut_bytes(sc, fd, &tx, &rx) ? 0 : tx + rx;
}

uint64_t shortcut_conn_bytes(const struct conn *c)
{
	uint64_t n = 0;

	if (c->sc_local)
		n += sock_bytes(c->p->sc, c->local.h.fd);
	if (c->sc_remote && c->remote.h.fd >= 0)
		n += sock_bytes(c->p->sc, c->remote.h.fd);
	return n;
}

void shortcut_end(struct conn *c)
{
	struct ctx *p = c->p;

	if (c->sc_port)
		shortcut_out_port(p->sc, c->sc_port, false);
	c->sc_port = 0;
	if (c->sc_local || c->sc_remote)
		p->ctr->shortcut_bytes += shortcut_conn_bytes(c);
}
