/* SPDX-License-Identifier: MIT */
#ifndef SS_ACL_H
#define SS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Access control lists in shadowsocks-libev's format (shadowsocks-rust's
 * "|exact" and "||suffix" rules too):
 *
 *   [accept_all] | [reject_all]     the default (alias [proxy_all] | [bypass_all])
 *   [black_list] | [bypass_list]    one list
 *   [white_list] | [proxy_list]     the other
 *   [outbound_block_list]           ssserver: targets never dialled
 *
 * A line is an IP address or CIDR (kept in a binary trie per family: a
 * lookup walks at most the prefix length), "||suffix", "|exact", or a
 * regular expression over the host name (libev's "(^|\.)x\.com$" form is
 * turned into a suffix rule; others are POSIX extended expressions).
 *
 * ssserver, as libev: the lists judge the client's address; under
 * [accept_all] a client on the black list is refused, under [reject_all]
 * only clients on the white list are served. sslocal: under [proxy_all] a
 * target on the bypass list is reached directly, under [bypass_all] only
 * targets on the proxy list go through the server.
 */
struct acl;

/* Does the file use this format (its first rule line is a [section])? */
bool acl_is_libev_file(const char *path);
/* Loads path; 0, or -errno with "path line N: ..." in *why. */
int acl_load(struct acl **out, const char *path, const char **why);
/* Loads from memory (tests, fuzzing); name is used in errors. */
int acl_parse(struct acl **out, const char *text, size_t len, const char *name, const char **why);
void acl_free(struct acl *a);

/* ssserver: is this client refused? */
bool acl_client_refused(const struct acl *a, const struct sockaddr *sa);
/* ssserver: is this target on the outbound block list (a name before DNS, or an address)? */
bool acl_outbound_blocked_host(const struct acl *a, const char *host);
bool acl_outbound_blocked_addr(const struct acl *a, const struct sockaddr *sa);
/* sslocal: is this target reached directly rather than through the server? */
bool acl_bypass_host(const struct acl *a, const char *host);
bool acl_bypass_addr(const struct acl *a, const struct sockaddr *sa);
/*
 * sslocal, a name as libev's ss-local weighs it: 1 when a rule of the
 * bypass list names it, -1 when one of the proxy list does (in either
 * section order), 0 when none does: then its address decides
 * (acl_bypass_addr), and a name that does not resolve goes to the server.
 */
int acl_name_rule(const struct acl *a, const char *host);
/*
 * sslocal redir's steering: is the default [bypass_all]? And each address
 * prefix of the proxy list (proxy_list true) or of the bypass list, as
 * family, address bytes (4 or 16) and length; a prefix that another of the
 * same list covers may be skipped.
 */
bool acl_bypass_all(const struct acl *a);
void acl_each_prefix(const struct acl *a, bool proxy_list,
		     void (*cb)(void *arg, int family, const uint8_t *addr, unsigned len), void *arg);
/* Rules loaded and bytes held, for the start-up log line. */
void acl_stats(const struct acl *a, size_t *rules, size_t *bytes);

#endif
