// SPDX-License-Identifier: MIT
/*
 * The one option table (JSON key, long flag, short flag, type, range,
 * programs) and the one function that applies a value from either source.
 * Keys and flags follow shadowsocks-libev, then shadowsocks-rust.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "options.h"
#include "sip002.h"

enum opt_type {
	OT_STR,      /* a string */
	OT_INT,      /* an integer in [lo, hi] */
	OT_TABLE,    /* a routing table number, not 253-255 (reserved) */
	OT_BOOL,     /* true/false; a flag without value sets it */
	OT_ENUM,     /* one of names[] (a JSON boolean means on/off) */
	OT_CONST,    /* a flag without value that sets the field to lo */
	OT_COUNT,    /* a flag without value that counts (-v -v) */
	OT_LIST,     /* "a,b" or ["a", "b"], kept comma-separated */
	OT_SERVERS,  /* a host, or a list of hosts (JSON) */
	OT_FRACTION, /* a number strictly between 0 and 1 */
	OT_URL,      /* a SIP002 ss:// URI */
	OT_LATER,    /* a shadowsocks option this build does not implement yet */
};

struct enum_name {
	const char *name;
	int value;
};

#define BOTH (1u << PROG_SERVER | 1u << PROG_LOCAL)
#define LOCAL (1u << PROG_LOCAL)
#define SERVER (1u << PROG_SERVER)
#define O(f) offsetof(struct ss_config, f)

struct option_desc {
	const char *key;  /* JSON key, or NULL */
	const char *lng;  /* long flag without "--", or NULL */
	char shrt;        /* short flag, or 0 */
	enum opt_type type;
	long lo, hi;
	size_t off;
	unsigned progs;   /* bit per prog_kind */
	const char *desc; /* what a valid value is, for errors */
	const struct enum_name *names;
};

static const struct enum_name mode_names[] = {
	{ "tcp_only", MODE_TCP_ONLY }, { "udp_only", MODE_UDP_ONLY },
	{ "tcp_and_udp", MODE_TCP_AND_UDP }, { 0 } };
static const struct enum_name bpf_names[] = {
	{ "auto", BPF_AUTO }, { "on", BPF_ON }, { "true", BPF_ON }, { "off", BPF_OFF },
	{ "false", BPF_OFF }, { 0 } };
static const struct enum_name protocol_names[] = {
	{ "socks", LOCAL_SOCKS }, { "socks5", LOCAL_SOCKS }, { "tunnel", LOCAL_TUNNEL },
	{ "redir", LOCAL_REDIR }, { 0 } };
static const struct enum_name tier_names[] = {
	{ "user", TIER_USER }, { "splice", TIER_SPLICE }, { "sockmap", TIER_SOCKMAP }, { 0 } };

static const struct option_desc rows[] = {
	{ "server", NULL, 's', OT_SERVERS, 0, 0, 0, BOTH, "a host or a list of hosts", NULL },
	{ "server_port", NULL, 'p', OT_INT, 1, 65535, O(server_port), BOTH,
	  "a port number 1-65535", NULL },
	{ "password", NULL, 'k', OT_STR, 0, 0, O(password), BOTH, "a string", NULL },
	{ "method", NULL, 'm', OT_STR, 0, 0, O(method), BOTH, "a string", NULL },
	{ "timeout", NULL, 't', OT_INT, 1, INT_MAX, O(timeout), BOTH, "a positive integer", NULL },
	{ "local_address", NULL, 'b', OT_STR, 0, 0, O(local_address), LOCAL, "a string", NULL },
	{ "local_port", NULL, 'l', OT_INT, 1, 65535, O(local_port), LOCAL,
	  "a port number 1-65535", NULL },
	{ "tunnel_address", NULL, 'L', OT_STR, 0, 0, O(tunnel_address), LOCAL, "host:port", NULL },
	{ "nameserver", NULL, 'd', OT_STR, 0, 0, O(nameserver), BOTH, "a string", NULL },
	{ "user", NULL, 'a', OT_STR, 0, 0, O(user), BOTH, "a user name", NULL },
	{ "mode", NULL, 0, OT_ENUM, 0, 0, O(mode), BOTH, "tcp_only, udp_only or tcp_and_udp",
	  mode_names },
	{ NULL, NULL, 'u', OT_CONST, MODE_TCP_AND_UDP, 0, O(mode), BOTH, "", NULL },
	{ NULL, NULL, 'U', OT_CONST, MODE_UDP_ONLY, 0, O(mode), BOTH, "", NULL },
	{ "ipv6_first", NULL, '6', OT_BOOL, 0, 0, O(ipv6_first), BOTH, "true or false", NULL },
	{ "verbose", NULL, 'v', OT_COUNT, 0, 10, O(verbose), BOTH, "an integer 0-10", NULL },
	{ "fast_open", "fast-open", 0, OT_BOOL, 0, 0, O(fast_open), BOTH, "true or false", NULL },
	{ "reuse_port", "reuse-port", 0, OT_BOOL, 0, 0, O(reuse_port), BOTH, "true or false", NULL },
	{ "no_delay", "no-delay", 0, OT_BOOL, 0, 0, O(no_delay), BOTH, "true or false", NULL },
	{ "bpf", "bpf", 0, OT_ENUM, 0, 0, O(bpf), BOTH, "auto, on or off", bpf_names },
	{ "workers", "workers", 0, OT_INT, 1, 1024, O(workers), BOTH, "an integer 1-1024", NULL },
	{ "server_url", "server-url", 0, OT_URL, 0, 0, 0, BOTH, "an ss:// URI", NULL },
	{ "protocol", "mode", 0, OT_ENUM, 0, 0, O(local_mode), LOCAL, "socks, tunnel or redir",
	  protocol_names },
	{ "socks5_username", "socks5-username", 0, OT_STR, 0, 0, O(socks_user), LOCAL, "a string",
	  NULL },
	{ "socks5_password", "socks5-password", 0, OT_STR, 0, 0, O(socks_pass), LOCAL, "a string",
	  NULL },
	{ "udp_max_associations", "udp-max-associations", 0, OT_INT, 1, 1 << 20,
	  O(udp_max_associations), BOTH, "an integer 1-1048576", NULL },
	{ "relay", "relay", 0, OT_BOOL, 0, 0, O(relay), LOCAL, "true or false", NULL },
	{ "tier", "tier", 0, OT_ENUM, 0, 0, O(tier), BOTH, "user, splice or sockmap", tier_names },
	{ "allow_private", "allow-private", 0, OT_BOOL, 0, 0, O(allow_private), SERVER,
	  "true or false", NULL },
	{ "acl", "acl", 0, OT_STR, 0, 0, O(acl), SERVER, "a file name", NULL },
	{ "handshake_timeout", "handshake-timeout", 0, OT_INT, 1, 86400, O(handshake_timeout),
	  BOTH, "an integer 1-86400 (seconds)", NULL },
	{ "first_data_wait", "first-data-wait", 0, OT_INT, 0, 10000, O(first_data_wait), LOCAL,
	  "an integer 0-10000 (milliseconds)", NULL },
	{ "max_connections", "max-connections", 0, OT_INT, 1, 1 << 24, O(max_connections), BOTH,
	  "an integer 1-16777216", NULL },
	{ "replay_capacity", "replay-capacity", 0, OT_INT, 16, 1 << 28, O(replay_capacity), BOTH,
	  "an integer 16-268435456", NULL },
	{ "replay_fp", "replay-fp", 0, OT_FRACTION, 0, 0, O(replay_fp), BOTH,
	  "a number between 0 and 1", NULL },
	{ "replay_file", "replay-file", 0, OT_STR, 0, 0, O(replay_file), BOTH,
	  "a file name, or off", NULL },
	{ "steer", "steer", 0, OT_LIST, 0, 0, O(steer), LOCAL, "a string or a list", NULL },
	{ "steer_ports", "steer-ports", 0, OT_LIST, 0, 0, O(steer_ports), LOCAL,
	  "a string or a list", NULL },
	{ "exclude", "exclude", 0, OT_LIST, 0, 0, O(exclude), LOCAL, "a string or a list", NULL },
	{ "fwmark", "fwmark", 0, OT_INT, 1, INT_MAX, O(fwmark), LOCAL, "a positive mark", NULL },
	{ "route_table", "route-table", 0, OT_TABLE, 1, INT_MAX, O(route_table), LOCAL,
	  "a table number (not 253-255)", NULL },
	{ "plugin", "plugin", 0, OT_LATER, 0, 0, 0, BOTH, "SIP003 plugins", NULL },
	{ "plugin_opts", "plugin-opts", 0, OT_LATER, 0, 0, 0, BOTH, "SIP003 plugins", NULL },
	{ "manager_address", "manager-address", 0, OT_LATER, 0, 0, 0, BOTH, "the manager", NULL },
	{ "port_password", NULL, 0, OT_LATER, 0, 0, 0, SERVER, "several ports", NULL },
};

size_t options_count(void)
{
	return ARRAY_SIZE(rows);
}

const struct option_desc *options_at(size_t i)
{
	return i < ARRAY_SIZE(rows) ? &rows[i] : NULL;
}

const char *options_key(const struct option_desc *o)
{
	return o->key;
}

const char *options_long(const struct option_desc *o)
{
	return o->lng;
}

char options_short(const struct option_desc *o)
{
	return o->shrt;
}

const struct option_desc *options_by_key(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		if (rows[i].key && !strcmp(rows[i].key, key))
			return &rows[i];
	return NULL;
}

const struct option_desc *options_by_flag(const char *lng, char shrt)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		if (lng ? rows[i].lng && !strcmp(rows[i].lng, lng) : rows[i].shrt == shrt)
			return &rows[i];
	return NULL;
}

int options_flag_has_arg(const struct option_desc *o)
{
	return o->type != OT_BOOL && o->type != OT_CONST && o->type != OT_COUNT;
}

/* "key \"x\" must be ..." from the file; "-x: \"v\" is not ..." from the command line. */
static int bad_value(const char *label, const struct json *j, const char *text,
		     const struct option_desc *o, char *err, size_t len)
{
	if (j)
		return config_errf(err, len, "%s must be %s", label, o->desc);
	return config_errf(err, len, "%s: \"%s\" is not %s", label, text ? text : "", o->desc);
}

static int parse_long(const char *s, int base, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, base);
	if (!*s || *end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The JSON scalar as text (numbers written as strings are accepted, as in libev). */
static const char *scalar_text(const struct json *j, char *buf, size_t len)
{
	if (j->type == JSON_STRING)
		return j->string;
	if (j->type == JSON_NUMBER) {
		if (j->number == (double)(long)j->number)
			snprintf(buf, len, "%ld", (long)j->number);
		else
			snprintf(buf, len, "%g", j->number);
		return buf;
	}
	return NULL;
}

/* "a,b" or ["a", 8080]: kept comma-separated. */
static int join_list(const struct json *j, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = 0;
	for (const struct json *e = j->child; e; e = e->next) {
		char num[32];
		const char *item = scalar_text(e, num, sizeof(num));
		int w;

		if (!item)
			return -EINVAL;
		w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", item);
		if (w < 0 || (size_t)w >= cap - n)
			return -E2BIG;
		n += (size_t)w;
	}
	return 0;
}

static int set_servers(struct ss_config *c, const struct json *j, const char *text)
{
	char num[32];

	config_clear_servers(c);
	if (j && j->type != JSON_ARRAY)
		text = scalar_text(j, num, sizeof(num));
	if (!j || j->type != JSON_ARRAY)
		return text && !config_add_server(c, text) ? 0 : -EINVAL;
	for (const struct json *e = j->child; e; e = e->next)
		if (e->type != JSON_STRING || config_add_server(c, e->string))
			return -EINVAL;
	return 0;
}

static int set_enum(const struct option_desc *o, const struct json *j, const char *v, int *field)
{
	if (j && j->type == JSON_BOOL && o->names == bpf_names)
		v = j->boolean ? "on" : "off";
	for (const struct enum_name *e = o->names; v && e->name; e++) {
		if (!strcmp(e->name, v)) {
			*field = e->value;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_number(const struct option_desc *o, const struct json *j, const char *v, void *f)
{
	long n;
	char *end;
	double d;

	switch (o->type) {
	case OT_INT:
	case OT_TABLE:
		/* Marks and tables may be written in hex on the command line. */
		if (!v || parse_long(v, o->type == OT_TABLE || o->off == O(fwmark) ? 0 : 10, o->lo,
				     o->hi, &n) ||
		    (o->type == OT_TABLE && n >= 253 && n <= 255))
			return -EINVAL;
		*(int *)f = (int)n;
		return 0;
	case OT_FRACTION:
		if (j && j->type == JSON_NUMBER) {
			d = j->number;
		} else {
			d = v ? strtod(v, &end) : 0;
			if (!v || !*v || *end)
				return -EINVAL;
		}
		if (!(d > 0 && d < 1))
			return -EINVAL;
		*(double *)f = d;
		return 0;
	default:
		return -EINVAL;
	}
}

/* One value of a type that takes one; 0, -EINVAL (bad value) or -ENOMEM. */
static int set_value(struct ss_config *c, const struct option_desc *o, const struct json *j,
		     const char *text)
{
	char num[32], joined[4096];
	const char *v = j ? scalar_text(j, num, sizeof(num)) : text;
	void *f = (char *)c + o->off;

	switch (o->type) {
	case OT_STR:
		/* A number stands for its text, as on the command line. */
		return v ? config_set_str(f, v) : -EINVAL;
	case OT_BOOL:
		if (j && j->type != JSON_BOOL)
			return -EINVAL;
		*(bool *)f = j ? j->boolean : true;
		return 0;
	case OT_ENUM:
		return set_enum(o, j, v, f);
	case OT_CONST:
		*(int *)f = (int)o->lo;
		return 0;
	case OT_COUNT:
		if (!j)
			return ++*(int *)f, 0;
		return set_number(&(struct option_desc){ .type = OT_INT, .lo = o->lo, .hi = o->hi },
				  j, v, f);
	case OT_LIST:
		if (j && j->type == JSON_ARRAY) {
			if (join_list(j, joined, sizeof(joined)))
				return -EINVAL;
			v = joined;
		}
		return v ? config_set_str(f, v) : -EINVAL;
	case OT_SERVERS:
		return set_servers(c, j, text);
	default:
		return set_number(o, j, v, f);
	}
}

int options_set(struct ss_config *c, const struct option_desc *o, const struct json *j,
		const char *text, const char *label, char *err, size_t err_len)
{
	int r;

	if (!(o->progs & 1u << c->prog))
		return config_errf(err, err_len, "%s is an %s option", label,
			    o->progs & 1u << PROG_LOCAL ? "sslocal" : "ssserver");
	if (o->type == OT_LATER)
		return config_errf(err, err_len, "%s: %s are not supported yet", label, o->desc);
	if (o->type == OT_URL) {
		char num[32], why[300];
		const char *v = j ? scalar_text(j, num, sizeof(num)) : text;

		if (!v)
			return bad_value(label, j, text, o, err, err_len);
		r = sip002_apply(c, v, why, sizeof(why));
		return r == -EINVAL ? config_errf(err, err_len, "%s: %s", label, why) : r;
	}
	r = set_value(c, o, j, text);
	if (r == -EINVAL)
		return bad_value(label, j, text, o, err, err_len);
	if (r)
		return config_errf(err, err_len, "%s: %s", label, strerror(-r));
	return 0;
}

void options_getopt(char *short_opts, size_t short_len, struct option *long_opts,
		    size_t long_len)
{
	size_t s = 0, l = 0;

	/* ':' first: a missing value is reported as such; -c and -h are not options of the table. */
	s += (size_t)snprintf(short_opts, short_len, ":c:h");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct option_desc *o = &rows[i];

		if (o->shrt && s + 3 < short_len) {
			short_opts[s++] = o->shrt;
			if (options_flag_has_arg(o))
				short_opts[s++] = ':';
			short_opts[s] = 0;
		}
		if (o->lng && l + 2 < long_len)
			long_opts[l++] = (struct option){ o->lng,
				options_flag_has_arg(o) ? required_argument : no_argument, NULL,
				256 + (int)i };
	}
	long_opts[l++] = (struct option){ "help", no_argument, NULL, 'h' };
	long_opts[l] = (struct option){ 0 };
}
