/* SPDX-License-Identifier: MIT */
#ifndef SS_CONFIG_PORTS_H
#define SS_CONFIG_PORTS_H

#include "config.h"

struct json;

/*
 * ssserver's ports and users: libev's and the Python original's
 * "port_password" ({"8381": "pw", ...}), shadowsocks-rust's "servers"
 * ([{"server", "server_port", "password", "method", "users"}, ...]) and
 * "users" ([{"name", "password"}, ...]) on server_port.
 */

/* Applies one of those keys from the file; 0 or -EINVAL / -ENOMEM with err set. */
int config_ports_apply(struct ss_config *c, const char *key, const struct json *j,
		       const char **why);
/*
 * Builds c->ports from whichever form the file used (or server_port and
 * password), resolving each port's method; 0 or -EINVAL with err set.
 */
int config_ports_build(struct ss_config *c, const char **why);
void config_ports_free(struct ss_config *c);

/* sslocal's servers (config_servers.c): a --server-url kept (each is a server of its own). */
int config_servers_add_url(struct ss_config *c, const char *url);
/* "servers" given: its first enabled entry fills the top-level keys not given. */
int config_servers_defaults(struct ss_config *c, const char **why);
/* c->upstreams from "servers", repeated --server-url or -s hosts; 0 or -EINVAL with why. */
int config_servers_build(struct ss_config *c, const char **why);
void config_servers_free(struct ss_config *c);
/* The "balancer" object; 0 or -EINVAL with why. */
/* A server appended to list (n long): checked, its method found; 0 or -errno with why. */
int config_server_add(struct cfg_server **list, int *n, const char *host, int port,
		      const char *method, const char *password, const char **why);
/* SIP008 (sip008.c): the online configuration's URL and interval checked; the JSON object. */
int config_online_check(struct ss_config *c, const char **why);
int config_online_apply(struct ss_config *c, const struct json *j, const char **why);
int config_balancer_apply(struct ss_config *c, const struct json *j, const char **why);

#endif
