/* SPDX-License-Identifier: MIT */
#ifndef SS_POLICY_H
#define SS_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * Which targets ssserver may connect to. By default loopback, private,
 * link-local, CGNAT, unique-local, unspecified and multicast ranges and the
 * server's own addresses are refused, so a client cannot reach what sits
 * behind the server. --allow-private lifts the defaults; an ACL file adds
 * "allow CIDR" exceptions and "deny CIDR" rules (first match wins, the file
 * before the defaults).
 */
struct policy_rule {
	int family;
	unsigned char addr[16];
	unsigned prefix;
	bool allow;
	const char *name; /* for the log line */
};

struct acl;

struct policy {
	struct acl *acl; /* an ACL file in libev's format, or NULL */
	struct policy_rule *rules;
	unsigned n, cap;
	char **names; /* owned strings of ACL rules */
	unsigned nnames;
};

/*
 * Builds the policy; acl may be NULL, a file of "allow/deny CIDR" lines, or
 * one in libev's format (acl.h). sslocal (local) takes only the ACL's
 * bypass lists. 0 or -errno with a message in *why.
 */
int policy_init(struct policy *p, bool local, bool allow_private, const char *acl, const char **why);
void policy_free(struct policy *p);
/* Adds one "allow CIDR" / "deny CIDR" line; used for ACL files and tests. */
int policy_add_line(struct policy *p, const char *line, const char **why);
/* NULL if sa may be reached, else the name of the rule that refuses it. */
const char *policy_refuses(const struct policy *p, const struct sockaddr *sa);
/* ssserver: is a target name on the ACL's outbound block list (checked before DNS)? */
bool policy_refuses_host(const struct policy *p, const char *host);
/* ssserver: is this client refused by the ACL's black or white list? */
bool policy_refuses_client(const struct policy *p, const struct sockaddr *sa);
/* sslocal: does the ACL send this target directly rather than through the server? */
bool policy_bypass(const struct policy *p, const char *host, const struct sockaddr *sa);
/* sslocal: a name's route from the ACL's name rules alone: 1 bypass, -1 proxy, 0 its address decides. */
int policy_name_route(const struct policy *p, const char *host);
/* One line saying what the ACL holds ("" without one). */
void policy_describe_acl(const struct policy *p, char *out, size_t len);

#endif
