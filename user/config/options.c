// SPDX-License-Identifier: MIT
/*
 * The one function that applies a value of the option table
 * (options_table.c) from either source, the getopt tables and the help
 * text made from the rows.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "options.h"
#include "options_rows.h"
#include "config_ports.h"
#include "sip002.h"

size_t options_count(void)
{
	return option_nrows;
}

const struct option_desc *options_at(size_t i)
{
	return i < option_nrows ? &option_rows[i] : NULL;
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
	for (size_t i = 0; i < option_nrows; i++)
		if (option_rows[i].key && !strcmp(option_rows[i].key, key))
			return &option_rows[i];
	return NULL;
}

const struct option_desc *options_by_flag(const char *lng, char shrt)
{
	for (size_t i = 0; i < option_nrows; i++)
		if (lng ? option_rows[i].lng && !strcmp(option_rows[i].lng, lng) : option_rows[i].shrt == shrt)
			return &option_rows[i];
	return NULL;
}

const char *options_arg(const struct option_desc *o)
{
	return o->arg;
}

const char *options_help(const struct option_desc *o)
{
	return o->help;
}

bool options_same_field(const struct option_desc *a, const struct option_desc *b)
{
	return a->off == b->off && a->type != OT_LATER && a->type != OT_IGNORED &&
	       b->type != OT_LATER && b->type != OT_IGNORED && a->off;
}

bool options_documented(const struct option_desc *o)
{
	return o->type != OT_LATER && o->type != OT_IGNORED;
}

bool options_for(const struct option_desc *o, enum prog_kind prog)
{
	/* ssmanager takes ssserver's options too, to pass them on. */
	return o->progs & (1u << prog | (prog == PROG_MANAGER ? 1u << PROG_SERVER : 0));
}

int options_flag_has_arg(const struct option_desc *o)
{
	return o->type != OT_BOOL && o->type != OT_CONST && o->type != OT_COUNT;
}

/* "key \"x\" must be ..." from the file; "-x: \"v\" is not ..." from the command line. */
static int bad_value(const char *label, const struct json *j, const char *text,
		     const struct option_desc *o, const char **why)
{
	if (j)
		return why_fmt(why, "%s must be %s", label, o->desc);
	return why_fmt(why, "%s: \"%s\" is not %s", label, text ? text : "", o->desc);
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

/*
 * A capture entry {"cgroup": PATH, "netns": PATH, and an upstream of its own:
 * "server", "server_port", "method", "password"} as "PATH@NETNS=ss://..."
 * (SIP002, userinfo percent-encoded); NULL when it is not one.
 */
static const char *capture_item(const struct json *e, char *buf, size_t len)
{
	const char *cg = NULL, *ns = NULL, *srv = NULL, *method = NULL, *pw = NULL;
	char num[32];
	double port = 0;
	size_t n;

	for (const struct json *m = e->child; m; m = m->next) {
		if (!strcmp(m->key, "server_port") && m->type == JSON_NUMBER)
			port = m->number;
		else if (m->type != JSON_STRING || !*m->string)
			return NULL;
		else if (!strcmp(m->key, "cgroup") || !strcmp(m->key, "netns"))
			*(!strcmp(m->key, "cgroup") ? &cg : &ns) = m->string;
		else if (!strcmp(m->key, "server") || !strcmp(m->key, "method"))
			*(!strcmp(m->key, "server") ? &srv : &method) = m->string;
		else if (!strcmp(m->key, "password"))
			pw = m->string;
		else
			return NULL;
	}
	if (!cg || strpbrk(cg, ",@=") || (ns && strpbrk(ns, ",@=")) ||
	    (size_t)snprintf(buf, len, "%s%s%s", cg, ns ? "@" : "", ns ? ns : "") >= len)
		return NULL;
	if (!srv && !method && !pw && !port)
		return buf;
	/* An upstream of its own takes all four keys. */
	if (!srv || !method || !pw || port < 1 || port > 65535 || port != (int)port ||
	    strpbrk(srv, ",/@?#"))
		return NULL;
	n = strlen(buf);
	snprintf(num, sizeof(num), "%d", (int)port);
	if ((size_t)snprintf(buf + n, len - n, "=ss://") >= len - n)
		return NULL;
	n += 6;
	/* SIP002: method and password percent-encoded, the ':' between them plain. */
	if (!sip002_pct_append(buf, len, &n, method) || n + 1 >= len)
		return NULL;
	buf[n++] = ':';
	if (!sip002_pct_append(buf, len, &n, pw))
		return NULL;
	return (size_t)snprintf(buf + n, len - n, "@%s%s%s:%s", strchr(srv, ':') ? "[" : "", srv,
				strchr(srv, ':') ? "]" : "", num) < len - n ? buf : NULL;
}

/* A JSON list kept comma-separated (objects: capture entries, where allowed). */
static int join_list(const struct json *j, bool objects, char **out)
{
	size_t n = 0, cap = 0;
	char *s = NULL;

	for (const struct json *e = j->child; e; e = e->next) {
		char num[8192];
		const char *item = objects && e->type == JSON_OBJECT ?
					   capture_item(e, num, sizeof(num)) :
					   scalar_text(e, num, sizeof(num));
		size_t len;

		if (!item) {
			free(s);
			return -EINVAL;
		}
		len = strlen(item);
		if (n + len + 2 > cap) {
			char *g = realloc(s, cap = (n + len + 2) * 2);

			if (!g) {
				free(s);
				return -ENOMEM;
			}
			s = g;
		}
		n += (size_t)sprintf(s + n, "%s%s", n ? "," : "", item);
	}
	*out = s ? s : strdup("");
	return *out ? 0 : -ENOMEM;
}

static int set_servers(struct ss_config *c, const struct json *j, const char *text)
{
	char num[32];

	/* -s may be given several times (libev's ss-manager does): the first replaces the file's. */
	if (j || !c->servers_from_flags)
		config_clear_servers(c);
	c->servers_from_flags = !j;
	if (j && j->type != JSON_ARRAY)
		text = scalar_text(j, num, sizeof(num));
	if (!j || j->type != JSON_ARRAY)
		return text && !config_add_server(c, text) ? 0 : -EINVAL;
	for (const struct json *e = j->child; e; e = e->next)
		if (e->type != JSON_STRING || config_add_server(c, e->string))
			return -EINVAL;
	return 0;
}

/* A port, or (JSON) a list of ports: the first is server_port, the rest more listeners. */
static int set_ports(struct ss_config *c, const struct option_desc *o, const struct json *j,
		     const char *v)
{
	int i = 0, lo, hi;

	(void)o;
	c->nextra_ports = 0;
	if (!j || j->type != JSON_ARRAY) {
		if (!v || config_port_range(v, &lo, &hi))
			return -EINVAL;
		c->server_port = lo;
		c->server_port_hi = hi;
		return 0;
	}
	if (!j->child)
		return -EINVAL;
	for (const struct json *e = j->child; e; e = e->next, i++) {
		char num[32];
		const char *t = scalar_text(e, num, sizeof(num));

		if (!t || config_port_range(t, &lo, &hi) || i >= CFG_MAX_PORTS)
			return -EINVAL;
		if (i == 0) {
			c->server_port = lo;
			c->server_port_hi = hi;
		} else {
			c->extra_ports_hi[c->nextra_ports] = hi;
			c->extra_ports[c->nextra_ports++] = lo;
		}
	}
	return 0;
}

/* A JSON array of strings, kept NULL-terminated. */
static int set_args(char ***dst, const struct json *j)
{
	size_t n = 0, i = 0;
	char **v;

	if (!j || j->type != JSON_ARRAY)
		return -EINVAL;
	for (const struct json *e = j->child; e; e = e->next, n++)
		if (e->type != JSON_STRING)
			return -EINVAL;
	if (!(v = calloc(n + 1, sizeof(*v))))
		return -ENOMEM;
	for (const struct json *e = j->child; e; e = e->next)
		if (!(v[i++] = strdup(e->string))) {
			config_free_args(v);
			return -ENOMEM;
		}
	config_free_args(*dst);
	*dst = v;
	return 0;
}

static int set_enum(const struct option_desc *o, const struct json *j, const char *v, int *field)
{
	if (j && j->type == JSON_BOOL && o->names == option_bpf_names)
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
	int base;
	long n;
	char *end;
	double d;

	switch (o->type) {
	case OT_INT:
	case OT_TABLE:
		/* Marks and tables may be written in hex on the command line. */
		base = o->type == OT_TABLE || o->off == offsetof(struct ss_config, fwmark) ? 0 : 10;
		if (!v || parse_long(v, base, o->lo, o->hi, &n) ||
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
	char num[32];
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
	case OT_CAPTURE:
		if (j && j->type == JSON_ARRAY) {
			char *joined = NULL;
			int r = join_list(j, o->type == OT_CAPTURE, &joined);

			if (!r)
				r = config_set_str(f, joined);
			free(joined);
			return r;
		}
		return v ? config_set_str(f, v) : -EINVAL;
	case OT_SERVERS:
		return set_servers(c, j, text);
	case OT_PORTS:
		return set_ports(c, o, j, v);
	case OT_ARGS:
		return set_args(f, j);
	default:
		return set_number(o, j, v, f);
	}
}

/* Adds name to a comma-separated list (keys to note at start). */
static int note(char **list, const char *name)
{
	size_t n = *list ? strlen(*list) : 0;
	char *s = realloc(*list, n + strlen(name) + 3);

	if (!s)
		return -ENOMEM;
	sprintf(s + n, "%s%s", n ? ", " : "", name);
	*list = s;
	return 0;
}

int options_set(struct ss_config *c, const struct option_desc *o, const struct json *j,
		const char *text, const char *label, const char **why)
{
	int r;

	/* One file serves both programs (libev): the other's keys are noted with -v. */
	if (j && !options_for(o, c->prog) && o->type != OT_IGNORED)
		return note(&c->ignored, o->key);
	/* libev's options that mean nothing here (or to this program): one warning at start. */
	if (o->type == OT_IGNORED || (!options_for(o, c->prog) && o->libev & 1u << c->prog))
		return note(&c->meaningless, label);
	if (!options_for(o, c->prog))
		return why_fmt(why, "%s is an %s option", label,
			    o->progs & 1u << PROG_LOCAL ? "sslocal" :
			    o->progs & 1u << PROG_SERVER ? "ssserver" : "ssmanager");
	if (o->type == OT_PORTMAP) {
		if (!j)
			return why_fmt(why, "%s: only in the config file", label);
		return config_ports_apply(c, o->key, j, why);
	}
	if (o->type == OT_LATER)
		return why_fmt(why, "%s: %s are not supported yet", label, o->desc);
	if (o->type == OT_URL) {
		const char *v, *inner = "";
		char num[32];

		if (!(v = j ? scalar_text(j, num, sizeof(num)) : text))
			return bad_value(label, j, text, o, why);
		r = sip002_apply(c, v, &inner);
		if (!r && c->prog == PROG_LOCAL)
			r = config_servers_add_url(c, v);
		return r == -EINVAL ? why_fmt(why, "%s: %s", label, inner) : r;
	}
	r = set_value(c, o, j, text);
	if (r == -EINVAL)
		return bad_value(label, j, text, o, why);
	if (r)
		return why_fmt(why, "%s: %s", label, strerror(-r));
	return 0;
}

void options_getopt(char *short_opts, size_t short_len, struct option *long_opts,
		    size_t long_len)
{
	size_t s = 0, l = 0;

	/* ':' first: a missing value is reported as such; -c and -h are not options of the table. */
	s += (size_t)snprintf(short_opts, short_len, ":c:hV");
	for (size_t i = 0; i < option_nrows; i++) {
		const struct option_desc *o = &option_rows[i];

		if (o->shrt && s + 3 < short_len) {
			short_opts[s++] = o->shrt;
			if (options_flag_has_arg(o))
				short_opts[s++] = ':';
			short_opts[s] = 0;
		}
		if (o->lng && l + 4 < long_len)
			long_opts[l++] = (struct option){ o->lng,
				options_flag_has_arg(o) ? required_argument : no_argument, NULL,
				256 + (int)i };
	}
	long_opts[l++] = (struct option){ "help", no_argument, NULL, 'h' };
	long_opts[l++] = (struct option){ "version", no_argument, NULL, 'V' };
	long_opts[l++] = (struct option){ "genkey", required_argument, NULL, OPT_GENKEY };
	long_opts[l] = (struct option){ 0 };
}

void options_print_flags(enum prog_kind prog, FILE *f)
{
	for (size_t i = 0; i < option_nrows; i++) {
		const struct option_desc *o = &option_rows[i];
		char left[64];

		if (!o->help || (!o->lng && !o->shrt) || !options_for(o, prog))
			continue;
		snprintf(left, sizeof(left), "%c%c%s%s%s%s", o->shrt ? '-' : ' ',
			 o->shrt ? o->shrt : ' ', o->lng ? (o->shrt ? ", --" : "  --") : "",
			 o->lng ? o->lng : "", o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-30s %s\n", left, o->help);
	}
}
