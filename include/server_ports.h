/* SPDX-License-Identifier: MIT */
#ifndef SS_SERVER_PORTS_H
#define SS_SERVER_PORTS_H

#include <stdbool.h>

struct ctx;
struct ss_config;
struct listeners;
struct serve;

/*
 * ssserver's ports: the keys of each configured port (its password, or its
 * users), its TCP listeners (tagged with the keys) and UDP relays.
 */
int server_ports_open(struct ctx *p, struct listeners *ls, bool tcp, bool udp, const char **why);
/*
 * After p->cfg was replaced by a reload: opens the new ports, closes the
 * removed ones with their connections, re-keys the changed ones (their live
 * connections keep the old keys); the others are untouched. 0 or -ENOMEM.
 */
int server_ports_reload(struct ctx *p, struct listeners *ls, bool tcp, bool udp);
/*
 * How many of cfg's ports (those not in old, when old is given) another
 * process holds already (a socket, or another ssserver's sk_lookup program;
 * own: ours, or NULL); each is logged with libev's bind error if say.
 */
int server_ports_taken(const struct ss_config *cfg, const struct ss_config *old,
		       const struct serve *own, bool say);
/* --bpf: the port served through listen address ai at port, or NULL. */
struct port_keys *server_ports_find(struct ctx *p, int ai, int port);
/*
 * The keys of a connection a listener tagged tag accepted: the tag itself,
 * or (a listen address's socket) the port it came to; NULL: none now.
 */
struct port_keys *server_ports_of_conn(struct ctx *p, void *tag, int fd);
/* Frees replaced ports whose last connection has gone. */
void server_ports_sweep(struct ctx *p);
/* Every port, at exit (after every connection is gone). */
void server_ports_free(struct ctx *p);

#endif
