// SPDX-License-Identifier: MIT
/*
 * Setters of struct ss_config fields and the errors they report, shared by
 * the option table (options.c), the URI parser (sip002.c) and config.c; the
 * check of a password or key, shared by config.c and config_ports.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "crypto.h"
#include "sip002.h"

int config_set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int config_add_server(struct ss_config *c, const char *host)
{
	if (c->nservers >= CFG_MAX_SERVERS)
		return -E2BIG;
	if (!(c->servers[c->nservers] = strdup(host)))
		return -ENOMEM;
	c->nservers++;
	return 0;
}

void config_clear_servers(struct ss_config *c)
{
	for (int i = 0; i < c->nservers; i++)
		free(c->servers[i]);
	c->nservers = 0;
}

static int parse_port(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > 65535)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int config_split_hostport(const char *s, char *host, size_t host_len, int *port)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= host_len || parse_port(colon + 1, port))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	return 0;
}

void config_free_args(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int config_check_key(const struct ss_method *m, const char *password, const char *who, const char **why)
{
	uint8_t k[SS_MAX_KEY];

	if (!*password && m->id != SS_M_NONE)
		return why_fmt(why, "%san empty password would let anyone use the server; "
				   "give one (-k or \"password\")", who);
	if (!m->sip022)
		return 0;
	/* sslocal's "iPSK:uPSK" (SIP023): an identity layer, AES methods only. */
	if (crypto_psk_split(m, password, k, &password) < 0)
		return why_fmt(why, "%sthe identity key before ':' is not a base64 "
				   "key of %zu bytes", who, m->key_len);
	if (crypto_psk_decode(password, k, m->key_len))
		return why_fmt(why, "%smethod %s takes a base64 key of exactly %zu bytes as its password; "
				   "make one with `openssl rand -base64 %zu` or `sslocal --genkey %s`",
				   who, m->name, m->key_len, m->key_len, m->name);
	memset(k, 0, sizeof(k));
	return 0;
}

int config_upstream(const char *uri, struct config_upstream *u, const char **why)
{
	struct ss_config c = { .prog = PROG_LOCAL };
	int r = sip002_apply(&c, uri, why);

	memset(u, 0, sizeof(*u));
	if (!r && (c.plugin || !c.nservers || !c.server_port || !c.method || !c.password))
		r = why_fmt(why, "an upstream needs server, server_port, method and password "
			    "(and no plugin)");
	if (!r && !(u->m = crypto_method_find(c.method, why)))
		r = -EINVAL;
	if (!r && (snprintf(u->host, sizeof(u->host), "%s", c.servers[0]) >= (int)sizeof(u->host) ||
		   snprintf(u->password, sizeof(u->password), "%s", c.password) >=
			   (int)sizeof(u->password)))
		r = why_fmt(why, "an upstream's server or password is too long");
	u->port = c.server_port;
	config_free(&c);
	return r;
}

int config_capture_each(const char *list, int (*fn)(void *arg, const char *cgroup,
						    const char *netns, const char *upstream),
			void *arg, const char **why)
{
	char *copy = list ? strdup(list) : NULL, *save = NULL;
	int r = 0;

	if (list && !copy)
		return -ENOMEM;
	for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && !r;
	     item = strtok_r(NULL, ",", &save)) {
		char *up = strchr(item, '='), *ns;

		if (up)
			*up++ = 0;
		if ((ns = strchr(item, '@')))
			*ns++ = 0;
		if (*item != '/' || (ns && *ns != '/'))
			r = why_fmt(why, "--capture \"%s%s%s\": a cgroup v2 directory and a network "
				    "namespace are absolute paths", item, ns ? "@" : "", ns ? ns : "");
		else
			r = fn(arg, item, ns, up);
	}
	free(copy);
	return r;
}
