// SPDX-License-Identifier: MIT
/* Target policy of ssserver: CIDR rules, default-deny for internal ranges. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "acl.h"
#include "policy.h"

/* RFC 6890 special-purpose ranges a public relay must not reach by default. */
static const struct {
	const char *cidr, *name;
} defaults[] = {
	{ "127.0.0.0/8", "loopback (127.0.0.0/8)" },
	{ "10.0.0.0/8", "private (10.0.0.0/8)" },
	{ "172.16.0.0/12", "private (172.16.0.0/12)" },
	{ "192.168.0.0/16", "private (192.168.0.0/16)" },
	{ "169.254.0.0/16", "link-local (169.254.0.0/16)" },
	{ "100.64.0.0/10", "CGNAT (100.64.0.0/10)" },
	{ "0.0.0.0/8", "unspecified (0.0.0.0/8)" },
	{ "224.0.0.0/4", "multicast (224.0.0.0/4)" },
	{ "255.255.255.255/32", "broadcast" },
	{ "::1/128", "loopback (::1)" },
	{ "::/128", "unspecified (::)" },
	{ "fc00::/7", "unique-local (fc00::/7)" },
	{ "fe80::/10", "link-local (fe80::/10)" },
	{ "ff00::/8", "multicast (ff00::/8)" },
	{ "fec0::/10", "site-local (fec0::/10)" },
	{ "64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)" },
};

static int add_rule(struct policy *p, const char *cidr, bool allow, const char *name)
{
	struct policy_rule r = { .allow = allow, .name = name };
	char buf[64];
	const char *slash = strchr(cidr, '/');
	size_t alen = slash ? (size_t)(slash - cidr) : strlen(cidr);
	long prefix;

	if (alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, cidr, alen);
	buf[alen] = 0;
	if (inet_pton(AF_INET, buf, r.addr) == 1)
		r.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, r.addr) == 1)
		r.family = AF_INET6;
	else
		return -EINVAL;
	prefix = r.family == AF_INET ? 32 : 128;
	if (slash) {
		char *end;

		prefix = strtol(slash + 1, &end, 10);
		if (*end || slash[1] == 0 || prefix < 0 || prefix > (r.family == AF_INET ? 32 : 128))
			return -EINVAL;
	}
	r.prefix = (unsigned)prefix;
	if (p->n == p->cap) {
		unsigned cap = p->cap ? p->cap * 2 : 32;
		struct policy_rule *n = realloc(p->rules, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->rules = n;
		p->cap = cap;
	}
	p->rules[p->n++] = r;
	return 0;
}

int policy_add_line(struct policy *p, const char *line, const char **why)
{
	char verb[16], cidr[64], *name;
	bool allow;
	int r;

	if (sscanf(line, "%15s %63s", verb, cidr) != 2 ||
	    (strcmp(verb, "allow") && strcmp(verb, "deny"))) {
		why_fmt(why, "expected \"allow CIDR\" or \"deny CIDR\", got \"%s\"", line);
		return -EINVAL;
	}
	allow = !strcmp(verb, "allow");
	char **names = realloc(p->names, (p->nnames + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	p->names = names;
	if (!(name = malloc(strlen(cidr) + 16)))
		return -ENOMEM;
	sprintf(name, "ACL %s %s", allow ? "allow" : "deny", cidr);
	if ((r = add_rule(p, cidr, allow, name))) {
		free(name);
		why_fmt(why, "\"%s\" is not an address or CIDR", cidr);
		return r;
	}
	p->names[p->nnames++] = name;
	return 0;
}

static int load_acl(struct policy *p, const char *path, const char **why)
{
	FILE *f = fopen(path, "r");
	const char *inner = "";
	char line[256];
	int lineno = 0, r = 0;

	if (!f) {
		r = -errno;
		why_fmt(why, "cannot open ACL file %s: %s", path, strerror(-r));
		return r;
	}
	while (!r && fgets(line, sizeof(line), f)) {
		char *s = line;

		lineno++;
		line[strcspn(line, "#\r\n")] = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			continue;
		if ((r = policy_add_line(p, s, &inner)))
			why_fmt(why, "%s line %d: %s", path, lineno, inner);
	}
	fclose(f);
	return r;
}

/* The server's own addresses: reaching them would loop back into this host. */
static int add_own_addresses(struct policy *p)
{
	struct ifaddrs *ifa, *i;
	char buf[INET6_ADDRSTRLEN];

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		const void *a = i->ifa_addr->sa_family == AF_INET ?
					(const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr :
					(const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		inet_ntop(i->ifa_addr->sa_family, a, buf, sizeof(buf));
		if (add_rule(p, buf, false, "the server's own address")) {
			freeifaddrs(ifa);
			return -ENOMEM;
		}
	}
	freeifaddrs(ifa);
	return 0;
}

int policy_init(struct policy *p, bool local, bool allow_private, const char *acl, const char **why)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (acl && acl_is_libev_file(acl))
		r = acl_load(&p->acl, acl, why);
	else if (acl && local) {
		why_fmt(why, "ACL file %s: sslocal takes libev's format ([bypass_list], "
			 "[proxy_list], ...)", acl);
		r = -EINVAL;
	} else
		r = acl ? load_acl(p, acl, why) : 0;
	if (r || allow_private || local)
		return r;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if ((r = add_rule(p, defaults[i].cidr, false, defaults[i].name)))
			return r;
	return add_own_addresses(p);
}

void policy_free(struct policy *p)
{
	acl_free(p->acl);
	for (unsigned i = 0; i < p->nnames; i++)
		free(p->names[i]);
	free(p->names);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

static bool in_prefix(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full))
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

/* The first rule that matches, or NULL. */
static const struct policy_rule *match(const struct policy *p, int family, const uint8_t *a)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->rules[i].family == family && in_prefix(a, p->rules[i].addr, p->rules[i].prefix))
			return &p->rules[i];
	return NULL;
}

/*
 * The IPv4 addresses an IPv6 address leads to: IPv4-compatible ::/96 and
 * -translated ::ffff:0:0:0/96 (RFC 4291, 2765), NAT64 64:ff9b::/96
 * (RFC 6052), 6to4 2002::/16 (RFC 3056), and Teredo 2001::/32, its server
 * and its client, whose address is stored inverted (RFC 4380).
 */
static int embedded_v4(const uint8_t *a, uint8_t v4[2][4])
{
	static const uint8_t zero[12], translated[12] = { [8] = 0xff, [9] = 0xff },
			     nat64[12] = { 0, 0x64, 0xff, 0x9b };

	if (!memcmp(a, zero, 12) || !memcmp(a, translated, 12) || !memcmp(a, nat64, 12)) {
		memcpy(v4[0], a + 12, 4);
		return 1;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		memcpy(v4[0], a + 2, 4);
		return 1;
	}
	if (a[0] == 0x20 && a[1] == 0x01 && !a[2] && !a[3]) {
		memcpy(v4[0], a + 4, 4);
		for (int i = 0; i < 4; i++)
			v4[1][i] = (uint8_t)~a[12 + i];
		return 2;
	}
	return 0;
}

const char *policy_refuses(const struct policy *p, const struct sockaddr *sa)
{
	const struct policy_rule *r;
	uint8_t a[16], v4[2][4];
	int family = sa->sa_family, n;

	if (family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (family == AF_INET6) {
		const struct in6_addr *v6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		/* An IPv4-mapped address is judged as the IPv4 address it carries. */
		if (IN6_IS_ADDR_V4MAPPED(v6)) {
			memcpy(a, &v6->s6_addr[12], 4);
			family = AF_INET;
		} else {
			memcpy(a, v6, 16);
		}
	} else {
		return "not an IP address";
	}
	if ((r = match(p, family, a)))
		return r->allow ? NULL : r->name;
	/* An address that reaches an IPv4 address through a translator is judged as that too. */
	n = family == AF_INET6 ? embedded_v4(a, v4) : 0;
	for (int i = 0; i < n; i++)
		if ((r = match(p, AF_INET, v4[i])) && !r->allow)
			return "an IPv6 address that embeds a refused IPv4 address (compatible, "
			       "translated, NAT64, 6to4 or Teredo)";
	return p->acl && acl_outbound_blocked_addr(p->acl, sa) ? "ACL [outbound_block_list]" : NULL;
}

bool policy_refuses_host(const struct policy *p, const char *host)
{
	return p->acl && acl_outbound_blocked_host(p->acl, host);
}

bool policy_refuses_client(const struct policy *p, const struct sockaddr *sa)
{
	return p->acl && acl_client_refused(p->acl, sa);
}

bool policy_bypass(const struct policy *p, const char *host, const struct sockaddr *sa)
{
	if (!p->acl)
		return false;
	return host ? acl_bypass_host(p->acl, host) : acl_bypass_addr(p->acl, sa);
}

int policy_name_route(const struct policy *p, const char *host)
{
	return p->acl ? acl_name_rule(p->acl, host) : -1;
}

void policy_describe_acl(const struct policy *p, char *out, size_t len)
{
	size_t rules = 0, bytes = 0;

	out[0] = 0;
	if (p->acl) {
		acl_stats(p->acl, &rules, &bytes);
		snprintf(out, len, "; ACL (libev format): %zu rules in %zu KiB", rules, bytes / 1024);
	} else if (p->nnames) {
		snprintf(out, len, "; ACL: %u allow/deny lines", p->nnames);
	}
}
