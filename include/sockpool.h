/* SPDX-License-Identifier: MIT */
#ifndef SS_SOCKPOOL_H
#define SS_SOCKPOOL_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * The bound listening sockets a process holds for a hand-over: those it
 * inherited at start (LISTEN_FDS, from systemd socket activation or from
 * the process it replaces) and every one its workers bound since. The
 * process that upgrades passes them all to its successor, named for the
 * worker that used them ("w3"), so no socket is ever closed and no
 * connection waiting in an accept queue is lost.
 *
 * Owners: a worker index, SOCKPOOL_SHARED (an activated socket: every
 * worker accepts on TCP, worker 0 reads UDP) or SOCKPOOL_METRICS.
 */
#define SOCKPOOL_SHARED (-1)
#define SOCKPOOL_METRICS (-2)
#define SOCKPOOL_MAX (1 << 20) /* the open file limit comes first */
#define SOCKPOOL_SPARE 256     /* descriptors a holder keeps free for everything else */

/*
 * Takes LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (sd_listen_fds(3)) into the
 * pool, unsets them, and spreads the worker sockets over nworkers; how many
 * were taken (0 without them), or -errno with *why set.
 */
int sockpool_inherit(int nworkers, const char **why);
/* How many sockets the pool holds. */
int sockpool_count(void);
/*
 * A held socket of this type and address for the worker (or owner), as a
 * new descriptor the caller owns; -1 when none is left for it. Call until
 * -1: a worker may be given several (a predecessor had more workers).
 */
int sockpool_take(int worker, int type, const struct sockaddr_storage *sa);
/* Is the address held at all (by any owner)? A worker then binds no socket of its own. */
bool sockpool_covers(int type, const struct sockaddr_storage *sa);
/*
 * A socket the worker bound itself: held by the pool (a lone process), or
 * sent to the parent over the channel set by sockpool_channel. any_port: an
 * sk_lookup socket (asked for port 0; sockpool_take of port 0 finds it by
 * its address alone).
 */
void sockpool_report(int worker, int fd, bool any_port);
/*
 * A tree's worker: reports go to fd; the copies of the parent's pool it
 * cannot take are closed now, those it takes become its listeners' (no
 * copy), and sockpool_drop_copies closes the rest once it is set up.
 */
void sockpool_channel(int fd, int worker);
void sockpool_drop_copies(void);
/* The parent: one report from the channel (call while it is readable); 0 or -errno. */
int sockpool_receive(int fd);
/* Closes a worker's held sockets (it is gone for good: the others take its clients). */
void sockpool_drop_owner(int worker);
/* Closes the owner's held sockets this process did not take (/metrics moved or went). */
void sockpool_drop_unused(int owner);
/* Closes the held sockets whose port keep(port, arg) refuses (a reload removed it). */
void sockpool_prune(bool (*keep)(int port, void *arg), void *arg);
/*
 * For a successor: dup2s every held socket to 3, 4, ... in a child about to
 * exec, and sets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES; 0 or -errno.
 */
int sockpool_pass(void);

#endif
