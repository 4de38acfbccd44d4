/* SPDX-License-Identifier: MIT */
#ifndef SS_CTL_CLIENT_H
#define SS_CTL_CLIENT_H

/*
 * ssctl's view of a daemon: conns, stats, top and kill through its control
 * socket (-s PATH, or the one socket in the default folder). Returns the exit
 * status; cmd is argv[optind], the rest its arguments.
 */
int ctl_client_run(const char *sock, int port, int argc, char **argv);

struct json;
/* One request and its JSON answer; NULL after one line on stderr. */
struct json *ctl_client_ask(const char *path, const char *req);
/*
 * ssctl upgrade (ctl_upgrade.c): asks the daemon at path to start its
 * successor, then follows it until it serves or failed; the exit status.
 */
int ctl_client_upgrade(const char *path, int argc, char **argv);
/* The same for the daemon whose main pid is pid, among n socket paths of size stride. */
int ctl_client_upgrade_pid(const char *paths, size_t stride, int n, int pid);

#endif
