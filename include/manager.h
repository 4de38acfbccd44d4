/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_H
#define SS_MANAGER_H

/*
 * ssmanager: listens for the manager protocol (manager_cmd.h) on UDP
 * HOST:PORT or a unix datagram socket, runs one ssserver process per port
 * it is told to add (and per port of its config file), collects their
 * "stat:" reports, and answers "ping" with every port's bytes. Returns the
 * exit status.
 */
int manager_main(int argc, char **argv);

#endif
