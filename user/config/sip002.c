// SPDX-License-Identifier: MIT
/* SIP002 URIs: ss://BASE64URL(method:password)@host:port[/?plugin=...][#name]. */
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "crypto.h"
#include "sip002.h"

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-' || ch == '+')
		return 62;
	if (ch == '_' || ch == '/')
		return 63;
	return -1;
}

/* Base64 (URL-safe or standard, padding optional); returns length or -1. */
static int b64_decode(const char *in, size_t len, char *out, size_t cap)
{
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;

	while (len && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	return (int)o;
}

static int pct_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (o >= cap)
			return -1;
		if (in[i] == '%') {
			if (i + 2 >= len + 0 || sscanf(in + i + 1, "%2x", &v) != 1)
				return -1;
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	return (int)o;
}

/* "?plugin=name%3Bopts" (SIP002): name;opts, percent-encoded, up to '&' or '#'. */
static int apply_plugin(struct ss_config *c, const char *rest, const char **why)
{
	const char *q = strchr(rest, '?'), *v = NULL;
	char val[1024], *semi;
	int n;

	for (const char *p = q; p && *p && *p != '#'; p += strcspn(p + 1, "&#") + 1)
		if (!strncmp(p + 1, "plugin=", 7))
			v = p + 8;
	if (!v)
		return 0;
	n = pct_decode(v, strcspn(v, "&#"), val, sizeof(val) - 1);
	if (n < 0 || memchr(val, 0, (size_t)n))
		return why_fmt(why, "server URL plugin parameter is not valid");
	val[n] = 0;
	semi = strchr(val, ';');
	if (semi)
		*semi = 0;
	if (config_set_str(&c->plugin, val) ||
	    (semi && config_set_str(&c->plugin_opts, semi + 1)))
		return -ENOMEM;
	return 0;
}

int sip002_apply(struct ss_config *c, const char *url, const char **why)
{
	char info[512], host[300];
	const char *p, *at, *end;
	int n, port;

	if (strncmp(url, "ss://", 5))
		return why_fmt(why, "server URL must start with ss://");
	p = url + 5;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (!at)
		return why_fmt(why, "server URL has no '@' (expected "
				   "ss://BASE64URL(method:password)@host:port)");
	/* SIP002: userinfo is base64url(method:password), or percent-encoded plain text. */
	if (memchr(p, ':', (size_t)(at - p)))
		n = pct_decode(p, (size_t)(at - p), info, sizeof(info) - 1);
	else
		n = b64_decode(p, (size_t)(at - p), info, sizeof(info) - 1);
	if (n < 0)
		return why_fmt(why, "server URL userinfo is not valid base64url");
	info[n] = 0;
	char *colon = strchr(info, ':');
	if (!colon || memchr(info, 0, (size_t)n))
		return why_fmt(why, "server URL userinfo must decode to method:password");
	*colon = 0;
	if ((size_t)(end - at - 1) >= sizeof(host))
		return why_fmt(why, "server URL host is too long");
	char hp[300];
	memcpy(hp, at + 1, (size_t)(end - at - 1));
	hp[end - at - 1] = 0;
	if (config_split_hostport(hp, host, sizeof(host), &port))
		return why_fmt(why, "server URL must end in host:port, got \"%s\"", hp);
	if (config_set_str(&c->method, info) || config_set_str(&c->password, colon + 1))
		return -ENOMEM;
	if ((n = apply_plugin(c, end, why)))
		return n;
	config_clear_servers(c);
	c->server_port = port;
	return config_add_server(c, host);
}

bool sip002_pct_append(char *buf, size_t len, size_t *n, const char *s)
{
	for (; *s; s++) {
		bool plain = isalnum((unsigned char)*s) || strchr("-._~", *s);
		int w = snprintf(buf + *n, len - *n, plain ? "%c" : "%%%02X", (unsigned char)*s);

		if (w < 0 || (size_t)w >= len - *n)
			return false;
		*n += (size_t)w;
	}
	return true;
}

int sip002_format(char *out, size_t cap, const struct ss_method *m, const char *password,
		  const char *host, int port, const char *tag)
{
	char info[600];
	size_t n = 5;
	int w;

	if (cap < 8)
		return -ENOSPC;
	memcpy(out, "ss://", 5);
	/* SIP002: a 2022 method's userinfo is percent-encoded; the others' base64url. */
	if (m->sip022) {
		if (!sip002_pct_append(out, cap, &n, m->name) || n + 1 >= cap)
			return -ENOSPC;
		out[n++] = ':';
		if (!sip002_pct_append(out, cap, &n, password))
			return -ENOSPC;
	} else {
		w = snprintf(info, sizeof(info), "%s:%s", m->name, password);
		if (w < 0 || (size_t)w >= sizeof(info) ||
		    sodium_base64_ENCODED_LEN((size_t)w, sodium_base64_VARIANT_URLSAFE_NO_PADDING) >
			    cap - n)
			return -ENOSPC;
		sodium_bin2base64(out + n, cap - n, (const unsigned char *)info, (size_t)w,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		n += strlen(out + n);
		sodium_memzero(info, sizeof(info));
	}
	w = snprintf(out + n, cap - n, "@%s%s%s:%d%s", strchr(host, ':') ? "[" : "", host,
		     strchr(host, ':') ? "]" : "", port, tag ? "#" : "");
	if (w < 0 || (size_t)w >= cap - n)
		return -ENOSPC;
	n += (size_t)w;
	return tag && !sip002_pct_append(out, cap, &n, tag) ? -ENOSPC : 0;
}

/* The address clients use for a listen address: a wildcard is shown as this host's name. */
static const char *public_host(const char *listen, char *buf, size_t len)
{
	if (listen && strcmp(listen, "0.0.0.0") && strcmp(listen, "::") && *listen)
		return listen;
	if (gethostname(buf, len))
		snprintf(buf, len, "%s", "localhost");
	buf[len - 1] = 0;
	return buf;
}

/* ssserver: a URI per port, or per user of a port with several (2022: iPSK:uPSK). */
static void port_uris(const struct ss_config *cfg, const struct cfg_port *p,
		      void (*fn)(void *arg, const char *uri), void *arg)
{
	char uri[1024], host[256], pw[600], tag[96];
	const char *h = public_host(p->server ? p->server : cfg->servers[0], host, sizeof(host));

	if (!p->nusers) {
		snprintf(tag, sizeof(tag), "ssbpf-%d", p->port);
		if (!sip002_format(uri, sizeof(uri), p->m, p->password ? p->password : "", h,
				   p->port, tag))
			fn(arg, uri);
		return;
	}
	for (int u = 0; u < p->nusers; u++) {
		snprintf(pw, sizeof(pw), "%s%s%s", p->m->sip022 && p->password ? p->password : "",
			 p->m->sip022 && p->password ? ":" : "", p->users[u].password);
		snprintf(tag, sizeof(tag), "%s", p->users[u].name);
		if (!sip002_format(uri, sizeof(uri), p->m, pw, h, p->port, tag))
			fn(arg, uri);
		sodium_memzero(pw, sizeof(pw));
	}
}

void sip002_uris(const struct ss_config *cfg, void (*fn)(void *arg, const char *uri), void *arg)
{
	char uri[1024];

	for (int i = 0; cfg->prog == PROG_SERVER && i < cfg->nports; i++)
		port_uris(cfg, &cfg->ports[i], fn, arg);
	for (int i = 0; cfg->prog == PROG_LOCAL && i < cfg->nupstreams; i++) {
		const struct cfg_server *s = &cfg->upstreams[i];

		if (!s->raw_key && !sip002_format(uri, sizeof(uri), s->m, s->password, s->host,
						  s->port, NULL))
			fn(arg, uri);
	}
}
