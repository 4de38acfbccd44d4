/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_AUTH_H
#define SS_MANAGER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "acl_rules.h"

/*
 * Who may talk to ssmanager. A caller on this host is known by its user:
 * over the unix socket from the kernel's SCM_CREDENTIALS, over UDP from the
 * owner of the sending socket in /proc/net/udp{,6} (any local user can send
 * from 127.0.0.1, so the address alone proves nothing). Root, the user
 * ssmanager runs as and the users of --manager-allow may send every command;
 * the servers' --user may only report "stat:". A caller elsewhere is allowed
 * only when its address is in --manager-allow (ADDRESS[/LEN] entries).
 */
#define MGR_AUTH_UIDS 16

enum mgr_right { MGR_DENY, MGR_STAT_ONLY, MGR_FULL };

struct mgr_auth {
	uid_t uids[MGR_AUTH_UIDS]; /* full rights */
	int nuids;
	uid_t server_uid;          /* the servers' --user: stat only (or (uid_t)-1) */
	struct rule_set nets;      /* remote callers allowed by address */
};

/* A datagram's sender: its user when it is on this host, and its address. */
struct mgr_caller {
	bool local;                /* uid is known */
	uid_t uid;
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

/* allow: "user,uid,ADDR/LEN,..." (NULL: none); server_user: --user or NULL. 0 or -errno. */
int mgr_auth_init(struct mgr_auth *a, const char *allow, const char *server_user, const char **why);
void mgr_auth_free(struct mgr_auth *a);
/* Fills c from a received datagram (msg carries SCM_CREDENTIALS on a unix socket). */
void mgr_caller_of(struct mgr_caller *c, const struct msghdr *msg, socklen_t from_len);
enum mgr_right mgr_auth_check(const struct mgr_auth *a, const struct mgr_caller *c);
/* The same caller (user, or address for a remote one): it may see what it set. */
bool mgr_caller_same(const struct mgr_caller *a, const struct mgr_caller *b);
/* "uid 1000" or "10.0.0.2", for logs. */
const char *mgr_caller_str(const struct mgr_caller *c, char *buf, size_t len);

#endif
