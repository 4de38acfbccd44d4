// SPDX-License-Identifier: MIT
/*
 * The inbound kinds whose target is known at accept, with no handshake:
 * redir (the original destination of a redirected connection), tunnel and
 * relay (the one target of -L / --relay). The client's bytes are payload
 * from the first.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "counters.h"
#include "pair.h"
#include "ctx.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* <linux/netfilter_ipv4.h> */
#endif
#define IP6T_SO_ORIGINAL_DST 80 /* <linux/netfilter_ipv6/ip6_tables.h> */

/* Whether sa is an address of this host (a plain socket can bind to it). */
static bool is_local_addr(const struct ss_addr *a)
{
	struct sockaddr_storage sa;
	socklen_t len = (socklen_t)addr_to_sockaddr(a, &sa);
	int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd < 0)
		return false;
	((struct sockaddr_in *)&sa)->sin_port = 0; /* same offset in sockaddr_in6 */
	local = !bind(fd, (struct sockaddr *)&sa, len);
	close(fd);
	return local;
}

/*
 * --capture: a slot address stands for the original destination (capture.h).
 * 1 when it did, 0 when the address is no slot, or why the connection is refused.
 */
static int captured_target(struct conn *c, const struct sockaddr_storage *local,
			   const char **why)
{
	struct capture_orig o;
	int r = capture_lookup(c->p->cap, local, &o);

	if (r < 0) {
		*why = "a captured connection whose slot is gone";
		return r;
	}
	if (!r) {
		/* A listener in a captured namespace serves captured connections only. */
		if (capture_netns_cookie(c->local.h.fd) == capture_own_netns())
			return 0;
		*why = "not a captured connection (it came to the capture port in a container's "
		       "namespace directly)";
		return -EPERM;
	}
	c->target = o.dst;
	c->cgroup = o.cgroup;
	c->netns = o.netns;
	c->cap_row = capture_has(c->p->cap, o.cgroup) ? counters_capture_row(c->p->ctr, o.cgroup) : -1;
	/* Its entry's key replaces the daemon's, whose decoder accept set up. */
	if ((c->upstream = capture_upstream_get(c->p->cap, o.cgroup)) &&
	    conn_use_key(c, &c->upstream->key)) {
		*why = "cipher set-up failed";
		return -EINVAL;
	}
	return 1;
}

/*
 * redir: the original destination becomes the target. Under TPROXY or
 * sk_lookup it is the accepted socket's local address; after a NAT REDIRECT
 * conntrack has it (SO_ORIGINAL_DST), and it equals the local address when
 * conntrack saw no NAT. NULL, or why the connection is refused.
 */
static const char *redir_target(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = c->local.h.fd;

	memset(&ss, 0, sizeof(ss));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &sl) &&
	    (sl = sizeof(ss), getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &sl)) &&
	    (sl = sizeof(ss), getsockname(fd, (struct sockaddr *)&ss, &sl)))
		return "cannot read the original destination";
	if (c->p->cap) {
		const char *why = NULL;
		int r = captured_target(c, &ss, &why);

		if (r)
			return r < 0 ? why : NULL;
	}
	if (addr_from_sockaddr(&c->target, (struct sockaddr *)&ss))
		return "original destination of an unknown address family";
	/* Not redirected: a client that connected to the redir port itself would loop. */
	if (c->target.port == c->p->cfg->local_port && is_local_addr(&c->target))
		return "not a redirected connection (its destination is the redir port itself)";
	return NULL;
}

static enum hs_outcome redir_start(struct conn *c, const char **why)
{
	*why = redir_target(c);
	return *why ? HS_CLOSE : HS_TARGET;
}

static enum hs_outcome fixed_start(struct conn *c, const char **why)
{
	(void)why;
	c->target = c->p->cfg->tunnel;
	return HS_TARGET;
}

const struct inbound_ops inbound_redir = { .name = "redir", .start = redir_start, .acl_bypass = true };
const struct inbound_ops inbound_tunnel = { .name = "tunnel", .start = fixed_start, .acl_bypass = true };
const struct inbound_ops inbound_relay = { .name = "relay", .start = fixed_start, .plain = true };
