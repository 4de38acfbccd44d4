// SPDX-License-Identifier: MIT
/*
 * What the inbound kinds share (inbound_*.c parse each handshake of stages
 * INIT and ADDR and return an outcome; conn.c changes the stage): the kind
 * of a listener's role, and the ACL's bypass of a target on sslocal.
 */
#include <string.h>
#include <sys/socket.h>

#include "pair.h"
#include "ctx.h"
#include "policy.h"

const struct inbound_ops *inbound_of(enum conn_role role)
{
	switch (role) {
	case ROLE_SERVER: return &inbound_ss;
	case ROLE_SOCKS: return &inbound_socks;
	case ROLE_REDIR: return &inbound_redir;
	case ROLE_TUNNEL: return &inbound_tunnel;
	default: return &inbound_relay;
	}
}

enum acl_route hs_route(const struct conn *c)
{
	struct sockaddr_storage sa;
	int r;

	if (!c->p->policy.acl || !c->in->acl_bypass)
		return ROUTE_PROXY;
	if (c->target.atyp == SS_ATYP_DOMAIN) {
		r = policy_name_route(&c->p->policy, c->target.host);
		return r > 0 ? ROUTE_BYPASS : r < 0 ? ROUTE_PROXY : ROUTE_RESOLVE;
	}
	addr_to_sockaddr(&c->target, &sa);
	return policy_bypass(&c->p->policy, NULL, (struct sockaddr *)&sa) ? ROUTE_BYPASS : ROUTE_PROXY;
}
