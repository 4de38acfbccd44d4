// SPDX-License-Identifier: MIT
/*
 * sslocal's SOCKS port: the first byte tells SOCKS5 (RFC 1928; RFC 1929
 * username and password), SOCKS4/4a and HTTP (inbound_http.c) apart.
 * SOCKS5's greeting in INIT, the request in ADDR (CONNECT, or UDP
 * ASSOCIATE); SOCKS4's and HTTP's one request in ADDR; and the reply once
 * the connect has ended either way.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "pair.h"
#include "ctx.h"
#include "log.h"
#include "socks5.h"

static void reply_rep(struct conn *c, uint8_t rep, const struct ss_addr *bound)
{
	uint8_t buf[32];
	size_t n = socks5_reply(buf, rep, bound);

	/* A few bytes on a fresh socket: the send buffer always has room. */
	if (send(c->local.h.fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		log_debug("conn %llu: SOCKS5 reply not sent", (unsigned long long)c->id);
}

static uint8_t rep_for(int err)
{
	switch (err) {
	case -ECONNREFUSED: return SOCKS5_REP_REFUSED;
	case -EHOSTUNREACH: case -ENOENT: case -ETIMEDOUT: return SOCKS5_REP_HOST_UNREACH;
	case -ENETUNREACH: return SOCKS5_REP_NET_UNREACH;
	case -EOPNOTSUPP: return SOCKS5_REP_CMD_UNSUPPORTED;
	default: return SOCKS5_REP_FAIL;
	}
}

static void hs_consume(struct conn *c, size_t n)
{
	memmove(c->hs, c->hs + n, c->hs_len - n);
	c->hs_len = (uint16_t)(c->hs_len - n);
}

/* err 0: succeeded; bound: a UDP association's address. */
static void socks_reply(struct conn *c, int err, const struct ss_addr *bound)
{
	uint8_t rep[8];

	if (c->proxy == 'H') {
		http_reply(c, err);
	} else if (c->proxy == SOCKS4_VER) {
		if (send(c->local.h.fd, rep, socks4_reply(rep, !err), MSG_NOSIGNAL) != 8)
			log_debug("conn %llu: SOCKS4 reply not sent", (unsigned long long)c->id);
	} else {
		reply_rep(c, err ? rep_for(err) : SOCKS5_REP_OK, bound);
	}
}

/* SOCKS: append to c->hs (HTTP: to its own buffer). */
static enum hs_outcome socks_read(struct conn *c, const char **why)
{
	if (c->proxy == 'H')
		return http_read(c, why);
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
		reply_rep(c, SOCKS5_REP_ATYP_UNSUPPORTED, NULL);
		*why = "SOCKS5 request with an unknown address type";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	if (r != SS_OK) {
		reply_rep(c, SOCKS5_REP_FAIL, NULL);
		*why = "malformed SOCKS5 request";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	if (cmd != SOCKS5_CMD_CONNECT && cmd != SOCKS5_CMD_UDP_ASSOCIATE) {
		reply_rep(c, SOCKS5_REP_CMD_UNSUPPORTED, NULL);
		*why = cmd == SOCKS5_CMD_BIND ? "SOCKS5 BIND is not supported" :
						"unsupported SOCKS5 command";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	hs_consume(c, used);
	return cmd == SOCKS5_CMD_CONNECT ? HS_TARGET : HS_UDP_ASSOC;
}

/* SOCKS4 and 4a ADDR: CONNECT only, and not when SOCKS5 asks for a password. */
static enum hs_outcome socks4_request(struct conn *c, const char **why)
{
	uint8_t cmd = 0, rep[8];
	size_t used;
	int r = socks4_parse_request(c->hs, c->hs_len, &cmd, &c->target, &used);

	if (r == SS_AGAIN)
		return HS_AGAIN;
	*why = r != SS_OK ? "malformed SOCKS4 request" :
	       cmd != SOCKS4_CMD_CONNECT ? "SOCKS4 BIND is not supported" :
	       c->p->cfg->socks_user ? "SOCKS4 refused: it has no password, and "
				       "socks5_username is set" : NULL;
	if (*why) {
		send(c->local.h.fd, rep, socks4_reply(rep, false), MSG_NOSIGNAL);
		ctr_fail(c, c->p->cfg->socks_user && r == SS_OK ? FAIL_SOCKS_AUTH : FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	hs_consume(c, used);
	return HS_TARGET;
}

/* INIT's first byte: which protocol the client speaks. */
static enum hs_outcome which_proxy(struct conn *c, const char **why)
{
	uint8_t b = c->hs[0];

	if (b == SOCKS5_VER || b == SOCKS4_VER) {
		c->proxy = b;
		return b == SOCKS5_VER ? HS_MORE : HS_ADDR;
	}
	if (b >= 'A' && b <= 'Z') { /* an HTTP method */
		c->proxy = 'H';
		return http_begin(c, why);
	}
	*why = "not a SOCKS5, SOCKS4 or HTTP proxy request";
	ctr_fail(c, FAIL_BAD_REQUEST);
	return HS_CLOSE;
}

static enum hs_outcome socks_parse(struct conn *c, const char **why)
{
	enum hs_outcome o;

	if (!c->proxy) {
		if (!c->hs_len)
			return HS_AGAIN;
		if ((o = which_proxy(c, why)) != HS_MORE)
			return o;
	}
	if (c->proxy == 'H')
		return http_request(c, why);
	if (c->proxy == SOCKS4_VER)
		o = socks4_request(c, why);
	else
		o = c->stage == ST_INIT ? socks_greeting(c, why) : socks_request(c, why);
	if (o == HS_AGAIN && c->hs_len == sizeof(c->hs)) {
		*why = "SOCKS handshake too long";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	return o;
}

static enum hs_outcome socks_start(struct conn *c, const char **why)
{
	(void)c, (void)why;
	return HS_MORE;
}

const struct inbound_ops inbound_socks = {
	.name = "socks", .start = socks_start, .read = socks_read, .parse = socks_parse,
	.reply = socks_reply, .acl_bypass = true,
};
