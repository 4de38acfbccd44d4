// SPDX-License-Identifier: MIT
/*
 * Prefix lists of any length for sslocal redir's steering: one prefix
 * parsed, a list grown, sorted and stripped of covered prefixes (so the
 * prefixes left are disjoint), and looked up by binary search. Pure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steer.h"

int steer_parse_prefix(const char *s, struct steer_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long len;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	len = max;
	if (slash) {
		len = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || len < 0 || len > max)
			return -EINVAL;
	}
	p->len = (uint8_t)len;
	/* Host bits are cleared, as the kernel and nft would. */
	for (int bit = (int)len; bit < max; bit++)
		p->addr[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	return 0;
}

int steer_list_add(struct steer_list *l, const struct steer_prefix *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct steer_prefix *n;

		if (l->n >= STEER_LIST_MAX || !(n = realloc(l->p, cap * sizeof(*n))))
			return -ENOMEM;
		l->p = n;
		l->cap = cap;
	}
	l->p[l->n++] = *p;
	return 0;
}

/* Family, then address, then the shorter prefix first (it covers the longer). */
static int cmp(const void *x, const void *y)
{
	const struct steer_prefix *a = x, *b = y;
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if ((r = memcmp(a->addr, b->addr, 16)))
		return r;
	return (int)a->len - (int)b->len;
}

bool steer_prefix_contains(const struct steer_prefix *a, const struct steer_prefix *b)
{
	unsigned full = a->len / 8, rest = a->len % 8;

	if (a->family != b->family || a->len > b->len || memcmp(a->addr, b->addr, full))
		return false;
	return !rest || !((a->addr[full] ^ b->addr[full]) & (uint8_t)(0xff00 >> rest));
}

void steer_list_normalize(struct steer_list *l)
{
	size_t kept = 0;

	if (!l->n)
		return;
	qsort(l->p, l->n, sizeof(*l->p), cmp);
	/*
	 * In this order a prefix that covers others comes before them, and the
	 * prefixes kept are disjoint: only the last one kept can cover the next.
	 */
	for (size_t i = 0; i < l->n; i++)
		if (!kept || !steer_prefix_contains(&l->p[kept - 1], &l->p[i]))
			l->p[kept++] = l->p[i];
	l->n = kept;
}

/* The index of the last prefix that sorts at or before p, or -1. */
static long last_at_or_before(const struct steer_list *l, const struct steer_prefix *p)
{
	long lo = 0, hi = (long)l->n - 1, found = -1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;

		if (cmp(&l->p[mid], p) <= 0) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

bool steer_list_covers(const struct steer_list *l, const struct steer_prefix *p)
{
	long i = last_at_or_before(l, p);

	/* Disjoint prefixes: the one that starts last at or before p is the only candidate. */
	return i >= 0 && steer_prefix_contains(&l->p[i], p);
}

bool steer_list_has(const struct steer_list *l, const struct steer_prefix *p)
{
	long i = last_at_or_before(l, p);

	return i >= 0 && !cmp(&l->p[i], p);
}

bool steer_add_exclude(struct steer_spec *s, const struct steer_prefix *p)
{
	if (steer_list_covers(&s->exclude, p) || steer_list_add(&s->exclude, p))
		return false;
	steer_list_normalize(&s->exclude);
	return true;
}

/* The host prefix of sa in p; false for another family. */
bool steer_host_prefix(const struct sockaddr *sa, struct steer_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (sa->sa_family == AF_INET) {
		p->family = AF_INET;
		p->len = 32;
		memcpy(p->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			p->family = AF_INET;
			p->len = 32;
			memcpy(p->addr, a->s6_addr + 12, 4);
		} else {
			p->family = AF_INET6;
			p->len = 128;
			memcpy(p->addr, a, 16);
		}
	} else {
		return false;
	}
	return true;
}

void steer_exclude_addr(struct steer_spec *s, const struct sockaddr *sa)
{
	struct steer_prefix p;

	if (steer_host_prefix(sa, &p))
		steer_add_exclude(s, &p);
}

const char *steer_prefix_str(const struct steer_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

void steer_spec_free(struct steer_spec *s)
{
	free(s->steer.p);
	free(s->exclude.p);
	s->steer = s->exclude = (struct steer_list){ 0 };
}

int steer_list_each_new(const struct steer_list *from, const struct steer_list *minus,
			int (*cb)(void *arg, const struct steer_prefix *p), void *arg)
{
	int r;

	for (size_t i = 0; i < from->n; i++)
		if (!steer_list_has(minus, &from->p[i]) && (r = cb(arg, &from->p[i])))
			return r;
	return 0;
}

int steer_effective(const struct steer_spec *s, struct steer_list *out)
{
	int r;

	*out = (struct steer_list){ 0 };
	for (size_t i = 0; i < s->steer.n; i++)
		if (!steer_list_covers(&s->exclude, &s->steer.p[i]) &&
		    (r = steer_list_add(out, &s->steer.p[i])))
			return r;
	return 0;
}
