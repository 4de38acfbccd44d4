// SPDX-License-Identifier: MIT
/*
 * HTTP proxy requests on sslocal's SOCKS port (the first byte tells them
 * from SOCKS, inbound_socks.c): the head read into a buffer of its own,
 * parsed by http_proxy.c; CONNECT answered 200 once the server's connection
 * is up, a request in absolute form sent on to its origin rewritten, and
 * every refusal answered with its status and a close.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pair.h"
#include "ctx.h"
#include "http_proxy.h"
#include "log.h"
#include "pool.h"

static void send_status(struct conn *c, int status)
{
	char head[256];
	size_t n = http_proxy_status(status, head, sizeof(head));

	if (n && send(c->local.h.fd, head, n, MSG_NOSIGNAL) != (ssize_t)n)
		log_debug("conn %llu: HTTP %d not sent", (unsigned long long)c->id, status);
}

enum hs_outcome http_begin(struct conn *c, const char **why)
{
	if (!(c->http = malloc(HTTP_HEAD_MAX))) {
		*why = "out of memory";
		return HS_CLOSE;
	}
	memcpy(c->http, c->hs, c->hs_len);
	c->http_len = c->hs_len;
	c->hs_len = 0;
	return HS_ADDR;
}

enum hs_outcome http_read(struct conn *c, const char **why)
{
	ssize_t n;

	/* Refused: what the client still sends is read and dropped until it closes (a clean close). */
	if (!c->http) {
		while ((n = conn_recv(c, c->local.h.fd, c->p->scratch, POOL_BUF_CAP)) > 0)
			;
		*why = NULL;
		return n < 0 && (errno == EAGAIN || errno == EINTR) ? HS_AGAIN : HS_CLOSE;
	}
	n = conn_recv(c, c->local.h.fd, c->http + c->http_len, HTTP_HEAD_MAX - c->http_len);
	if (n == 0) {
		*why = "client closed during its HTTP request";
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return HS_CLOSE;
	}
	if (n < 0) {
		*why = strerror(errno);
		return errno != EAGAIN && errno != EINTR ? HS_CLOSE : HS_AGAIN;
	}
	c->http_len += (uint32_t)n;
	return HS_MORE;
}

/* base64("user:password") of the SOCKS5 credentials, which HTTP's Basic must carry. */
static const char *credentials(const struct ss_config *cfg, char *out, size_t cap)
{
	char plain[520];
	int n;

	if (!cfg->socks_user)
		return NULL;
	n = snprintf(plain, sizeof(plain), "%s:%s", cfg->socks_user, cfg->socks_pass);
	if (n < 0 || (size_t)n >= sizeof(plain) || cap < sodium_base64_ENCODED_LEN(n, 1))
		return "";
	sodium_bin2base64(out, cap, (const unsigned char *)plain, (size_t)n,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(plain, sizeof(plain));
	return out;
}

/* The first data for the server: the origin's request (absolute form) and what followed. */
static int take_first(struct conn *c, const struct http_request *rq, const char *out)
{
	size_t rest = c->http_len - rq->head_len, lead = rq->connect ? 0 : rq->out_len;

	if (!lead && !rest)
		return 0;
	if (!(c->first = malloc(lead + rest)))
		return -ENOMEM;
	memcpy(c->first, out, lead);
	memcpy(c->first + lead, c->http + rq->head_len, rest);
	c->first_len = (uint32_t)(lead + rest);
	return 0;
}

enum hs_outcome http_request(struct conn *c, const char **why)
{
	struct http_request rq;
	char cred[720], *out = malloc(HTTP_HEAD_MAX + 256);
	int r = out ? http_proxy_parse(c->http, c->http_len,
				       credentials(c->p->cfg, cred, sizeof(cred)), &rq, out,
				       HTTP_HEAD_MAX + 256) : 500;

	if (r == HTTP_MORE) {
		free(out);
		return HS_AGAIN;
	}
	if (!r) {
		c->target = rq.target;
		c->http_connect = rq.connect;
		r = take_first(c, &rq, out) ? 500 : 0;
	}
	free(out);
	free(c->http);
	c->http = NULL;
	if (!r)
		return HS_TARGET;
	send_status(c, r == 500 ? 502 : r);
	ctr_fail(c, r == 407 ? FAIL_SOCKS_AUTH : FAIL_BAD_REQUEST);
	log_info("conn %llu from %s: %s (%d)", (unsigned long long)c->id, c->peer,
		 r == 407 ? "HTTP proxy authentication failed" :
		 r == 501 ? "HTTP proxy request for https:// in absolute form (use CONNECT)" :
		 r == 431 ? "HTTP proxy request head too large" : "malformed HTTP proxy request", r);
	/* The answer is whole and the client closes after it; until then, or the deadline, its bytes are dropped. */
	shutdown(c->local.h.fd, SHUT_WR);
	c->bad_auth = true;
	*why = NULL;
	return HS_HOLD;
}

void http_reply(struct conn *c, int err)
{
	/* A request in absolute form is answered by its origin, or by 502/504 here. */
	if (err)
		send_status(c, err == -ETIMEDOUT ? 504 : 502);
	else if (c->http_connect)
		send_status(c, 200);
}
