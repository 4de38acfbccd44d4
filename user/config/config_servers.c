// SPDX-License-Identifier: MIT
/*
 * sslocal's servers: shadowsocks-rust's "servers" list, repeated -s hosts
 * or repeated --server-url URIs become one list of servers, each with its
 * own method and key; and the "balancer" object that says how a new
 * connection chooses among them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_ports.h"
#include "crypto.h"
#include "json.h"
#include "common.h"

int config_servers_add_url(struct ss_config *c, const char *url)
{
	char **g = realloc(c->server_urls, (size_t)(c->nserver_urls + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	c->server_urls = g;
	if (!(g[c->nserver_urls] = strdup(url)))
		return -ENOMEM;
	c->nserver_urls++;
	return 0;
}

int config_server_add(struct cfg_server **list, int *n, const char *host, int port,
		      const char *method, const char *password, const char **why)
{
	struct cfg_server *s, *g;
	const char *mwhy;
	int i = *n;

	if (!method || !password)
		return why_fmt(why, "server %s:%d: no %s given", host, port,
			       method ? "password" : "method");
	if (!(g = realloc(*list, (size_t)(i + 1) * sizeof(*g))))
		return -ENOMEM;
	*list = g;
	s = &g[i];
	memset(s, 0, sizeof(*s));
	(*n)++;
	s->port = port;
	if (!(s->m = crypto_method_find(method, &mwhy)))
		return why_fmt(why, "server %s:%d: method \"%s\": %s", host, port, method, mwhy);
	if (!(s->host = strdup(host)) || !(s->method = strdup(method)) ||
	    !(s->password = strdup(password)))
		return -ENOMEM;
	return config_check_key(s->m, password, "", why) ?
		       why_fmt(why, "server %s:%d: %s", host, port, *why) : 0;
}

void config_server_list_free(struct cfg_server *list, int n)
{
	for (int i = 0; i < n; i++) {
		free(list[i].host);
		free(list[i].method);
		if (list[i].password)
			explicit_bzero(list[i].password, strlen(list[i].password));
		free(list[i].password);
	}
	free(list);
}

static int add(struct ss_config *c, const char *host, int port, const char *method,
	       const char *password, const char **why)
{
	return config_server_add(&c->upstreams, &c->nupstreams, host, port, method, password, why);
}

static void free_list(struct ss_config *c)
{
	config_server_list_free(c->upstreams, c->nupstreams);
	c->upstreams = NULL;
	c->nupstreams = 0;
}

void config_servers_free(struct ss_config *c)
{
	free_list(c);
	for (int i = 0; i < c->nserver_urls; i++)
		free(c->server_urls[i]);
	free(c->server_urls);
	c->server_urls = NULL;
	c->nserver_urls = 0;
	free(c->check_target);
	c->check_target = NULL;
	free(c->online_url);
	c->online_url = NULL;
	free(c->ca_file);
	c->ca_file = NULL;
}

static const struct {
	const char *name;
	enum balance_mode mode;
} modes[] = { { "best", BALANCE_BEST }, { "fallback", BALANCE_FALLBACK },
	      { "load-balance", BALANCE_ROUND }, { "load_balance", BALANCE_ROUND } };

int config_balance_mode(const char *name, enum balance_mode *out)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(modes[i].name, name)) {
			*out = modes[i].mode;
			return 0;
		}
	}
	return -EINVAL;
}

const char *config_balance_name(enum balance_mode m)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].mode == m)
			return modes[i].name;
	return "?";
}

/* Seconds (a JSON number, fractions allowed) as ms within [lo, hi] seconds. */
static int seconds(const struct json *j, double lo, double hi, int *ms)
{
	if (j->type != JSON_NUMBER || j->number < lo || j->number > hi)
		return -EINVAL;
	*ms = (int)(j->number * 1000);
	return 0;
}

/* shadowsocks-rust's "balancer": {"max_server_rtt": S, "check_interval": S, ...}. */
int config_balancer_apply(struct ss_config *c, const struct json *j, const char **why)
{
	int ms, r = 0;

	if (j->type != JSON_OBJECT)
		return why_fmt(why, "key \"balancer\" must be an object");
	for (const struct json *f = j->child; f && !r; f = f->next) {
		if (!strcmp(f->key, "max_server_rtt"))
			r = seconds(f, 0.05, 60, &c->max_server_rtt);
		else if (!strcmp(f->key, "check_interval") && !(r = seconds(f, 1, 86400, &ms)))
			c->check_interval = ms / 1000;
		else if (!strcmp(f->key, "check_best_interval"))
			r = seconds(f, 1, 86400, &ms); /* every server is checked as often */
		else if (!strcmp(f->key, "mode"))
			r = f->type == JSON_STRING ? config_balance_mode(f->string, &c->balance) : -EINVAL;
		else if (!strcmp(f->key, "check_target"))
			r = f->type == JSON_STRING ? config_set_str(&c->check_target, f->string) : -EINVAL;
		else
			return why_fmt(why, "balancer: unknown key \"%s\"", f->key);
		if (r == -EINVAL)
			return why_fmt(why, "balancer: bad value of \"%s\"", f->key);
	}
	return r;
}

/* The first enabled entry of "servers" stands in for the top-level keys it lacks. */
int config_servers_defaults(struct ss_config *c, const char **why)
{
	const struct cfg_port *e = NULL;

	for (int i = 0; i < c->nserver_list && !e; i++)
		if (!c->server_list[i].disabled)
			e = &c->server_list[i];
	if (!e)
		return why_fmt(why, "\"servers\": every server is disabled");
	if (!e->server)
		return why_fmt(why, "servers[%d] needs a \"server\"", (int)(e - c->server_list));
	if ((!c->method && e->method && config_set_str(&c->method, e->method)) ||
	    (!c->password && e->password && config_set_str(&c->password, e->password)))
		return -ENOMEM;
	if (!c->server_port)
		c->server_port = e->port;
	if (!c->nservers)
		return config_add_server(c, e->server);
	return 0;
}

static int from_list(struct ss_config *c, const char **why)
{
	int r = 0;

	for (int i = 0; i < c->nserver_list && !r; i++) {
		const struct cfg_port *e = &c->server_list[i];

		if (e->disabled)
			continue;
		if (!e->server)
			return why_fmt(why, "servers[%d] needs a \"server\"", i);
		if (e->nusers)
			return why_fmt(why, "servers[%d]: \"users\" are for ssserver", i);
		if (e->has_plugin)
			return why_fmt(why, "servers[%d]: a plugin of its own is not supported by "
				       "sslocal; give one server with the top-level plugin", i);
		r = add(c, e->server, e->port, e->method ? e->method : c->method,
			e->password ? e->password : c->password, why);
	}
	return r;
}

static int from_urls(struct ss_config *c, const char **why)
{
	struct config_upstream u;
	int r = 0;

	for (int i = 0; i < c->nserver_urls && !r; i++) {
		if (!(r = config_upstream(c->server_urls[i], &u, why)))
			r = add(c, u.host, u.port, u.m->name, u.password, why);
		explicit_bzero(&u, sizeof(u));
	}
	return r;
}

int config_servers_build(struct ss_config *c, const char **why)
{
	int r = 0;

	free_list(c);
	if (c->nserver_list)
		r = from_list(c, why);
	else if (c->nserver_urls > 1)
		r = from_urls(c, why);
	else
		for (int i = 0; i < c->nservers && !r; i++)
			if (!(r = add(c, c->servers[i], c->server_port, c->method, c->password, why)))
				c->upstreams[i].raw_key = c->raw_key;
	if (!r && c->plugin && c->nupstreams > 1)
		return why_fmt(why, "a plugin serves one server; %d servers are given",
			       c->nupstreams);

	if (!r && c->check_target) {
		char host[300];
		int port;

		if (config_split_hostport(c->check_target, host, sizeof(host), &port))
			return why_fmt(why, "balancer check target \"%s\" must be host:port",
				       c->check_target);
	}
	return r;
}
