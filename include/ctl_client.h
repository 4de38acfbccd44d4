/* SPDX-License-Identifier: MIT */
#ifndef SS_CTL_CLIENT_H
#define SS_CTL_CLIENT_H

/*
 * ssctl's view of a daemon: conns, stats, top and kill through its control
 * socket (-s PATH, or the one socket in the default folder). Returns the exit
 * status; cmd is argv[optind], the rest its arguments.
 */
int ctl_client_run(const char *sock, int port, int argc, char **argv);

#endif
