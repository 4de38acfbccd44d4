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
 * one-line reason. What applications send to the daemon takes the shortcut;
 * what it sends them keeps TCP (bpf/shortcut.bpf.c says why).
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

/* One of the daemon's sockets on the shortcut. */
struct shortcut_peer;
/*
 * fd, connected: a handle if the sockops program recorded it as the
 * daemon's, or (record) once the daemon records it; NULL when its peer is
 * not on this host or it cannot be recorded.
 */
struct shortcut_peer *shortcut_watch(struct shortcut *sc, int fd, bool record);
/* Flow control: read_total bytes were read from the socket so far. */
void shortcut_ack(struct shortcut *sc, struct shortcut_peer *w, uint64_t read_total);
/*
 * Whether the peer's sends into w are paused by flow control, and the read
 * total at which w's queue is empty (if no more is redirected into it).
 */
int shortcut_paused(struct shortcut *sc, const struct shortcut_peer *w, bool *paused,
		    uint64_t *drained_at);
/* Takes w's peer (an application's socket) out of the map: its bytes keep TCP from now on. */
void shortcut_drop_peer(struct shortcut *sc, struct shortcut_peer *w);
/* Takes w's socket out of the map (its queue must be empty) and frees w. */
void shortcut_leave(struct shortcut *sc, struct shortcut_peer *w);
/* The read total last published. */
uint64_t shortcut_acked(const struct shortcut_peer *w);
void shortcut_unwatch(struct shortcut *sc, struct shortcut_peer *w);
/* Bytes the socket fd (watched as w) sent and received through the shortcut. */
int shortcut_bytes(struct shortcut *sc, const struct shortcut_peer *w, int fd, uint64_t *tx,
		   uint64_t *rx);

struct shortcut_totals {
	uint64_t bytes, msgs, tcp_msgs, recorded;
	uint64_t paused; /* times flow control paused a sender (its bytes went over TCP) */
	unsigned socks; /* sockets in the map now */
};
void shortcut_totals(struct shortcut *sc, struct shortcut_totals *t);

#endif
