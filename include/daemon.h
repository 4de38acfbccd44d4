/* SPDX-License-Identifier: MIT */
#ifndef SS_DAEMON_H
#define SS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Life as a service: -f PIDFILE (background, pid file), the log's
 * destination, and systemd's readiness notification.
 */

/*
 * Refuses a pid file that names a live process (why says which), replaces
 * a stale one, forks into the background (setsid, chdir /, stdin and stdout
 * to /dev/null) and writes the daemon's pid. The shell's process stays until
 * daemon_notify_ready, copying the daemon's stderr (unless keep_stderr: the
 * log file) to the terminal, and exits 1 if the daemon dies before it is
 * ready. Returns in the daemon only; 0 or -errno.
 */
int daemon_start(const char *pid_file, bool keep_stderr, const char **why);
/* Removes the pid file if it still names this process. */
void daemon_remove_pid(const char *pid_file);
/* The main pid that READY=1 names (the supervisor), recorded before workers fork. */
void daemon_set_main_pid(void);
/* Is this the main process (not a worker of a tree)? */
bool daemon_is_main(void);
/*
 * Tells systemd (Type=notify, $NOTIFY_SOCKET) and -f's waiting shell that the
 * daemon is ready; a successor of an upgrade tells the process it replaces.
 */
void daemon_notify_ready(void);
/* One notify datagram (sd_notify(3)'s form) to a path or '@'abstract name; 0 or -errno. */
int daemon_notify(const char *path, const char *msg);
/*
 * Started by an upgrade (SSBPF_UPGRADE_FROM)? Takes the environment it set,
 * puts systemd's NOTIFY_SOCKET back; the predecessor's pid, or 0.
 */
pid_t daemon_take_upgrade(void);
pid_t daemon_upgraded_from(void);
/*
 * A server ssmanager runs dies with it (its parent-death signal, set at
 * exec). A successor of one is its predecessor's child, and a fork clears
 * that signal: the main process's tick calls this, which sets the signal
 * again once the manager (the subreaper) is the parent, or stops the process
 * when the manager is gone already.
 */
void daemon_follow_manager(void);
/* A successor's start-up error, for the predecessor to report (STATUS=). */
void daemon_upgrade_status(const char *line);

#endif
