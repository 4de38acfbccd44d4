// SPDX-License-Identifier: MIT
/*
 * HTTP proxy requests (RFC 9110, RFC 9112): CONNECT host:port, and requests
 * in absolute form (GET http://host/path) rewritten for the origin server:
 * origin form, its Host from the URI, hop-by-hop fields removed
 * (Connection and the fields it names, Proxy-Connection, Keep-Alive, TE,
 * Trailer, Upgrade, Proxy-Authorization, Proxy-Authenticate), and
 * "Connection: close", so that one connection carries one request to one
 * origin and a client's next request starts a new connection. Basic proxy
 * authentication (RFC 9110 section 11.7, RFC 7617). Pure functions.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_proxy.h"

struct line {
	const char *p;
	size_t len; /* without CR LF */
};

/* The next line of in[*pos..len): 1, or 0 when no LF ends one. */
static int next_line(const char *in, size_t len, size_t *pos, struct line *l)
{
	const char *lf = memchr(in + *pos, '\n', len - *pos);

	if (!lf)
		return 0;
	l->p = in + *pos;
	l->len = (size_t)(lf - l->p);
	if (l->len && l->p[l->len - 1] == '\r')
		l->len--;
	*pos = (size_t)(lf - in) + 1;
	return 1;
}

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* "Name: value": the name's length and the value (trimmed); 0 when malformed. */
static size_t field(const struct line *l, struct line *value)
{
	size_t n = 0;

	while (n < l->len && is_tchar(l->p[n]))
		n++;
	if (!n || n >= l->len || l->p[n] != ':')
		return 0;
	value->p = l->p + n + 1;
	value->len = l->len - n - 1;
	while (value->len && (*value->p == ' ' || *value->p == '\t'))
		value->p++, value->len--;
	while (value->len && (value->p[value->len - 1] == ' ' || value->p[value->len - 1] == '\t'))
		value->len--;
	return n;
}

static bool name_is(const struct line *l, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp(l->p, name, n);
}

/* Whether the field named by l (n bytes) is listed in a Connection value. */
static bool listed(const struct line *conn, const char *name, size_t n)
{
	const char *p = conn->p, *end = conn->p + conn->len;

	while (p < end) {
		const char *t;

		while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
			p++;
		t = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - t) == n && !strncasecmp(t, name, n))
			return true;
	}
	return false;
}

static bool hop_by_hop(const struct line *l, size_t n, const struct line *conn)
{
	static const char *const names[] = { "Connection", "Proxy-Connection", "Keep-Alive",
					     "TE", "Trailer", "Upgrade", "Proxy-Authorization",
					     "Proxy-Authenticate", "Host" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name_is(l, n, names[i]))
			return true;
	return conn->len && listed(conn, l->p, n);
}

/* host[:port] or [v6][:port] into a; 0, or -1 when it is not one. */
static int authority(const char *s, size_t len, uint16_t def_port, struct ss_addr *a)
{
	char host[256];
	const char *colon = NULL, *hs = s, *he;
	long port = def_port;

	if (len && *s == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb)
			return -1;
		hs = s + 1;
		he = rb;
		if (rb + 1 < s + len && (rb[1] != ':' || !(colon = rb + 1)))
			return -1;
	} else {
		colon = memchr(s, ':', len);
		he = colon ? colon : s + len;
	}
	if (he <= hs || (size_t)(he - hs) >= sizeof(host))
		return -1;
	if (colon) {
		char *end;
		char num[8];
		size_t pl = (size_t)(s + len - colon - 1);

		if (!pl || pl >= sizeof(num))
			return -1;
		memcpy(num, colon + 1, pl);
		num[pl] = 0;
		port = strtol(num, &end, 10);
		if (*end || port < 1 || port > 65535)
			return -1;
	} else if (!def_port) {
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	for (const char *c = host; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == '@' || *c == '/')
			return -1;
	return addr_from_host(a, host, (uint16_t)port) ? -1 : 0;
}

/* The request line: METHOD SP TARGET SP HTTP/1.x. */
static int request_line(const struct line *l, struct line *method, struct line *target,
			char *version)
{
	const char *sp1 = memchr(l->p, ' ', l->len), *sp2;

	if (!sp1 || sp1 == l->p)
		return -1;
	sp2 = memchr(sp1 + 1, ' ', l->len - (size_t)(sp1 + 1 - l->p));
	if (!sp2 || sp2 == sp1 + 1 || l->p + l->len - (sp2 + 1) != 8 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) || (sp2[8] != '0' && sp2[8] != '1'))
		return -1;
	*method = (struct line){ l->p, (size_t)(sp1 - l->p) };
	*target = (struct line){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
	for (size_t i = 0; i < method->len; i++)
		if (!is_tchar(method->p[i]))
			return -1;
	*version = sp2[8];
	return 0;
}

/* The fields: Basic credentials checked, the Connection value found; 0 or a status. */
static int scan_fields(const char *in, size_t len, size_t pos, const char *credentials,
		       struct line *conn)
{
	struct line l, v;
	bool authorized = !credentials;
	size_t n;

	*conn = (struct line){ "", 0 };
	while (next_line(in, len, &pos, &l) && l.len) {
		if (!(n = field(&l, &v)))
			return 400; /* no name, or a folded line (obsolete, RFC 9112 section 5.2) */
		if (name_is(&l, n, "Connection"))
			*conn = v;
		if (credentials && name_is(&l, n, "Proxy-Authorization") && v.len > 6 &&
		    !strncasecmp(v.p, "Basic ", 6) && v.len - 6 == strlen(credentials) &&
		    !memcmp(v.p + 6, credentials, v.len - 6))
			authorized = true;
	}
	return authorized ? 0 : 407;
}

/* The origin's request: origin form, Host from the URI, end-to-end fields, Connection: close. */
static int rewrite(const char *in, size_t len, size_t pos, const struct line *method,
		   const struct line *path, const struct line *auth, char version,
		   const struct line *conn, char *out, size_t cap, size_t *out_len)
{
	struct line l, v;
	size_t o, n;
	int w = snprintf(out, cap, "%.*s %.*s HTTP/1.%c\r\nHost: %.*s\r\n", (int)method->len,
			 method->p, (int)path->len, path->p, version, (int)auth->len, auth->p);

	if (w < 0 || (size_t)w >= cap)
		return 431;
	o = (size_t)w;
	while (next_line(in, len, &pos, &l) && l.len) {
		n = field(&l, &v);
		if (hop_by_hop(&l, n, conn))
			continue;
		if (o + l.len + 2 >= cap)
			return 431;
		memcpy(out + o, l.p, l.len);
		memcpy(out + o + l.len, "\r\n", 2);
		o += l.len + 2;
	}
	if (o + 21 >= cap)
		return 431;
	memcpy(out + o, "Connection: close\r\n\r\n", 21);
	*out_len = o + 21;
	return 0;
}

int http_proxy_parse(const char *in, size_t len, const char *credentials,
		     struct http_request *rq, char *out, size_t cap)
{
	struct line l, method, target, auth, path, conn;
	size_t pos = 0, end = 0;
	bool whole = false;
	char version;
	int r;

	/* The head ends with an empty line. */
	while (!whole && next_line(in, len, &end, &l))
		whole = !l.len;
	if (!whole)
		return len >= HTTP_HEAD_MAX ? 431 : HTTP_MORE;
	memset(rq, 0, sizeof(*rq));
	rq->head_len = end;
	next_line(in, len, &pos, &l);
	if (request_line(&l, &method, &target, &version))
		return 400;
	if ((r = scan_fields(in, len, pos, credentials, &conn)))
		return r;
	if (method.len == 7 && !memcmp(method.p, "CONNECT", 7)) {
		rq->connect = true;
		return authority(target.p, target.len, 0, &rq->target) ? 400 : 0;
	}
	if (target.len < 8 || strncasecmp(target.p, "http://", 7))
		return target.len >= 8 && !strncasecmp(target.p, "https://", 8) ? 501 : 400;
	auth.p = target.p + 7;
	auth.len = strcspn(auth.p, "/?# ");
	if (auth.len > target.len - 7)
		auth.len = target.len - 7;
	path.p = auth.p + auth.len;
	path.len = target.len - 7 - auth.len;
	if (!path.len)
		path = (struct line){ "/", 1 };
	if (authority(auth.p, auth.len, 80, &rq->target))
		return 400;
	return rewrite(in, len, pos, &method, &path, &auth, version, &conn, out, cap, &rq->out_len);
}

size_t http_proxy_status(int status, char *out, size_t cap)
{
	const char *reason = status == 200 ? "Connection established" :
			     status == 400 ? "Bad Request" :
			     status == 407 ? "Proxy Authentication Required" :
			     status == 431 ? "Request Header Fields Too Large" :
			     status == 501 ? "Not Implemented" :
			     status == 504 ? "Gateway Timeout" : "Bad Gateway";
	int n;

	if (status == 200)
		n = snprintf(out, cap, "HTTP/1.1 200 %s\r\n\r\n", reason);
	else
		n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n",
			     status, reason,
			     status == 407 ? "Proxy-Authenticate: Basic realm=\"ssbpf\"\r\n" : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
