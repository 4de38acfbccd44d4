/* SPDX-License-Identifier: MIT */
#ifndef SS_SHORTCUT_H
#define SS_SHORTCUT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The local shortcut (--bpf-cgroup): a sockops program records TCP sockets
 * whose both ends are on this host, an sk_msg program moves what one of them
 * sends straight into its peer's receive queue. One instance per process
 * tree, loaded before the workers fork (they inherit it); a -errno API over
 * the loader, user/bpf_shortcut.c.
 */
struct shortcut;

/*
 * Loads the programs, runs the self-test pair and attaches to the cgroup v2
 * directory cgroup and to the daemon's own cgroup; 0 or -errno with a
 * one-line reason.
 */
int shortcut_open(struct shortcut **out, const char *cgroup, const char **why);
/* Detaches and frees: redirects stop first, so no byte waits in a queue that goes away. */
void shortcut_close(struct shortcut *sc);
/* A port the daemon listens on: sockets accepted on it are recorded. */
int shortcut_listen_port(struct shortcut *sc, uint16_t port);
/*
 * Before the daemon connects to a target on this host from port (bound
 * first), so that the target's socket is recorded; add false when done.
 */
int shortcut_out_port(struct shortcut *sc, uint16_t port, bool add);
/* Records one of the daemon's connected sockets when its peer is on this host; true if so. */
bool shortcut_adopt(struct shortcut *sc, int fd);
/* Whether fd is one of the daemon's recorded sockets (its bytes can take the shortcut). */
bool shortcut_has(struct shortcut *sc, int fd);
/* Bytes fd sent and received through the shortcut. */
int shortcut_bytes(struct shortcut *sc, int fd, uint64_t *tx, uint64_t *rx);

struct shortcut_totals {
	uint64_t bytes, msgs, tcp_msgs, recorded;
	unsigned socks; /* sockets in the map now */
};
void shortcut_totals(struct shortcut *sc, struct shortcut_totals *t);

#endif
