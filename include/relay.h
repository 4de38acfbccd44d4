/* SPDX-License-Identifier: MIT */
#ifndef SS_RELAY_H
#define SS_RELAY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The sockmap STREAM tier as the daemon sees it: a small -errno API over the
 * loader (user/bpf_relay.c is the only file that touches libbpf).
 */
struct bpf_relay;

/* Loads and attaches the programs; 0 or -errno with a one-line reason. */
int bpf_relay_open(struct bpf_relay **out, const char **why);
void bpf_relay_close(struct bpf_relay *b);
/*
 * Hands the pair (a, b) to the kernel: from now on each socket's bytes go to
 * the other. Bytes queued before are taken in order. The caller must not
 * read either socket until it detaches the pair.
 */
int bpf_relay_attach(struct bpf_relay *b, int fd_a, int fd_b, uint64_t written_b,
		     uint64_t written_a, uint64_t limit, uint64_t *cookie_a, uint64_t *cookie_b);
/*
 * written_b / written_a: tcp_bytes_written() of each socket at hand-off, the
 * base of flow control; limit: bytes allowed between redirect and the peer's
 * TCP stream before the daemon is told through the events fd (0: no limit).
 */
/* Stops intercepting one socket; it stays a redirect target until detach. */
void bpf_relay_stop(struct bpf_relay *b, uint64_t cookie);
/* Stops intercepting the pair and forgets it. */
void bpf_relay_detach(struct bpf_relay *b, uint64_t cookie_a, uint64_t cookie_b);
/* Bytes redirected so far from the socket with this cookie. */
int bpf_relay_bytes(struct bpf_relay *b, uint64_t cookie, uint64_t *bytes);
/* A pollable fd that is readable when sockets went over their flow-control limit. */
int bpf_relay_events_fd(struct bpf_relay *b);
/* Calls cb with the cookie of each socket that went over its limit. */
void bpf_relay_events(struct bpf_relay *b, void (*cb)(void *ctx, uint64_t cookie), void *ctx);
/* Entries in the maps (sockets intercepted, peer records). */
int bpf_relay_count(struct bpf_relay *b, unsigned *socks, unsigned *peers);

/* Bytes ever written into fd's TCP stream: tcpi_bytes_acked + SIOCOUTQ. */
int tcp_bytes_written(int fd, uint64_t *out);
/* The same, with what is still unacknowledged (SIOCOUTQ) and the TCP state. */
int tcp_send_progress(int fd, uint64_t *written, uint32_t *outq, uint8_t *state);
/* Bytes in fd's TCP receive queue that nobody has consumed (SIOCINQ). */
int tcp_bytes_unread(int fd, int *out);

#endif
