/* SPDX-License-Identifier: MIT */
#ifndef SS_PRIVS_H
#define SS_PRIVS_H

#include <stdbool.h>

/*
 * Becomes user (its uid and gid, no supplementary groups). PRIVS_KEEP_TREE:
 * the process keeps its capabilities under the new uid (the supervisor,
 * which restarts workers that bind ports and load BPF); PRIVS_KEEP_BIND:
 * only CAP_NET_BIND_SERVICE (an ssserver worker whose UDP ports below 1024
 * answer from sockets made on demand); PRIVS_KEEP_NONE: every capability
 * goes. The parent-death signal survives the change. 0, or -errno with why set.
 */
enum privs_keep { PRIVS_KEEP_NONE, PRIVS_KEEP_TREE, PRIVS_KEEP_BIND };
int privs_drop(const char *user, enum privs_keep keep_caps, const char **why);

#endif
