// SPDX-License-Identifier: MIT
/*
 * SIP008 online configuration: shadowsocks-rust's "online_config" object
 * ({"config_url": URL, "update_interval": S}) and the document a
 * config_url serves: {"version": 1, "servers": [{"server", "server_port",
 * "password", "method", "plugin", ...}], ...}. A document is taken whole
 * or not at all; a server with a plugin is left out (sslocal runs one
 * plugin, for one server), and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "config_ports.h"
#include "json.h"

#define ONLINE_INTERVAL_DEFAULT 3600

static bool url_ok(const char *url)
{
	return (!strncmp(url, "https://", 8) && url[8]) || (!strncmp(url, "file://", 7) && url[7] == '/');
}

int config_online_check(struct ss_config *c, const char **why)
{
	if (!c->online_url)
		return c->ca_file ? why_fmt(why, "--ca-file is for --online-config-url") : 0;
	if (!url_ok(c->online_url))
		return why_fmt(why, "online config URL \"%s\": https://HOST[:PORT]/PATH or "
			       "file:///PATH (SIP008 serves keys only over TLS)", c->online_url);
	if (!c->online_interval)
		c->online_interval = ONLINE_INTERVAL_DEFAULT;
	if (c->plugin)
		return why_fmt(why, "a plugin serves one server; the online configuration may "
			       "list many");
	return 0;
}

int config_online_apply(struct ss_config *c, const struct json *j, const char **why)
{
	int r = 0;

	if (j->type != JSON_OBJECT)
		return why_fmt(why, "key \"online_config\" must be an object");
	for (const struct json *f = j->child; f && !r; f = f->next) {
		if (!strcmp(f->key, "config_url") && f->type == JSON_STRING)
			r = config_set_str(&c->online_url, f->string);
		else if (!strcmp(f->key, "update_interval") && f->type == JSON_NUMBER &&
			 f->number >= 1 && f->number <= 86400 * 30)
			c->online_interval = (int)f->number;
		else if (!strcmp(f->key, "allowed_plugins"))
			; /* a plugin is never taken from a document here */
		else
			return why_fmt(why, "online_config: bad or unknown key \"%s\"", f->key);
	}
	if (!r && !c->online_url)
		return why_fmt(why, "online_config needs \"config_url\"");
	return r;
}

/* One entry of "servers"; 1 when it is left out for its plugin. */
static int entry(const struct json *e, int i, struct cfg_server **out, int *n, const char **why)
{
	const struct json *port = json_member(e, "server_port");
	const char *host = port ? json_member_str(e, "server", NULL) : NULL, *plugin;

	if (!port || !host || !*host || port->type != JSON_NUMBER || port->number < 1 ||
	    port->number > 65535 || port->number != (int)port->number)
		return why_fmt(why, "servers[%d] needs \"server\" and \"server_port\" 1-65535", i);
	if ((plugin = json_member_str(e, "plugin", NULL)) && *plugin)
		return 1;
	if (config_server_add(out, n, host, (int)port->number, json_member_str(e, "method", NULL),
			      json_member_str(e, "password", NULL), why))
		return why_fmt(why, "servers[%d]: %s", i, *why);
	(*out)[*n - 1].online = true;
	return 0;
}

int sip008_parse(const char *text, size_t len, struct cfg_server **out, int *n, int *skipped,
		 const char **why)
{
	struct json *doc = json_parse(text, len, why);
	const struct json *v, *list;
	int i = 0, r = 0;

	*out = NULL;
	*n = *skipped = 0;
	if (!doc)
		return why_fmt(why, "not JSON: %s", *why);
	v = json_member(doc, "version");
	list = json_member(doc, "servers");
	if (!v || v->type != JSON_NUMBER || v->number != 1)
		r = why_fmt(why, "not a SIP008 document: \"version\": 1 missing");
	else if (!list || list->type != JSON_ARRAY)
		r = why_fmt(why, "\"servers\" must be a list");
	for (const struct json *e = list && !r ? list->child : NULL; e && r >= 0; e = e->next, i++)
		if ((r = entry(e, i, out, n, why)) > 0)
			(*skipped)++;
	if (r >= 0 && !*n)
		r = why_fmt(why, "no server to use (%d listed, %d with a plugin)", i, *skipped);
	json_free(doc);
	if (r < 0) {
		config_server_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return r;
	}
	return 0;
}

int config_online_adopt(struct ss_config *c, const struct cfg_server *list, int n,
			const char **why)
{
	for (int i = 0; i < n; i++) {
		const struct cfg_server *s = &list[i];

		if (config_server_add(&c->upstreams, &c->nupstreams, s->host, s->port, s->method,
				      s->password, why))
			return -EINVAL;
		c->upstreams[c->nupstreams - 1].online = true;
	}
	if (!c->online_only || !n)
		return 0;
	/* The first online server stands in for the top-level keys, as "servers" does. */
	c->m = list[0].m;
	c->server_port = list[0].port;
	if (config_set_str(&c->method, list[0].method) ||
	    config_set_str(&c->password, list[0].password) || config_add_server(c, list[0].host))
		return -ENOMEM;
	return 0;
}
