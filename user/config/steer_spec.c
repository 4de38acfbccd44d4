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

static int parse_prefixes(const char *list, struct steer_list *out, const char *what,
			  const char **why)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ", ", &save); t && !r; t = strtok_r(NULL, ", ", &save)) {
		struct steer_prefix p;

		if (steer_parse_prefix(t, &p)) {
			why_fmt(why, "%s: \"%s\" is not an IPv4 or IPv6 prefix (a.b.c.d/n)", what, t);
			r = -EINVAL;
		} else if ((r = steer_list_add(out, &p))) {
			why_fmt(why, "%s: more than %u prefixes, or out of memory", what,
				STEER_LIST_MAX);
		}
	}
	free(copy);
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

static int read_files(const char *list, struct steer_spec *s, const char **why)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t && !r; t = strtok_r(NULL, ",", &save))
		r = read_file(t, &s->exclude, &s->from_files, why);
	free(copy);
	return r;
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

static int parse_ports(struct steer_spec *s, const char *ports, const char **why)
{
	char *copy, *save = NULL;
	int r = 0;

	if (!ports)
		return 0;
	if (!(copy = strdup(ports)))
		return -ENOMEM;
	for (char *t = strtok_r(copy, ", ", &save); t && !r; t = strtok_r(NULL, ", ", &save)) {
		unsigned long lo, hi;
		char *end;

		lo = hi = strtoul(t, &end, 10);
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		if (*end || !isdigit((unsigned char)*t) || lo < 1 || hi > 65535 || lo > hi ||
		    s->nports >= STEER_PORTS_MAX) {
			why_fmt(why, "--steer-ports: \"%s\" is not a port or a range P-Q "
				 "(1-65535, at most %d items)", t, STEER_PORTS_MAX);
			r = -EINVAL;
			break;
		}
		s->ports[s->nports].lo = (uint16_t)lo;
		s->ports[s->nports].hi = (uint16_t)hi;
		s->nports++;
	}
	free(copy);
	return r;
}

static int parse_iifs(struct steer_spec *s, const char *iif, const char **why)
{
	char *copy = strdup(iif ? iif : ""), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ", ", &save); t && !r; t = strtok_r(NULL, ", ", &save)) {
		if (strlen(t) >= IF_NAMESIZE || s->niif >= STEER_IIF_MAX) {
			why_fmt(why, "--steer-iif: \"%s\" is not an interface name (at most %d names)",
				t, STEER_IIF_MAX);
			r = -EINVAL;
		} else {
			snprintf(s->iif[s->niif++], sizeof(s->iif[0]), "%s", t);
		}
	}
	free(copy);
	return r;
}

int steer_parse(struct steer_spec *s, const struct steer_sources *src, const char **why)
{
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = parse_prefixes(src->steer, &s->steer, "--steer", why)) ||
	    (r = parse_prefixes(src->exclude, &s->exclude, "--exclude", why)) ||
	    (r = read_files(src->exclude_files, s, why)) ||
	    (src->acl && (r = read_acl(src->acl, s, why))) ||
	    (r = parse_ports(s, src->ports, why)) || (r = parse_iifs(s, src->iif, why)))
		return r;
	steer_list_normalize(&s->steer);
	steer_list_normalize(&s->exclude);
	return 0;
}
