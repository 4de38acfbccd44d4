/* SPDX-License-Identifier: MIT */
#ifndef SS_SOCKOPTS_H
#define SS_SOCKOPTS_H

#include <stdbool.h>

struct ss_config;

/*
 * What the operator asked of sockets (libev's flags): outbound ones go
 * through -i's interface, over Multipath TCP with --mptcp, with the
 * tcp_outgoing_* buffers; accepted ones get the tcp_incoming_* buffers.
 */

/* A non-blocking outbound TCP socket of this family; fd or -errno. */
int sock_outbound_tcp(const struct ss_config *cfg, int family);
/* An outbound UDP socket (a NAT entry's) takes -i's interface. */
void sock_outbound_udp(const struct ss_config *cfg, int fd);
/* An accepted connection takes the incoming buffer sizes. */
void sock_accepted(const struct ss_config *cfg, int fd);
/* A TCP socket: Multipath TCP if asked and the kernel has it (else one log line); fd or -1. */
int sock_tcp(bool mptcp, int family, int flags);

#endif
