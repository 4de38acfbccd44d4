// SPDX-License-Identifier: MIT
/* ssserver's ports and users from port_password, servers[] and users. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config_ports.h"
#include "crypto.h"
#include "json.h"

#define USERS_MAX 4096

static void free_users(struct cfg_user *u, int n)
{
	for (int i = 0; i < n; i++) {
		free(u[i].name);
		free(u[i].password);
	}
	free(u);
}

static void free_port(struct cfg_port *p)
{
	free(p->server);
	free(p->password);
	free(p->method);
	free_users(p->users, p->nusers);
}

static void free_ports(struct cfg_port *p, int n)
{
	for (int i = 0; i < n; i++)
		free_port(&p[i]);
	free(p);
}

void config_ports_free(struct ss_config *c)
{
	free_ports(c->port_password, c->nport_password);
	free_ports(c->server_list, c->nserver_list);
	free_ports(c->ports, c->nports);
	free_users(c->users, c->nusers);
	c->port_password = c->server_list = c->ports = NULL;
	c->users = NULL;
	c->nport_password = c->nserver_list = c->nports = c->nusers = 0;
}

int config_port_range(const char *t, int *lo, int *hi)
{
	char *end;
	long a, b;

	if (*t < '0' || *t > '9')
		return -EINVAL;
	a = strtol(t, &end, 10);
	b = *end == '-' && end[1] >= '0' && end[1] <= '9' ? strtol(end + 1, &end, 10) : 0;
	if (*end || a < 1 || a > 65535 || b > 65535 || (b && b <= a))
		return -EINVAL;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

const char *config_port_label(const struct cfg_port *p, char *buf, size_t len)
{
	if (p->port_hi)
		snprintf(buf, len, "%d-%d", p->port, p->port_hi);
	else
		snprintf(buf, len, "%d", p->port);
	return buf;
}

/* "rate_limit": bytes per second, 0 (none) to 4 GiB/s. */
static int rate_of(const struct json *j, uint32_t *rate)
{
	if (j->type != JSON_NUMBER || j->number < 0 || j->number > 4294967295.0 ||
	    j->number != (double)(uint32_t)j->number)
		return -EINVAL;
	*rate = (uint32_t)j->number;
	return 0;
}

/* "data_limit": bytes, 0 (none) to 2^53. */
static int bytes_of(const struct json *j, uint64_t *n)
{
	if (j->type != JSON_NUMBER || j->number < 0 || j->number > 9007199254740992.0 ||
	    j->number != (double)(uint64_t)j->number)
		return -EINVAL;
	*n = (uint64_t)j->number;
	return 0;
}

/* A port number, or (a string) a range "A-B". */
static int port_of(const struct json *j, int *port, int *hi)
{
	double d = j->type == JSON_NUMBER ? j->number : -1;

	*hi = 0;
	if (j->type == JSON_STRING)
		return config_port_range(j->string, port, hi);
	if (d < 1 || d > 65535 || d != (double)(int)d)
		return -EINVAL;
	*port = (int)d;
	return 0;
}

static int dup_str(char **dst, const struct json *j)
{
	if (!j || j->type != JSON_STRING)
		return -EINVAL;
	return (*dst = strdup(j->string)) ? 0 : -ENOMEM;
}

/* [{"name": "alice", "password": "..."}, ...] */
static int parse_users(const struct json *j, struct cfg_user **out, int *n, const char **why)
{
	int count = 0, i = 0;

	if (j->type != JSON_ARRAY)
		return why_fmt(why, "key \"users\" must be a list of {\"name\", \"password\"}");
	for (const struct json *e = j->child; e; e = e->next)
		count++;
	if (!count || count > USERS_MAX)
		return why_fmt(why, "key \"users\" must list 1 to %d users", USERS_MAX);
	if (!(*out = calloc((size_t)count, sizeof(**out))))
		return -ENOMEM;
	*n = count;
	for (const struct json *e = j->child; e; e = e->next, i++) {
		const struct json *name = NULL, *pw = NULL;

		for (const struct json *f = e->type == JSON_OBJECT ? e->child : NULL; f; f = f->next) {
			if (!strcmp(f->key, "name"))
				name = f;
			else if (!strcmp(f->key, "password"))
				pw = f;
			else if (!strcmp(f->key, "rate_limit") || !strcmp(f->key, "data_limit")) {
				if (f->key[0] == 'r' ? rate_of(f, &(*out)[i].rate_limit) :
						       bytes_of(f, &(*out)[i].data_limit))
					return why_fmt(why, "users[%d]: bad value of \"%s\"", i, f->key);
			} else
				return why_fmt(why, "users[%d]: unknown key \"%s\"", i, f->key);
		}
		if (dup_str(&(*out)[i].name, name) || dup_str(&(*out)[i].password, pw) ||
		    !*(*out)[i].name || strlen((*out)[i].name) > 63)
			return why_fmt(why, "users[%d] needs a \"name\" (1-63 bytes) and a \"password\"", i);
		for (int k = 0; k < i; k++)
			if (!strcmp((*out)[k].name, (*out)[i].name))
				return why_fmt(why, "users: \"%s\" appears twice", (*out)[i].name);
	}
	return 0;
}

/* {"8381": "pw1", "8382": "pw2"} */
static int parse_port_password(struct ss_config *c, const struct json *j, const char **why)
{
	int n = 0, i = 0;

	if (j->type != JSON_OBJECT)
		return why_fmt(why, "key \"port_password\" must be an object {\"port\": \"password\"}");
	for (const struct json *e = j->child; e; e = e->next)
		n++;
	free_ports(c->port_password, c->nport_password);
	if (!(c->port_password = calloc((size_t)n + 1, sizeof(*c->port_password))))
		return -ENOMEM;
	c->nport_password = n;
	for (const struct json *e = j->child; e; e = e->next, i++) {
		struct json key = { .type = JSON_STRING, .string = e->key };

		if (port_of(&key, &c->port_password[i].port, &c->port_password[i].port_hi))
			return why_fmt(why, "port_password: \"%s\" is not a port number 1-65535",
					   e->key);
		if (dup_str(&c->port_password[i].password, e))
			return why_fmt(why, "port_password: the password of %s must be a string",
					   e->key);
	}
	return 0;
}

static int parse_server_entry(struct cfg_port *p, const struct json *e, int i, const char **why)
{
	int r = 0;

	if (e->type != JSON_OBJECT)
		return why_fmt(why, "servers[%d] must be an object", i);
	for (const struct json *f = e->child; f && !r; f = f->next) {
		if (!strcmp(f->key, "server"))
			r = dup_str(&p->server, f);
		else if (!strcmp(f->key, "server_port"))
			r = port_of(f, &p->port, &p->port_hi);
		else if (!strcmp(f->key, "password"))
			r = dup_str(&p->password, f);
		else if (!strcmp(f->key, "method"))
			r = dup_str(&p->method, f);
		else if (!strcmp(f->key, "users"))
			r = parse_users(f, &p->users, &p->nusers, why);
		else if (!strcmp(f->key, "rate_limit"))
			r = rate_of(f, &p->rate_limit);
		else if (!strcmp(f->key, "data_limit"))
			r = bytes_of(f, &p->data_limit);
		else if (!strcmp(f->key, "disabled"))
			r = f->type == JSON_BOOL ? (p->disabled = f->boolean, 0) : -EINVAL;
		else if (!strcmp(f->key, "plugin"))
			p->has_plugin = f->type == JSON_STRING && *f->string;
		else if (strcmp(f->key, "mode") && strcmp(f->key, "timeout") &&
			 strcmp(f->key, "plugin_opts") && strcmp(f->key, "plugin_args") &&
			 strcmp(f->key, "remarks") && strcmp(f->key, "id") && strcmp(f->key, "tcp_weight") &&
			 strcmp(f->key, "udp_weight"))
			return why_fmt(why, "servers[%d]: unknown key \"%s\"", i, f->key);
		if (r == -EINVAL && !**why)
			why_fmt(why, "servers[%d]: bad value of \"%s\"", i, f->key);
	}
	if (!r && !p->port)
		return why_fmt(why, "servers[%d] needs a \"server_port\"", i);
	return r;
}

static int parse_server_list(struct ss_config *c, const struct json *j, const char **why)
{
	int n = 0, i = 0, r;

	if (j->type != JSON_ARRAY)
		return why_fmt(why, "key \"servers\" must be a list of objects");
	for (const struct json *e = j->child; e; e = e->next)
		n++;
	free_ports(c->server_list, c->nserver_list);
	if (!(c->server_list = calloc((size_t)n + 1, sizeof(*c->server_list))))
		return -ENOMEM;
	c->nserver_list = n;
	*why = "";
	for (const struct json *e = j->child; e; e = e->next, i++)
		if ((r = parse_server_entry(&c->server_list[i], e, i, why)))
			return r;
	return 0;
}

int config_ports_apply(struct ss_config *c, const char *key, const struct json *j,
		       const char **why)
{
	if (!strcmp(key, "port_password"))
		return parse_port_password(c, j, why);
	if (!strcmp(key, "servers"))
		return parse_server_list(c, j, why);
	if (!strcmp(key, "balancer"))
		return config_balancer_apply(c, j, why);
	if (!strcmp(key, "online_config"))
		return config_online_apply(c, j, why);
	free_users(c->users, c->nusers);
	c->users = NULL;
	c->nusers = 0;
	return parse_users(j, &c->users, &c->nusers, why);
}

static int copy_users(struct cfg_port *p, const struct cfg_user *u, int n)
{
	if (!n)
		return 0;
	if (!(p->users = calloc((size_t)n, sizeof(*u))))
		return -ENOMEM;
	p->nusers = n;
	for (int i = 0; i < n; i++) {
		p->users[i].rate_limit = u[i].rate_limit;
		p->users[i].data_limit = u[i].data_limit;
		if (!(p->users[i].name = strdup(u[i].name)) ||
		    !(p->users[i].password = strdup(u[i].password)))
			return -ENOMEM;
	}
	return 0;
}

static int copy_port(struct cfg_port *dst, const struct cfg_port *src)
{
	dst->port = src->port;
	dst->port_hi = src->port_hi;
	dst->rate_limit = src->rate_limit;
	dst->data_limit = src->data_limit;
	if ((src->server && !(dst->server = strdup(src->server))) ||
	    (src->password && !(dst->password = strdup(src->password))) ||
	    (dst->raw_key = src->raw_key, false) ||
	    (src->method && !(dst->method = strdup(src->method))))
		return -ENOMEM;
	return copy_users(dst, src->users, src->nusers);
}

/* The plain form: server_port (and the ports after it) with password or users. */
static int plain_ports(struct ss_config *c)
{
	c->nports = 1 + c->nextra_ports;
	if (!(c->ports = calloc((size_t)c->nports, sizeof(*c->ports))))
		return -ENOMEM;
	for (int i = 0; i < c->nports; i++) {
		struct cfg_port *p = &c->ports[i];

		p->port = i ? c->extra_ports[i - 1] : c->server_port;
		p->port_hi = i ? c->extra_ports_hi[i - 1] : c->server_port_hi;
		p->raw_key = c->raw_key;
		if ((c->password && !(p->password = strdup(c->password))) ||
		    copy_users(p, c->users, c->nusers))
			return -ENOMEM;
	}
	return 0;
}

/*
 * A port's password and users. With a 2022 AES method, users go with a
 * password: the identity PSK their requests' identity headers are under
 * (SIP023), each user's password its own PSK.
 */
static int check_port_keys(const struct cfg_port *p, const char **why)
{
	char who[64];
	int r;

	if (p->nusers && p->password && !p->m->sip022)
		return why_fmt(why, "port %d: give a password or users, not both",
				   p->port);
	if (p->m->sip022 && p->nusers && (!p->password || p->m->id == SS_M_CHACHA20_POLY1305))
		return why_fmt(why, "port %d: users of method %s need %s", p->port,
				   p->m->name, p->m->id == SS_M_CHACHA20_POLY1305 ?
				   "an AES 2022 method (SIP023 identity headers are AES only)" :
				   "the port's password: the identity PSK of SIP023");
	snprintf(who, sizeof(who), "port %d: ", p->port);
	if (p->password && (r = config_check_key(p->m, p->password, who, why)))
		return r;
	for (int i = 0; i < p->nusers; i++) {
		snprintf(who, sizeof(who), "port %d, user %s: ", p->port, p->users[i].name);
		if ((r = config_check_key(p->m, p->users[i].password, who, why)))
			return r;
	}
	return 0;
}

/* Two entries on one address (or both on "server") sharing a port? */
static bool ports_overlap(const struct cfg_port *a, const struct cfg_port *b)
{
	return a->port <= config_port_last(b) && b->port <= config_port_last(a) &&
	       !strcmp(a->server ? a->server : "", b->server ? b->server : "");
}

int config_ports_build(struct ss_config *c, const char **why)
{
	const struct cfg_port *src = c->nserver_list ? c->server_list : c->port_password;
	int n = c->nserver_list ? c->nserver_list : c->nport_password, r;
	const char *mwhy;

	free_ports(c->ports, c->nports);
	c->ports = NULL;
	c->nports = 0;
	if (c->nserver_list && c->nport_password)
		return why_fmt(why, "give \"servers\" or \"port_password\", not both");
	if (n) {
		if (!(c->ports = calloc((size_t)n, sizeof(*c->ports))))
			return -ENOMEM;
		c->nports = n;
		for (int i = 0; i < n; i++)
			if ((r = copy_port(&c->ports[i], &src[i])))
				return r;
	} else if ((r = plain_ports(c))) {
		return r;
	}
	for (int i = 0; i < c->nports; i++) {
		struct cfg_port *p = &c->ports[i];
		const char *name = p->method ? p->method : c->method;

		for (int k = 0; k < i; k++)
			if (ports_overlap(&c->ports[k], p))
				return why_fmt(why, "port %d is listed twice", p->port);
		if (!name)
			return why_fmt(why, "port %d has no method", p->port);
		if (!(p->m = crypto_method_find(name, &mwhy)))
			return why_fmt(why, "port %d: method \"%s\": %s", p->port, name, mwhy);
		if (!p->password && !p->nusers && p->m->id != SS_M_NONE)
			return why_fmt(why, "port %d has no password (or users)", p->port);
		if ((r = check_port_keys(p, why)))
			return r;
	}
	return 0;
}

bool config_serves_port(int port, void *arg)
{
	const struct ss_config *cfg = arg;

	for (int i = 0; i < cfg->nports; i++)
		if (port >= cfg->ports[i].port && port <= config_port_last(&cfg->ports[i]))
			return true;
	return false;
}
