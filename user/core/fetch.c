// SPDX-License-Identifier: MIT
/*
 * A small blocking HTTPS client for the online configuration (fetch.h):
 * one HTTP/1.0 GET (so the answer is never chunked and ends at the close),
 * a 200 status, the body bounded; redirects (301, 302, 303, 307, 308) are
 * followed, FETCH_REDIRECTS at most and never to plain http://. Run where
 * blocking is harmless: at start, or in the short-lived process that
 * refreshes the servers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "fetch.h"

#define FETCH_REDIRECTS 5
#define URL_MAX 1400

struct url {
	char host[256], port[8], path[1024];
};

/* https://HOST[:PORT][/PATH], HOST an IPv6 address in brackets. */
static int split(const char *url, struct url *u)
{
	const char *h = url + 8, *end, *slash = strchr(h, '/');
	size_t hl = slash ? (size_t)(slash - h) : strlen(h);

	snprintf(u->port, sizeof(u->port), "443");
	snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/");
	if (*h == '[') {
		if (!(end = memchr(h, ']', hl)))
			return -EINVAL;
		if ((size_t)(end - h - 1) >= sizeof(u->host))
			return -EINVAL;
		memcpy(u->host, h + 1, (size_t)(end - h - 1));
		u->host[end - h - 1] = 0;
		end++;
	} else {
		end = memchr(h, ':', hl) ? memchr(h, ':', hl) : h + hl;
		if ((size_t)(end - h) >= sizeof(u->host) || end == h)
			return -EINVAL;
		memcpy(u->host, h, (size_t)(end - h));
		u->host[end - h] = 0;
	}
	if (end < h + hl) {
		if (*end != ':' || (size_t)(h + hl - end - 1) >= sizeof(u->port) || h + hl == end + 1)
			return -EINVAL;
		memcpy(u->port, end + 1, (size_t)(h + hl - end - 1));
		u->port[h + hl - end - 1] = 0;
	}
	return strlen(slash ? slash : "/") < sizeof(u->path) ? 0 : -EINVAL;
}

static int dial(const struct url *u, int timeout_s, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	struct timeval tv = { .tv_sec = timeout_s };
	int fd = -1, e;

	if ((e = getaddrinfo(u->host, u->port, &hints, &res)))
		return why_fmt(why, "%s: %s", u->host, gai_strerror(e));
	e = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			e = errno == EINPROGRESS ? ETIMEDOUT : errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return why_fmt(why, "%s port %s: %s", u->host, u->port, strerror(e));
	return fd;
}

/* A TLS session over fd whose certificate names u->host. */
static SSL *handshake(SSL_CTX *ctx, int fd, const struct url *u, const char **why)
{
	unsigned char bin[16];
	bool ip = inet_pton(AF_INET, u->host, bin) == 1 || inet_pton(AF_INET6, u->host, bin) == 1;
	SSL *s = SSL_new(ctx);
	X509_VERIFY_PARAM *vp = s ? SSL_get0_param(s) : NULL;
	unsigned long err;

	if (!s || (ip ? !X509_VERIFY_PARAM_set1_ip_asc(vp, u->host) :
		   (!SSL_set_tlsext_host_name(s, u->host) || !SSL_set1_host(s, u->host))) ||
	    !SSL_set_fd(s, fd)) {
		SSL_free(s);
		why_fmt(why, "TLS set-up failed");
		return NULL;
	}
	SSL_set_verify(s, SSL_VERIFY_PEER, NULL);
	if (SSL_connect(s) == 1)
		return s;
	if (SSL_get_verify_result(s) != X509_V_OK)
		why_fmt(why, "%s: certificate not trusted: %s", u->host,
			X509_verify_cert_error_string(SSL_get_verify_result(s)));
	else if ((err = ERR_get_error()))
		why_fmt(why, "%s: TLS handshake: %s", u->host, ERR_reason_error_string(err));
	else
		why_fmt(why, "%s: TLS handshake failed (%s)", u->host,
			errno ? strerror(errno) : "closed");
	SSL_free(s);
	return NULL;
}

/* The whole answer, up to FETCH_MAX plus a head. */
static int exchange(SSL *s, const struct url *u, char **out, size_t *len, const char **why)
{
	size_t cap = FETCH_MAX + 16384, n = 0;
	char req[1400], *buf;
	int k;

	k = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: ssbpf\r\n"
		     "Accept: application/json\r\nConnection: close\r\n\r\n", u->path, u->host);
	if (SSL_write(s, req, k) != k)
		return why_fmt(why, "%s: cannot send the request", u->host);
	if (!(buf = malloc(cap + 1)))
		return -ENOMEM;
	while (n < cap && (k = SSL_read(s, buf + n, (int)(cap - n))) > 0)
		n += (size_t)k;
	if (n == cap || SSL_get_error(s, k) != SSL_ERROR_ZERO_RETURN) {
		free(buf);
		if (n == cap)
			return why_fmt(why, "%s: document over %d bytes", u->host, FETCH_MAX);
		return why_fmt(why, "%s: reading: %s", u->host, errno ? strerror(errno) : "cut");
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static bool is_redirect(int status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/*
 * A redirect's Location (in the head, NUL-terminated) made absolute against
 * u into next (URL_MAX bytes): 0, or -errno with why.
 */
static int redirect_to(const char *head, const struct url *u, char *next, const char **why)
{
	const char *loc = strcasestr(head, "\r\nlocation:"), *end;
	bool v6 = strchr(u->host, ':');
	char l[URL_MAX];
	int k;

	if (!loc)
		return why_fmt(why, "a redirect without a Location");
	for (loc += 11; *loc == ' ' || *loc == '\t'; loc++)
		;
	end = loc + strcspn(loc, "\r\n");
	if ((size_t)(end - loc) >= sizeof(l) || end == loc)
		return why_fmt(why, "a redirect's Location is empty or too long");
	snprintf(l, sizeof(l), "%.*s", (int)(end - loc), loc);
	if (!strncasecmp(l, "http://", 7))
		return why_fmt(why, "redirected to %s: the document carries keys, so only over TLS", l);
	if (!strncasecmp(l, "https://", 8))
		k = snprintf(next, URL_MAX, "https://%s", l + 8);
	else if (l[0] == '/' && l[1] == '/')
		k = snprintf(next, URL_MAX, "https:%s", l);
	else if (strstr(l, "://"))
		return why_fmt(why, "redirected to %s: only https:// is followed", l);
	else
		/* A path, from the root or from the current path's folder. */
		k = snprintf(next, URL_MAX, "https://%s%s%s:%s%.*s%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
			     u->port, *l == '/' ? 0 : (int)(strrchr(u->path, '/') + 1 - u->path), u->path, l);
	return k < URL_MAX ? 0 : why_fmt(why, "a redirect's Location is too long");
}

/*
 * The body of a 200 answer, moved to the front of buf: 0; or 1 with next
 * set for a redirect; or -errno with why.
 */
static int body_of(char *buf, size_t *len, const struct url *u, char *next, const char **why)
{
	char *end = strstr(buf, "\r\n\r\n"), *cl;
	int status;

	if (!end || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return why_fmt(why, "not an HTTP answer");
	*end = 0;
	if (is_redirect(status)) {
		int r = redirect_to(buf, u, next, why);

		return r ? r : 1;
	}
	if (status != 200)
		return why_fmt(why, "HTTP status %d", status);
	cl = strcasestr(buf, "\r\ncontent-length:");
	size_t body = *len - (size_t)(end + 4 - buf);
	if (cl && strtoull(cl + 17, NULL, 10) != body)
		return why_fmt(why, "the document was cut short");
	memmove(buf, end + 4, body);
	buf[body] = 0;
	*len = body;
	return 0;
}

/* One GET: 0 with the body, 1 with next set (a redirect), or -errno with why. */
static int https_get(const char *url, const char *ca_file, int timeout_s, char **out,
		     size_t *len, char *next, const char **why)
{
	struct url u;
	SSL_CTX *ctx;
	SSL *s = NULL;
	int fd, r = 0;

	if (split(url, &u))
		return why_fmt(why, "\"%s\" is not https://HOST[:PORT]/PATH", url);
	if (!(ctx = SSL_CTX_new(TLS_client_method())))
		return why_fmt(why, "TLS set-up failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* HTTP/1.0: the close ends the body; Content-Length, when sent, proves it whole. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (ca_file ? !SSL_CTX_load_verify_locations(ctx, ca_file, NULL) :
		      !SSL_CTX_set_default_verify_paths(ctx))
		r = why_fmt(why, "certificates %s: cannot be read", ca_file ? ca_file : "of the system");
	else if ((fd = dial(&u, timeout_s, why)) < 0)
		r = fd;
	else {
		if (!(s = handshake(ctx, fd, &u, why)))
			r = -EPROTO;
		else if (!(r = exchange(s, &u, out, len, why)) && (r = body_of(*out, len, &u, next, why)))
			free(*out);
		if (s)
			SSL_shutdown(s);
		SSL_free(s);
		close(fd);
	}
	SSL_CTX_free(ctx);
	return r;
}

static int file_get(const char *path, char **out, size_t *len, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	ssize_t n = -1;
	char *buf = NULL;

	if (fd < 0)
		return why_fmt(why, "%s: %s", path, strerror(errno));
	if (!fstat(fd, &sb) && sb.st_size <= FETCH_MAX && (buf = malloc((size_t)sb.st_size + 1)))
		n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n < 0 || n != sb.st_size) {
		free(buf);
		return why_fmt(why, "%s: %s", path, sb.st_size > FETCH_MAX ? "too large" :
				    "cannot be read");
	}
	buf[n] = 0;
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int fetch_url(const char *url, const char *ca_file, int timeout_s, char **body, size_t *len,
	      const char **why)
{
	if (!strncmp(url, "file://", 7))
		return file_get(url + 7, body, len, why);
	char at[2][URL_MAX];

	if (strncmp(url, "https://", 8))
		return why_fmt(why, "\"%s\": only https:// and file:// are fetched", url);
	snprintf(at[0], URL_MAX, "%s", url);
	for (int hop = 0; hop <= FETCH_REDIRECTS; hop++) {
		int r = https_get(at[hop % 2], ca_file, timeout_s, body, len, at[(hop + 1) % 2], why);

		if (r <= 0)
			return r;
	}
	return why_fmt(why, "%s: over %d redirects", url, FETCH_REDIRECTS);
}
