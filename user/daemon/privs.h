/* SPDX-License-Identifier: MIT */
#ifndef SS_PRIVS_H
#define SS_PRIVS_H

#include <stdbool.h>

/*
 * Becomes user (its uid and gid, no supplementary groups). keep_caps: the
 * process keeps its capabilities under the new uid (the supervisor, which
 * restarts workers that bind ports and load BPF); otherwise every
 * capability goes. The parent-death signal survives the change. 0, or
 * -errno with why set.
 */
int privs_drop(const char *user, bool keep_caps, const char **why);

#endif
