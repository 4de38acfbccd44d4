// SPDX-License-Identifier: MIT
/* sslocal's servers: where a new connection or UDP association goes. */
#include "config.h"
#include "upstream.h"

void upstream_udp(const struct ss_config *cfg, const char **host, uint16_t *port)
{
	*host = cfg->servers[0];
	*port = (uint16_t)cfg->server_port;
}

void upstream_tcp(const struct ss_config *cfg, const char **host, uint16_t *port)
{
	if (cfg->plugin_port) {
		*host = "127.0.0.1";
		*port = (uint16_t)cfg->plugin_port;
		return;
	}
	upstream_udp(cfg, host, port);
}

void upstream_each(const struct ss_config *cfg,
		   void (*fn)(void *arg, const char *host, uint16_t port), void *arg)
{
	for (int i = 0; i < cfg->nservers; i++)
		fn(arg, cfg->servers[i], (uint16_t)cfg->server_port);
}
