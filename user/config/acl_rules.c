// SPDX-License-Identifier: MIT
/* The lists of an ACL: a prefix trie per family, name sets and regexes. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "acl_rules.h"

#define HOST_MAX 256

static int trie_add(struct trie *t, const uint8_t *a, unsigned bits)
{
	uint32_t at = 0;

	if (!t->len) {
		if (!(t->n = calloc(64, sizeof(*t->n))))
			return -ENOMEM;
		t->cap = 64;
		t->len = 1;
	}
	for (unsigned i = 0; i < bits && !t->n[at].end; i++) {
		unsigned b = a[i / 8] >> (7 - i % 8) & 1;

		if (!t->n[at].child[b]) {
			if (t->len == t->cap) {
				struct trie_node *n = realloc(t->n, (size_t)t->cap * 2 * sizeof(*n));

				if (!n)
					return -ENOMEM;
				t->n = n;
				t->cap *= 2;
			}
			t->n[t->len] = (struct trie_node){ 0 };
			t->n[at].child[b] = t->len++;
		}
		at = t->n[at].child[b];
	}
	/* A shorter prefix already covers it, or it now covers what lies below. */
	t->n[at].end = 1;
	return 0;
}

static bool trie_match(const struct trie *t, const uint8_t *a, unsigned bits)
{
	uint32_t at = 0;

	if (!t->len)
		return false;
	for (unsigned i = 0;; i++) {
		if (t->n[at].end)
			return true;
		if (i == bits || !(at = t->n[at].child[a[i / 8] >> (7 - i % 8) & 1]))
			return false;
	}
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static bool set_has(const struct name_set *s, const char *name)
{
	if (!s->cap)
		return false;
	for (size_t i = hash(name) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (!strcmp(s->slot[i], name))
			return true;
	return false;
}

static int set_add(struct name_set *s, const char *name)
{
	if (set_has(s, name))
		return 0;
	if ((s->len + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **slot = calloc(cap, sizeof(*slot));

		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			size_t j;

			if (!s->slot[i])
				continue;
			for (j = hash(s->slot[i]) & (cap - 1); slot[j]; j = (j + 1) & (cap - 1))
				;
			slot[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = slot;
		s->cap = cap;
	}
	size_t i;
	char *copy = strdup(name);

	if (!copy)
		return -ENOMEM;
	for (i = hash(name) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		;
	s->slot[i] = copy;
	s->len++;
	return 0;
}

static void lower(char *dst, const char *src, size_t cap)
{
	size_t i = 0;

	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = 0;
}

/* "a.b" from libev's "(^|\.)a\.b$" (or exact from "^a\.b$"); 1 if it is one of those. */
static int plain_domain(const char *re, char *out, size_t cap, bool *suffix)
{
	size_t o = 0;
	const char *end = re + strlen(re);

	if (!strncmp(re, "(^|\\.)", 6))
		re += 6, *suffix = true;
	else if (*re == '^')
		re += 1, *suffix = false;
	else
		return 0;
	if (end <= re || end[-1] != '$')
		return 0;
	for (end--; re < end; re++) {
		if (re[0] == '\\' && re + 1 < end && re[1] == '.')
			re++;
		else if (!isalnum((unsigned char)*re) && *re != '-' && *re != '_')
			return 0;
		if (o + 1 >= cap)
			return 0;
		out[o++] = (char)tolower((unsigned char)*re);
	}
	out[o] = 0;
	return o > 0;
}

static int add_regex(struct rule_set *s, const char *line)
{
	regex_t *r;

	/* Adjacent repeats ("a++") are undefined in POSIX and make glibc's compiler blow up. */
	for (const char *p = line; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (strchr("*+?", *p) && p[1] && strchr("*+?", p[1]))
			return -EINVAL;
	}
	if (s->nregex == s->cap_regex) {
		size_t cap = s->cap_regex ? s->cap_regex * 2 : 16;

		if (!(r = realloc(s->regex, cap * sizeof(*r))))
			return -ENOMEM;
		s->regex = r;
		s->cap_regex = cap;
	}
	r = (regex_t *)s->regex + s->nregex;
	if (regcomp(r, line, REG_EXTENDED | REG_NOSUB | REG_ICASE))
		return -EINVAL;
	s->nregex++;
	return 0;
}

static int add_prefix(struct rule_set *s, const char *line)
{
	char buf[64];
	uint8_t a[16];
	const char *slash = strchr(line, '/');
	size_t alen = slash ? (size_t)(slash - line) : strlen(line);
	long bits;
	char *end;
	int fam;

	if (alen >= sizeof(buf))
		return 1;
	memcpy(buf, line, alen);
	buf[alen] = 0;
	if (inet_pton(AF_INET, buf, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		fam = AF_INET6;
	else
		return 1; /* not an address: a host rule */
	bits = fam == AF_INET ? 32 : 128;
	if (slash) {
		long max = bits;

		bits = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || bits < 0 || bits > max)
			return -EINVAL;
	}
	return trie_add(fam == AF_INET ? &s->v4 : &s->v6, a, (unsigned)bits);
}

int rules_add(struct rule_set *s, const char *line)
{
	char name[HOST_MAX];
	bool suffix = false;
	int r = add_prefix(s, line);

	if (r <= 0) {
		s->rules += !r;
		return r;
	}
	if (!strncmp(line, "||", 2) || (line[0] == '|' && line[1])) {
		suffix = line[1] == '|';
		lower(name, line + 1 + suffix, sizeof(name));
		r = name[0] ? set_add(suffix ? &s->suffix : &s->exact, name) : -EINVAL;
	} else if (plain_domain(line, name, sizeof(name), &suffix)) {
		r = set_add(suffix ? &s->suffix : &s->exact, name);
	} else {
		r = add_regex(s, line);
	}
	s->rules += !r;
	return r;
}

bool rules_match_addr(const struct rule_set *s, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return trie_match(&s->v4, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, 32);
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

	/* An IPv4-mapped address is judged as the IPv4 address it carries. */
	if (IN6_IS_ADDR_V4MAPPED(a))
		return trie_match(&s->v4, a->s6_addr + 12, 32);
	return trie_match(&s->v6, a->s6_addr, 128);
}

bool rules_match_host(const struct rule_set *s, const char *host)
{
	char name[HOST_MAX];
	const char *p;

	lower(name, host, sizeof(name));
	if (set_has(&s->exact, name))
		return true;
	/* Each suffix at a dot boundary: a.b.c, b.c, c. */
	for (p = name; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
		if (*p && set_has(&s->suffix, p))
			return true;
	for (size_t i = 0; i < s->nregex; i++)
		if (!regexec((const regex_t *)s->regex + i, name, 0, NULL, 0))
			return true;
	return false;
}

/* Depth first: a node where a prefix ends covers all below it. */
static void trie_each(const struct trie *t, int family,
		      void (*cb)(void *arg, int family, const uint8_t *addr, unsigned len), void *arg)
{
	struct { uint32_t node; unsigned depth; uint8_t bit; } stack[130];
	uint8_t addr[16] = { 0 };
	int top = 0;

	if (!t->len)
		return;
	stack[top++] = (typeof(stack[0])){ 0, 0, 0 };
	while (top) {
		uint32_t at = stack[--top].node;
		unsigned d = stack[top].depth;

		if (d) {
			/* The path to this node: the bit taken at depth d - 1 is what the parent pushed. */
			unsigned bit = d - 1;

			addr[bit / 8] = (uint8_t)(addr[bit / 8] & ~(0x80 >> (bit % 8)));
			addr[bit / 8] |= (uint8_t)(stack[top].bit << (7 - bit % 8));
		}
		if (t->n[at].end) {
			uint8_t out[16] = { 0 };

			memcpy(out, addr, (d + 7) / 8);
			if (d % 8)
				out[d / 8] &= (uint8_t)(0xff00 >> (d % 8));
			cb(arg, family, out, d);
			continue;
		}
		for (int b = 1; b >= 0; b--)
			if (t->n[at].child[b] && top < 130)
				stack[top++] = (typeof(stack[0])){ t->n[at].child[b], d + 1, (uint8_t)b };
	}
}

void rules_each_prefix(const struct rule_set *s,
		       void (*cb)(void *arg, int family, const uint8_t *addr, unsigned len), void *arg)
{
	trie_each(&s->v4, AF_INET, cb, arg);
	trie_each(&s->v6, AF_INET6, cb, arg);
}

size_t rules_bytes(const struct rule_set *s)
{
	size_t b = ((size_t)s->v4.cap + s->v6.cap) * sizeof(struct trie_node) +
		   (s->exact.cap + s->suffix.cap) * sizeof(char *) + s->cap_regex * sizeof(regex_t);

	for (size_t i = 0; i < s->exact.cap; i++)
		b += s->exact.slot[i] ? strlen(s->exact.slot[i]) + 1 : 0;
	for (size_t i = 0; i < s->suffix.cap; i++)
		b += s->suffix.slot[i] ? strlen(s->suffix.slot[i]) + 1 : 0;
	return b;
}

static void set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

void rules_free(struct rule_set *s)
{
	free(s->v4.n);
	free(s->v6.n);
	set_free(&s->exact);
	set_free(&s->suffix);
	for (size_t i = 0; i < s->nregex; i++)
		regfree((regex_t *)s->regex + i);
	free(s->regex);
	memset(s, 0, sizeof(*s));
}
