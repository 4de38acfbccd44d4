/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_SHARED_H
#define SS_MANAGER_SHARED_H

#include <stdbool.h>
#include <sys/types.h>

#include "manager_cmd.h"

struct ss_config;

/*
 * ssmanager with BPF: the added ports that need no process of their own (no
 * plugin, the manager's mode) are served by one ssserver tree, started with
 * --bpf-ports on a file listing them all; an add or remove rewrites the file
 * and the tree reloads it (SIGHUP), which changes one entry of its port map.
 */
struct mgr_shared {
	pid_t pid;      /* the tree, or -1 */
	char conf[300]; /* its file, DIR/shared-ADDRESS.json */
};

/* Does the shared tree serve port (a connection to the first server address is taken)? */
bool mgr_shared_serves(const struct ss_config *cfg, int port);
/* Can c's port be served by the shared tree? */
bool mgr_shared_fits(const struct ss_config *cfg, const struct mgr_cmd *c);
/*
 * The tree serves exactly the n ports of cmds: the file is rewritten, then
 * the tree started (none runs) or told to reload; with n 0 it stops. 0 or -errno.
 */
int mgr_shared_apply(struct mgr_shared *s, const char *exe, const char *dir,
		     const struct ss_config *cfg, const struct mgr_cmd *const *cmds, int n);
void mgr_shared_stop(struct mgr_shared *s);

#endif
