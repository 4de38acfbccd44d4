/* SPDX-License-Identifier: MIT */
#ifndef SS_UPSTREAM_H
#define SS_UPSTREAM_H

#include <stdint.h>

struct ss_config;

/*
 * sslocal's servers: the one place that chooses where a new connection or
 * UDP association goes (today the first server of the list), and that lists
 * them all for what must never be steered.
 */

/* A new TCP connection's server: the plugin's local port when there is one. */
void upstream_tcp(const struct ss_config *cfg, const char **host, uint16_t *port);
/* A new UDP association's server (UDP bypasses a plugin, SIP003). */
void upstream_udp(const struct ss_config *cfg, const char **host, uint16_t *port);
/* Calls fn with every server's host and port. */
void upstream_each(const struct ss_config *cfg,
		   void (*fn)(void *arg, const char *host, uint16_t port), void *arg);

#endif
