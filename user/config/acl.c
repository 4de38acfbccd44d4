// SPDX-License-Identifier: MIT
/* ACL files in libev's format: sections, lines, and the decisions of each program. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "acl.h"
#include "acl_rules.h"

#define ACL_MAX_FILE (256u << 20)

struct acl {
	bool reject_all;          /* [reject_all] / [bypass_all] */
	struct rule_set black;    /* [black_list] / [bypass_list] */
	struct rule_set white;    /* [white_list] / [proxy_list] */
	struct rule_set outbound; /* [outbound_block_list] */
};

/* Which list a section header selects; NULL for one whose lines are skipped. */
static int section(struct acl *a, const char *name, struct rule_set **cur)
{
	static const char *const skipped[] = { "remote_dns", NULL };

	/* A mode leaves the current list as it is (libev). */
	if (!strcmp(name, "reject_all") || !strcmp(name, "bypass_all"))
		a->reject_all = true;
	else if (!strcmp(name, "accept_all") || !strcmp(name, "proxy_all"))
		a->reject_all = false;
	else if (!strcmp(name, "black_list") || !strcmp(name, "bypass_list"))
		*cur = &a->black;
	else if (!strcmp(name, "white_list") || !strcmp(name, "proxy_list"))
		*cur = &a->white;
	else if (!strcmp(name, "outbound_block_list"))
		*cur = &a->outbound;
	else {
		for (int i = 0; skipped[i]; i++)
			if (!strcmp(name, skipped[i])) {
				*cur = NULL;
				return 0;
			}
		return -EINVAL;
	}
	return 0;
}

/* One line, trimmed; 0 or -errno with *why set. */
static int line(struct acl *a, char *s, struct rule_set **cur, bool *in_skipped, const char **why)
{
	size_t n;
	int r;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = 0;
	if (!n || *s == '#')
		return 0;
	if (*s == '[' && s[n - 1] == ']') {
		s[n - 1] = 0;
		if (section(a, s + 1, cur)) {
			why_fmt(why, "unknown section [%.200s]", s + 1);
			return -EINVAL;
		}
		*in_skipped = !*cur;
		return 0;
	}
	if (*in_skipped)
		return 0;
	if ((r = rules_add(*cur, s)) == -EINVAL)
		why_fmt(why, "\"%.200s\" is not an address, CIDR, |name, ||suffix or regex", s);
	else if (r)
		why_fmt(why, "%s", strerror(-r));
	return r;
}

int acl_parse(struct acl **out, const char *text, size_t len, const char *name, const char **why)
{
	struct acl *a = calloc(1, sizeof(*a));
	struct rule_set *cur;
	bool skipped = false;
	const char *inner = "";
	char buf[1024];
	int lineno = 0, r = 0;

	if (!a)
		return -ENOMEM;
	/* Rules before any list header go to the first list, as in libev. */
	cur = &a->black;
	for (size_t at = 0; at < len && !r;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t l = (nl ? (size_t)(nl - text) : len) - at;

		lineno++;
		if (l >= sizeof(buf) || memchr(text + at, 0, l)) {
			inner = "line too long or not text";
			r = -EINVAL;
		} else {
			memcpy(buf, text + at, l);
			buf[l] = 0;
			r = line(a, buf, &cur, &skipped, &inner);
		}
		at += l + 1;
	}
	if (r) {
		why_fmt(why, "%s line %d: %s", name, lineno, inner);
		acl_free(a);
		return r;
	}
	*out = a;
	return 0;
}

static char *slurp(const char *path, size_t *len, int *r)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	*r = -errno;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || (size_t)n > ACL_MAX_FILE ||
	    fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)n + 1)) ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		*r = buf ? -EIO : -EFBIG;
		free(buf);
		buf = NULL;
	} else {
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

int acl_load(struct acl **out, const char *path, const char **why)
{
	size_t len = 0;
	int r;
	char *text = slurp(path, &len, &r);

	if (!text) {
		why_fmt(why, "cannot read ACL file %s: %s", path, strerror(-r));
		return r;
	}
	r = acl_parse(out, text, len, path, why);
	free(text);
	return r;
}

bool acl_is_libev_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[1024];
	bool libev = false;

	if (!f)
		return false;
	while (fgets(buf, sizeof(buf), f)) {
		char *s = buf + strspn(buf, " \t\r\n");

		if (!*s || *s == '#')
			continue;
		libev = *s == '[';
		break;
	}
	fclose(f);
	return libev;
}

void acl_free(struct acl *a)
{
	if (!a)
		return;
	rules_free(&a->black);
	rules_free(&a->white);
	rules_free(&a->outbound);
	free(a);
}

bool acl_client_refused(const struct acl *a, const struct sockaddr *sa)
{
	return a->reject_all ? !rules_match_addr(&a->white, sa) : rules_match_addr(&a->black, sa);
}

bool acl_outbound_blocked_host(const struct acl *a, const char *host)
{
	return rules_match_host(&a->outbound, host);
}

bool acl_outbound_blocked_addr(const struct acl *a, const struct sockaddr *sa)
{
	return rules_match_addr(&a->outbound, sa);
}

bool acl_bypass_host(const struct acl *a, const char *host)
{
	return a->reject_all ? !rules_match_host(&a->white, host) : rules_match_host(&a->black, host);
}

bool acl_bypass_addr(const struct acl *a, const struct sockaddr *sa)
{
	return a->reject_all ? !rules_match_addr(&a->white, sa) : rules_match_addr(&a->black, sa);
}

int acl_name_rule(const struct acl *a, const char *host)
{
	return rules_match_host(&a->black, host) ? 1 : rules_match_host(&a->white, host) ? -1 : 0;
}

bool acl_bypass_all(const struct acl *a)
{
	return a->reject_all;
}

void acl_each_prefix(const struct acl *a, bool proxy_list,
		     void (*cb)(void *arg, int family, const uint8_t *addr, unsigned len), void *arg)
{
	rules_each_prefix(proxy_list ? &a->white : &a->black, cb, arg);
}

void acl_stats(const struct acl *a, size_t *rules, size_t *bytes)
{
	*rules = a->black.rules + a->white.rules + a->outbound.rules;
	*bytes = sizeof(*a) + rules_bytes(&a->black) + rules_bytes(&a->white) +
		 rules_bytes(&a->outbound);
}
