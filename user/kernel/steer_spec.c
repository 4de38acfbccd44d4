// SPDX-License-Identifier: MIT
/*
 * The steering spec of sslocal redir: destination prefixes, excluded
 * prefixes and ports, parsed from comma-separated lists. Pure: no I/O.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
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

static int parse_prefixes(const char *list, struct steer_prefix *out, int *n, const char *what,
			  const char **why)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	*n = 0;
	for (char *t = strtok_r(copy, ", ", &save); t && !r; t = strtok_r(NULL, ", ", &save)) {
		if (*n >= STEER_MAX) {
			why_fmt(why, "%s: more than %d prefixes", what, STEER_MAX);
			r = -EINVAL;
		} else if (steer_parse_prefix(t, &out[*n])) {
			why_fmt(why, "%s: \"%s\" is not an IPv4 or IPv6 prefix (a.b.c.d/n)",
				 what, t);
			r = -EINVAL;
		} else {
			(*n)++;
		}
	}
	free(copy);
	return r;
}

int steer_parse(struct steer_spec *s, const char *steer, const char *exclude, const char *ports,
		const char **why)
{
	char *copy, *save = NULL;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = parse_prefixes(steer, s->steer, &s->nsteer, "--steer", why)) ||
	    (r = parse_prefixes(exclude, s->exclude, &s->nexclude, "--exclude", why)))
		return r;
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
		    s->nports >= STEER_MAX) {
			why_fmt(why, "--steer-ports: \"%s\" is not a port or a range P-Q "
				 "(1-65535, at most %d items)", t, STEER_MAX);
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

/* true when p is a new exclusion. */
bool steer_add_exclude(struct steer_spec *s, const struct steer_prefix *p)
{
	for (int i = 0; i < s->nexclude; i++)
		if (!memcmp(&s->exclude[i], p, sizeof(*p)))
			return false;
	if (s->nexclude < STEER_MAX) {
		s->exclude[s->nexclude++] = *p;
		return true;
	}
	log_warn("steering: more than %d exclusions; not excluding one of this host's addresses",
		 STEER_MAX);
	return false;
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
