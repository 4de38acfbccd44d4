// SPDX-License-Identifier: MIT
/*
 * The handshakes of stages INIT and ADDR: SOCKS5 (RFC 1928, RFC 1929) on
 * sslocal, salt and address header on ssserver, the original destination
 * in redir mode. They parse and answer, and return an outcome; conn.c
 * changes the stage.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_internal.h"
#include "ctx.h"
#include "log.h"
#include "policy.h"
#include "socks5.h"

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
 * redir: the original destination becomes the target. Under TPROXY or
 * sk_lookup it is the accepted socket's local address; after a NAT REDIRECT
 * conntrack has it (SO_ORIGINAL_DST), and it equals the local address when
 * conntrack saw no NAT. NULL, or why the connection is refused.
 */
const char *hs_redir_target(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = c->local.h.fd;

	memset(&ss, 0, sizeof(ss));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &sl) &&
	    (sl = sizeof(ss), getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &sl)) &&
	    (sl = sizeof(ss), getsockname(fd, (struct sockaddr *)&ss, &sl)))
		return "cannot read the original destination";
	if (addr_from_sockaddr(&c->target, (struct sockaddr *)&ss))
		return "original destination of an unknown address family";
	/* Not redirected: a client that connected to the redir port itself would loop. */
	if (c->target.port == c->p->cfg->local_port && is_local_addr(&c->target))
		return "not a redirected connection (its destination is the redir port itself)";
	return NULL;
}

void hs_socks_reply_addr(struct conn *c, uint8_t rep, const struct ss_addr *bound)
{
	uint8_t buf[32];
	size_t n = socks5_reply(buf, rep, bound);

	/* A few bytes on a fresh socket: the send buffer always has room. */
	if (send(c->local.h.fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		log_debug("conn %llu: SOCKS5 reply not sent", (unsigned long long)c->id);
}

void hs_socks_reply(struct conn *c, uint8_t rep)
{
	hs_socks_reply_addr(c, rep, NULL);
}

uint8_t hs_socks_rep_for(int err)
{
	switch (err) {
	case -ECONNREFUSED: return SOCKS5_REP_REFUSED;
	case -EHOSTUNREACH: case -ENOENT: case -ETIMEDOUT: return SOCKS5_REP_HOST_UNREACH;
	case -ENETUNREACH: return SOCKS5_REP_NET_UNREACH;
	default: return SOCKS5_REP_FAIL;
	}
}

static void hs_consume(struct conn *c, size_t n)
{
	memmove(c->hs, c->hs + n, c->hs_len - n);
	c->hs_len = (uint16_t)(c->hs_len - n);
}

/*
 * ssserver: a FIN after some bytes but before the address header (a probe,
 * or a truncated request) gets no reaction either: reading stops, and the
 * connection closes at the handshake deadline, like every other probe.
 */
static enum hs_outcome hold_after_fin(struct conn *c)
{
	c->up.eof = true;
	return HS_HOLD;
}

/* A failed authentication: nothing is sent, the connection is held until the deadline. */
static enum hs_outcome auth_failed(struct conn *c, int derr)
{
	log_info("conn %llu: authentication failed from %s (%s); holding until timeout",
		 (unsigned long long)c->id, c->peer, ss_result_str(derr));
	c->bad_auth = true;
	/* SIP022: a timestamp out of the window is a replay too. */
	ctr_fail(c, derr == SS_ERR_REPLAY || derr == SS_ERR_TIME ? FAIL_REPLAY : FAIL_AUTH);
	stream_buf_release(c->p, &c->up.out);
	return HS_HOLD;
}

/*
 * A port with several users: the stream's first length chunk (salt, sealed
 * length, tag) is read into c->hs, each user's key is tried on it (key.c
 * orders them), and the one that opens it decrypts the stream from there.
 */
static enum hs_outcome find_user(struct conn *c, const char **why)
{
	const struct ss_key *k0 = &c->pk->keys[0];
	size_t need = k0->ops->probe_len(k0->m), got = 0;
	unsigned tries;
	ssize_t n = conn_recv(c, c->local.h.fd, c->hs + c->hs_len, need - c->hs_len);
	int i;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return HS_AGAIN;
		*why = n < 0 ? strerror(errno) : "client closed before the address header";
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return n == 0 && c->hs_len ? hold_after_fin(c) : HS_CLOSE;
	}
	c->hs_len = (uint16_t)(c->hs_len + n);
	/* SIP022 section 3.1.4: the salt and headers come in one read, or it is a probe. */
	if (c->hs_len < need)
		return k0->m->sip022 ? auth_failed(c, SS_ERR_TRUNC) : HS_AGAIN;
	if ((i = port_keys_find(c->pk, &c->peer_sa, c->hs, c->hs_len, &tries)) < 0)
		return auth_failed(c, SS_ERR_TAG);
	c->key = &c->pk->keys[i];
	if (c->key->ops->dec_init(&c->dec, c->key) ||
	    stream_buf_reserve(c->p, &c->up.out)) {
		*why = "cipher set-up failed";
		return HS_CLOSE;
	}
	c->dec_ready = true;
	log_debug("conn %llu: user \"%s\" of port %d (key %u tried)", (unsigned long long)c->id,
		  c->key->user, c->key->port, tries);
	if (c->key->ops->dec_feed(&c->dec, c->hs, c->hs_len, &got, c->up.out.data, POOL_BUF_CAP,
				  &c->up.out.len) != SS_OK)
		return auth_failed(c, SS_ERR_TAG);
	c->hs_len = 0;
	if (stream_salt_replayed(c, false))
		return auth_failed(c, SS_ERR_REPLAY);
	return HS_MORE;
}

/* ssserver: read and decrypt into c->up.out; a failed authentication holds. */
static enum hs_outcome server_read(struct conn *c, const char **why)
{
	bool had_salt;
	int derr = 0;
	ssize_t n;

	if (!c->key && !c->bad_auth)
		return find_user(c, why);
	had_salt = !c->bad_auth && c->key->ops->dec_salt(&c->dec) != NULL;
	if (c->bad_auth) {
		/* Probe resistance: swallow everything, close only at the deadline. */
		n = conn_recv(c, c->local.h.fd, c->p->scratch, POOL_BUF_CAP);
		*why = NULL;
		if (n == 0)
			return hold_after_fin(c);
		return n < 0 && errno != EAGAIN && errno != EINTR ? HS_CLOSE : HS_AGAIN;
	}
	n = stream_read(c, &c->up, c->local.h.fd, &derr);
	/* Nothing decrypted yet (a silent or slow client): no relay buffer held meanwhile. */
	if (!c->up.out.len)
		stream_buf_release(c->p, &c->up.out);
	if (n != -EAGAIN && stream_salt_replayed(c, had_salt)) {
		n = -EBADMSG;
		derr = SS_ERR_REPLAY;
	}
	if (n == -EAGAIN)
		return HS_AGAIN;
	if (n == -EBADMSG)
		return auth_failed(c, derr);
	if (n == 0 && c->up.bytes) {
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return hold_after_fin(c);
	}
	if (n == 0) { /* closed without a byte: a port check; nothing to hide */
		*why = "client closed before the address header";
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return HS_CLOSE;
	}
	if (n < 0) {
		*why = strerror((int)-n);
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return HS_CLOSE;
	}
	return HS_MORE;
}

/* SOCKS5: append to c->hs. */
static enum hs_outcome socks_read(struct conn *c, const char **why)
{
	ssize_t n = conn_recv(c, c->local.h.fd, c->hs + c->hs_len, sizeof(c->hs) - c->hs_len);

	if (n == 0) {
		*why = "client closed during SOCKS5 handshake";
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return HS_CLOSE;
	}
	if (n < 0) {
		*why = strerror(errno);
		return errno != EAGAIN && errno != EINTR ? HS_CLOSE : HS_AGAIN;
	}
	c->hs_len = (uint16_t)(c->hs_len + n);
	return HS_MORE;
}

enum hs_outcome hs_read(struct conn *c, const char **why)
{
	return c->role == ROLE_SERVER ? server_read(c, why) : socks_read(c, why);
}

/* ssserver INIT/ADDR: the salt, then the address header in the first chunk(s). */
static enum hs_outcome server_parse(struct conn *c, const char **why)
{
	size_t used;
	int r;

	if (c->key->ops->dec_salt(&c->dec) && c->stage == ST_INIT)
		return HS_ADDR;
	if (!c->up.out.len)
		return HS_AGAIN;
	r = c->key->ops->header_parse(c->up.out.data, c->up.out.len, &c->target, &used);
	if (r == SS_AGAIN)
		return HS_AGAIN;
	if (r != SS_OK) {
		*why = r == SS_ERR_ATYP ? "unknown address type in header" : "malformed address header";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	c->up.out.off = used;
	c->up.out.len -= used;
	c->up.bytes -= MIN(c->up.bytes, used);
	/* A name on the ACL's outbound block list is refused before any DNS. */
	if (c->target.atyp == SS_ATYP_DOMAIN && policy_refuses_host(&c->p->policy, c->target.host)) {
		*why = "target name on the ACL's [outbound_block_list]";
		ctr_fail(c, FAIL_POLICY);
		return HS_CLOSE;
	}
	if (log_enabled(LOG_DEBUG)) {
		char t[300];

		log_debug("conn %llu: %s wants %s", (unsigned long long)c->id, c->peer,
			  addr_str(&c->target, t, sizeof(t)));
	}
	return HS_TARGET;
}

/* SOCKS5 INIT: method negotiation (RFC 1928 section 3), then RFC 1929 auth if chosen. */
static enum hs_outcome socks_greeting(struct conn *c, const char **why)
{
	const struct ss_config *cfg = c->p->cfg;
	size_t used;
	int r;

	if (!c->socks_auth) {
		uint8_t method, reply[2] = { SOCKS5_VER, 0 };

		r = socks5_parse_greeting(c->hs, c->hs_len, cfg->socks_user != NULL, &method, &used);
		if (r == SS_AGAIN)
			return HS_AGAIN;
		if (r != SS_OK) {
			*why = "not a SOCKS5 greeting";
		ctr_fail(c, FAIL_BAD_REQUEST);
			return HS_CLOSE;
		}
		reply[1] = method;
		send(c->local.h.fd, reply, 2, MSG_NOSIGNAL);
		hs_consume(c, used);
		if (method == SOCKS5_METHOD_NONE) {
			*why = "no acceptable SOCKS5 method offered";
		ctr_fail(c, FAIL_BAD_REQUEST);
			return HS_CLOSE;
		}
		if (method != SOCKS5_METHOD_USERPASS)
			return HS_ADDR;
		c->socks_auth = true;
	}
	char user[256], pass[256];
	uint8_t reply[2] = { 1, 0 };

	r = socks5_parse_auth(c->hs, c->hs_len, user, pass, &used);
	if (r == SS_AGAIN)
		return HS_AGAIN;
	bool ok = r == SS_OK && !strcmp(user, cfg->socks_user) && !strcmp(pass, cfg->socks_pass);
	reply[1] = ok ? 0 : 1;
	send(c->local.h.fd, reply, 2, MSG_NOSIGNAL);
	if (!ok) {
		*why = "SOCKS5 authentication failed";
		ctr_fail(c, FAIL_SOCKS_AUTH);
		return HS_CLOSE;
	}
	hs_consume(c, used);
	c->socks_auth = false;
	return HS_ADDR;
}

/* SOCKS5 ADDR: the request (RFC 1928 section 4); bytes after it stay in c->hs. */
static enum hs_outcome socks_request(struct conn *c, const char **why)
{
	uint8_t cmd = 0;
	size_t used;
	int r = socks5_parse_request(c->hs, c->hs_len, &cmd, &c->target, &used);

	if (r == SS_AGAIN)
		return HS_AGAIN;
	if (r == SS_ERR_ATYP) {
		hs_socks_reply(c, SOCKS5_REP_ATYP_UNSUPPORTED);
		*why = "SOCKS5 request with an unknown address type";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	if (r != SS_OK) {
		hs_socks_reply(c, SOCKS5_REP_FAIL);
		*why = "malformed SOCKS5 request";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	if (cmd != SOCKS5_CMD_CONNECT && cmd != SOCKS5_CMD_UDP_ASSOCIATE) {
		hs_socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED);
		*why = cmd == SOCKS5_CMD_BIND ? "SOCKS5 BIND is not supported" :
						"unsupported SOCKS5 command";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	hs_consume(c, used);
	return cmd == SOCKS5_CMD_CONNECT ? HS_TARGET : HS_UDP_ASSOC;
}

enum hs_outcome hs_parse(struct conn *c, const char **why)
{
	enum hs_outcome o;

	if (c->role == ROLE_SERVER)
		return server_parse(c, why);
	o = c->stage == ST_INIT ? socks_greeting(c, why) : socks_request(c, why);
	if (o == HS_AGAIN && c->hs_len == sizeof(c->hs)) {
		*why = "SOCKS5 handshake too long";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	return o;
}

bool hs_bypass(const struct conn *c)
{
	struct sockaddr_storage sa;

	if (!c->p->policy.acl || c->role == ROLE_RELAY || c->role == ROLE_SERVER)
		return false;
	if (c->target.atyp == SS_ATYP_DOMAIN)
		return policy_bypass(&c->p->policy, c->target.host, NULL);
	addr_to_sockaddr(&c->target, &sa);
	return policy_bypass(&c->p->policy, NULL, (struct sockaddr *)&sa);
}
