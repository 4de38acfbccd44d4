/* SPDX-License-Identifier: MIT */
#ifndef SS_PLUGIN_H
#define SS_PLUGIN_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/*
 * A SIP003 plugin process. ssserver: the plugin listens on the public
 * address and port and forwards to ssserver's TCP listener on
 * 127.0.0.1:port. sslocal: sslocal connects to the plugin on
 * 127.0.0.1:port and the plugin to the server. UDP bypasses it.
 */
struct plugin {
	pid_t pid;
	int port; /* the loopback port between the daemon and the plugin */
};

/*
 * Starts cfg->plugin with SS_REMOTE_HOST/PORT, SS_LOCAL_HOST/PORT and
 * SS_PLUGIN_OPTIONS (on pl->port when set, else a free loopback port),
 * and waits until it listens (at most 5 s).
 * 0, or -errno with why set.
 */
int plugin_start(struct plugin *pl, const struct ss_config *cfg, const char **why);
/* Does a TCP socket listen on port (any address of this host)? */
bool plugin_port_listens(int port);
/* SIGTERM, then SIGKILL after a grace period; reaps it. */
void plugin_stop(struct plugin *pl);
/* One line on how the plugin ended (status as from waitpid). */
void plugin_log_exit(const struct ss_config *cfg, pid_t pid, int status);

#endif
