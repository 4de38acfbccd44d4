// SPDX-License-Identifier: MIT
/* Who may talk to ssmanager (manager_auth.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "addr.h"
#include "config.h"
#include "manager_auth.h"

#define OWNERS_MAX 8

static int add_uid(struct mgr_auth *a, uid_t uid)
{
	for (int i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return 0;
	if (a->nuids == MGR_AUTH_UIDS)
		return -E2BIG;
	a->uids[a->nuids++] = uid;
	return 0;
}

/* A user name or a numeric uid; 0 or -ENOENT. */
static int uid_of(const char *name, uid_t *uid)
{
	struct passwd *pw = getpwnam(name);
	char *end;
	unsigned long n;

	if (pw) {
		*uid = pw->pw_uid;
		return 0;
	}
	n = strtoul(name, &end, 10);
	if (!*name || *end || n >= (uid_t)-1)
		return -ENOENT;
	*uid = (uid_t)n;
	return 0;
}

static bool is_address(const char *s)
{
	char buf[64];
	uint8_t raw[16];
	size_t n = strcspn(s, "/");

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	return inet_pton(AF_INET, buf, raw) == 1 || inet_pton(AF_INET6, buf, raw) == 1;
}

int mgr_auth_init(struct mgr_auth *a, const char *allow, const char *server_user, const char **why)
{
	char *list = strdup(allow ? allow : ""), *save = NULL, *tok;
	uid_t uid;
	int r = 0;

	memset(a, 0, sizeof(*a));
	a->server_uid = (uid_t)-1;
	if (!list)
		return -ENOMEM;
	add_uid(a, 0);
	add_uid(a, geteuid());
	if (server_user && !uid_of(server_user, &uid))
		a->server_uid = uid;
	for (tok = strtok_r(list, ", ", &save); tok && !r; tok = strtok_r(NULL, ", ", &save)) {
		if (is_address(tok))
			r = rules_add(&a->nets, tok) ? why_fmt(why, "manager_allow: \"%s\" is not an address or prefix", tok) : 0;
		else if (uid_of(tok, &uid))
			r = why_fmt(why, "manager_allow: no user \"%s\"", tok);
		else if (add_uid(a, uid))
			r = why_fmt(why, "manager_allow: more than %d users", MGR_AUTH_UIDS);
	}
	free(list);
	if (r)
		mgr_auth_free(a);
	return r;
}

void mgr_auth_free(struct mgr_auth *a)
{
	rules_free(&a->nets);
	memset(a, 0, sizeof(*a));
}

/* One /proc/net/udp{,6} line's local address, port and uid; false if it is not a socket line. */
static bool parse_line(const char *line, bool v6, uint32_t addr[4], unsigned *port, uid_t *uid)
{
	unsigned u;
	int n = v6 ? sscanf(line, " %*u: %8x%8x%8x%8x:%x %*s %*s %*s %*s %*s %u", &addr[0], &addr[1],
			    &addr[2], &addr[3], port, &u) :
		     sscanf(line, " %*u: %8x:%x %*s %*s %*s %*s %*s %u", &addr[0], port, &u);

	if (n != (v6 ? 6 : 3))
		return false;
	*uid = (uid_t)u;
	return true;
}

/* The owners of the local UDP sockets that could have sent from ip:port (wildcards too). */
static int udp_owners(const char *path, bool v6, const uint32_t ip[4], unsigned port,
		      uid_t *owners, int n)
{
	FILE *f = fopen(path, "re");
	char line[512];
	uint32_t a[4];
	unsigned p;
	uid_t uid;

	if (!f)
		return n;
	while (fgets(line, sizeof(line), f) && n < OWNERS_MAX) {
		memset(a, 0, sizeof(a));
		if (!parse_line(line, v6, a, &p, &uid) || p != port)
			continue;
		bool any = !a[0] && !a[1] && !a[2] && !a[3];

		if (any || !memcmp(a, ip, (v6 ? 4 : 1) * sizeof(uint32_t)))
			owners[n++] = uid;
	}
	fclose(f);
	return n;
}

/* Every local socket that may have sent the datagram, with its owner; 0: none (not local). */
static int local_owners(const struct sockaddr_storage *from, uid_t *owners)
{
	struct sockaddr_in6 v6;
	uint32_t ip[4] = { 0 };
	unsigned port = ss_sa_port(from);
	int n = 0;

	if (from->ss_family == AF_INET) {
		ip[0] = ((const struct sockaddr_in *)from)->sin_addr.s_addr;
		n = udp_owners("/proc/net/udp", false, ip, port, owners, n);
	}
	if (from->ss_family != AF_INET && from->ss_family != AF_INET6)
		return 0;
	/* A dual-stack socket sends IPv4 as a mapped IPv6 address. */
	ss_sa_to_v6(from, &v6);
	memcpy(ip, &v6.sin6_addr, sizeof(ip));
	n = udp_owners("/proc/net/udp6", true, ip, port, owners, n);
	if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr) && from->ss_family == AF_INET6) {
		memset(ip, 0, sizeof(ip));
		ip[0] = v6.sin6_addr.s6_addr32[3];
		n = udp_owners("/proc/net/udp", false, ip, port, owners, n);
	}
	return n;
}

void mgr_caller_of(struct mgr_caller *c, const struct msghdr *msg, socklen_t from_len)
{
	const struct sockaddr_storage *from = msg->msg_name;
	uid_t owners[OWNERS_MAX];
	int n;

	memset(c, 0, sizeof(*c));
	c->addr = *from;
	c->addr_len = from_len;
	if (from->ss_family == AF_UNIX || from_len <= sizeof(sa_family_t)) {
		for (struct cmsghdr *cm = CMSG_FIRSTHDR((struct msghdr *)msg); cm;
		     cm = CMSG_NXTHDR((struct msghdr *)msg, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
				struct ucred uc;

				memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
				c->local = true;
				c->uid = uc.uid;
			}
		return;
	}
	/* Sockets of different users could have sent it: trust none of them. */
	n = local_owners(from, owners);
	c->local = n > 0;
	c->uid = n > 0 ? owners[0] : (uid_t)-1;
	for (int i = 1; i < n; i++)
		if (owners[i] != owners[0])
			c->uid = (uid_t)-2;
}

static bool uid_full(const struct mgr_auth *a, uid_t uid)
{
	for (int i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return true;
	return false;
}

enum mgr_right mgr_auth_check(const struct mgr_auth *a, const struct mgr_caller *c)
{
	if (c->addr.ss_family != AF_UNIX && c->addr_len > sizeof(sa_family_t) &&
	    rules_match_addr(&a->nets, (const struct sockaddr *)&c->addr))
		return MGR_FULL;
	if (!c->local)
		return MGR_DENY;
	if (uid_full(a, c->uid))
		return MGR_FULL;
	return c->uid == a->server_uid ? MGR_STAT_ONLY : MGR_DENY;
}

bool mgr_caller_same(const struct mgr_caller *a, const struct mgr_caller *b)
{
	if (a->local || b->local)
		return a->local && b->local && a->uid == b->uid;
	return ss_sa_same_ip(&a->addr, &b->addr);
}

const char *mgr_caller_str(const struct mgr_caller *c, char *buf, size_t len)
{
	char s[80];

	if (c->local)
		snprintf(buf, len, "uid %u", (unsigned)c->uid);
	else
		snprintf(buf, len, "%s", ss_sa_str(&c->addr, s, sizeof(s)));
	return buf;
}
