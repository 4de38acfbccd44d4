/* SPDX-License-Identifier: MIT */
#ifndef SS_DAEMON_H
#define SS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Life as a service: -f PIDFILE (background, pid file), the log's
 * destination, and systemd's readiness notification.
 */

/*
 * Refuses a pid file that names a live process (why says which), replaces
 * a stale one, forks into the background (setsid, chdir /, stdin and stdout
 * to /dev/null, stderr too unless keep_stderr: the log file) and writes the
 * daemon's pid. Returns in the daemon only; 0 or -errno.
 */
int daemon_start(const char *pid_file, bool keep_stderr, char *why, size_t why_len);
/* Removes the pid file if it still names this process. */
void daemon_remove_pid(const char *pid_file);
/* The main pid that READY=1 names (the supervisor), recorded before workers fork. */
void daemon_set_main_pid(void);
/* Is this the main process (not a worker of a tree)? */
bool daemon_is_main(void);
/* Tells systemd (Type=notify, $NOTIFY_SOCKET) that the daemon is ready; no-op without it. */
void daemon_notify_ready(void);

#endif
