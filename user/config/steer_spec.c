// SPDX-License-Identifier: MIT
/*
 * The steering spec of sslocal redir from its sources: comma-separated
 * prefixes and ports, exclusion files, a libev ACL's IP rules, interface
 * names. Reads files; no other I/O.
 */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "common.h"
#include "steer.h"

/* fn on each item of list (NULL: none), split at any of seps; stops at fn's first error. */
static int each_item(const char *list, const char *seps,
		     int (*fn)(void *arg, const char *item, const char **why), void *arg,
		     const char **why)
{
	char *copy, *save = NULL;
	int r = 0;

	if (!list)
		return 0;
	if (!(copy = strdup(list)))
		return -ENOMEM;
	for (char *t = strtok_r(copy, seps, &save); t && !r; t = strtok_r(NULL, seps, &save))
		r = fn(arg, t, why);
	free(copy);
	return r;
}

struct prefixes_to {
	struct steer_list *out;
	const char *what; /* the flag, for errors */
};

static int add_prefix(void *arg, const char *t, const char **why)
{
	const struct prefixes_to *to = arg;
	struct steer_prefix p;
	int r;

	if (steer_parse_prefix(t, &p)) {
		why_fmt(why, "%s: \"%s\" is not an IPv4 or IPv6 prefix (a.b.c.d/n)", to->what, t);
		return -EINVAL;
	}
	if ((r = steer_list_add(to->out, &p)))
		why_fmt(why, "%s: more than %u prefixes, or out of memory", to->what, STEER_LIST_MAX);
	return r;
}

/*
 * One line of an exclusion file: a prefix, or ipset's "add SET PREFIX [...]";
 * 1 when it held a prefix, 0 when nothing (blank, comment, "create ..."), -EINVAL.
 */
static int file_line(char *s, struct steer_prefix *p)
{
	char *save = NULL, *tok;

	if ((tok = strchr(s, '#')))
		*tok = 0;
	if (!(tok = strtok_r(s, " \t\r\n", &save)))
		return 0;
	if (!strcmp(tok, "create") || !strcmp(tok, "flush") || !strcmp(tok, "destroy"))
		return 0;
	if (!strcmp(tok, "add")) {
		if (!strtok_r(NULL, " \t\r\n", &save) || !(tok = strtok_r(NULL, " \t\r\n", &save)))
			return -EINVAL;
	}
	return steer_parse_prefix(tok, p) ? -EINVAL : 1;
}

static int read_file(const char *path, struct steer_list *out, size_t *count, const char **why)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int lineno = 0, r = 0;

	if (!f) {
		r = -errno;
		why_fmt(why, "--exclude-file %s: %s", path, strerror(errno));
		return r;
	}
	while (!r && fgets(line, sizeof(line), f)) {
		struct steer_prefix p;
		char shown[80];
		int k;

		lineno++;
		snprintf(shown, sizeof(shown), "%.79s", line);
		shown[strcspn(shown, "\r\n")] = 0;
		if ((k = file_line(line, &p)) < 0) {
			why_fmt(why, "--exclude-file %s line %d: \"%s\" is not a prefix or an ipset "
				"\"add SET PREFIX\" line", path, lineno, shown);
			r = -EINVAL;
		} else if (k && (r = steer_list_add(out, &p))) {
			why_fmt(why, "--exclude-file %s: more than %u prefixes, or out of memory",
				path, STEER_LIST_MAX);
		} else {
			*count += (size_t)k;
		}
	}
	fclose(f);
	return r;
}

static int read_one_file(void *arg, const char *path, const char **why)
{
	struct steer_spec *s = arg;

	return read_file(path, &s->exclude, &s->from_files, why);
}

struct acl_take {
	struct steer_list *to;
	size_t n;
	int r;
};

static void take_prefix(void *arg, int family, const uint8_t *addr, unsigned len)
{
	struct acl_take *t = arg;
	struct steer_prefix p = { .family = family, .len = (uint8_t)len };

	memcpy(p.addr, addr, family == AF_INET ? 4 : 16);
	if (!t->r && !(t->r = steer_list_add(t->to, &p)))
		t->n++;
}

/* Keeps the prefixes of a that lie within b and those of b within a: a is their meet. */
static int intersect(struct steer_list *a, const struct steer_list *b)
{
	struct steer_list out = { 0 };
	int r = 0;

	for (size_t i = 0; i < a->n && !r; i++)
		if (steer_list_covers(b, &a->p[i]))
			r = steer_list_add(&out, &a->p[i]);
	for (size_t i = 0; i < b->n && !r; i++)
		if (steer_list_covers(a, &b->p[i]))
			r = steer_list_add(&out, &b->p[i]);
	free(a->p);
	*a = out;
	steer_list_normalize(a);
	return r;
}

/*
 * The ACL's IP rules as lists: [proxy_all] excludes its bypass list;
 * [bypass_all] steers only its proxy list (within --steer). Its name rules
 * stay with the daemon, which never sees a name in redir mode.
 */
static int read_acl(const char *path, struct steer_spec *s, const char **why)
{
	struct acl *a;
	struct steer_list proxy = { 0 };
	struct acl_take t = { .to = &s->exclude };
	int r;

	if ((r = acl_load(&a, path, why)))
		return r;
	if (acl_bypass_all(a)) {
		t.to = &proxy;
		acl_each_prefix(a, true, take_prefix, &t);
		steer_list_normalize(&s->steer);
		steer_list_normalize(&proxy);
		if (!t.r)
			t.r = intersect(&s->steer, &proxy);
		free(proxy.p);
	} else {
		acl_each_prefix(a, false, take_prefix, &t);
	}
	acl_free(a);
	s->from_acl = t.n;
	if (t.r)
		why_fmt(why, "--acl %s: out of memory for its prefixes", path);
	return t.r;
}

static int add_ports(void *arg, const char *t, const char **why)
{
	struct steer_spec *s = arg;
	unsigned long lo, hi;
	char *end;

	lo = hi = strtoul(t, &end, 10);
	if (*end == '-')
		hi = strtoul(end + 1, &end, 10);
	if (*end || !isdigit((unsigned char)*t) || lo < 1 || hi > 65535 || lo > hi ||
	    s->nports >= STEER_PORTS_MAX) {
		why_fmt(why, "--steer-ports: \"%s\" is not a port or a range P-Q "
			 "(1-65535, at most %d items)", t, STEER_PORTS_MAX);
		return -EINVAL;
	}
	s->ports[s->nports].lo = (uint16_t)lo;
	s->ports[s->nports].hi = (uint16_t)hi;
	s->nports++;
	return 0;
}

static int add_iif(void *arg, const char *t, const char **why)
{
	struct steer_spec *s = arg;

	if (strlen(t) >= IF_NAMESIZE || s->niif >= STEER_IIF_MAX) {
		why_fmt(why, "--steer-iif: \"%s\" is not an interface name (at most %d names)", t,
			STEER_IIF_MAX);
		return -EINVAL;
	}
	snprintf(s->iif[s->niif++], sizeof(s->iif[0]), "%s", t);
	return 0;
}

int steer_parse(struct steer_spec *s, const struct steer_sources *src, const char **why)
{
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = each_item(src->steer, ", ", add_prefix,
			   &(struct prefixes_to){ &s->steer, "--steer" }, why)) ||
	    (r = each_item(src->exclude, ", ", add_prefix,
			   &(struct prefixes_to){ &s->exclude, "--exclude" }, why)) ||
	    (r = each_item(src->exclude_files, ",", read_one_file, s, why)) ||
	    (src->acl && (r = read_acl(src->acl, s, why))) ||
	    (r = each_item(src->ports, ", ", add_ports, s, why)) ||
	    (r = each_item(src->iif, ", ", add_iif, s, why)))
		return r;
	steer_list_normalize(&s->steer);
	steer_list_normalize(&s->exclude);
	return 0;
}
