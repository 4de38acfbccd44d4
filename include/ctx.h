/* SPDX-License-Identifier: MIT */
#ifndef SS_CTX_H
#define SS_CTX_H

#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "crypto.h"
#include "key.h"
#include "method.h"
#include "loop.h"
#include "policy.h"
#include "pool.h"
#include "replay.h"
#include "salt_window.h"
#include "serve_bpf_limits.h"

struct bpf_relay;
struct shortcut;
struct capture;
struct serve;
struct upstream_pool;
struct counters;
struct dns;
struct udp_relay;
struct port_index;

/*
 * What the connections and UDP relays of one worker share; the worker owns
 * it and passes it down explicitly (no globals). Each part names the module
 * that changes it.
 */
struct ctx {
	const struct ss_config *cfg;
	struct ss_key key;        /* sslocal: the one key (method, edition, master key) */
	struct port_keys *ports;  /* ssserver: the keys of each port (cfg->ports), a list */
	struct port_keys *retired; /* ports a reload replaced, freed with their last connection */
	struct port_index *port_ix; /* ports by number (server_ports.c keeps it); NULL: none */
	/*
	 * ssserver --bpf with several ports: the sk_lookup program and its maps,
	 * loaded by the tree (serve.h), or NULL. Listeners of listen address i
	 * carry &serve_tag[i].
	 */
	struct serve *serve;
	char serve_tag[SERVE_ADDRS];
	int index;             /* worker number, 0 .. workers - 1 */
	struct loop *loop;
	struct dns *dns;
	struct replay replay;  /* salts seen, shared by every worker */
	struct salt_window *salts; /* ssserver, SIP022: request salts of the last minute, shared */
	struct policy policy;  /* ssserver: which targets may be reached */
	struct pool pool;      /* free relay buffers and pipes */
	uint8_t *scratch;      /* one read buffer shared by all connections */
	struct counters *ctr;  /* this worker's, in memory shared with the supervisor */
	struct traffic *traffic; /* ssserver: bytes per port and user, shared too */

	/* STREAM tiers for pass-through pairs (method none, --relay): tiers.c, tier_sockmap.c. */
	enum conn_tier pass_tier;
	struct bpf_relay *bpf;
	struct shortcut *sc; /* --bpf-cgroup: the local shortcut, shared by the tree; or NULL */
	struct capture *cap; /* redir --capture: the capture programs' maps, shared; or NULL */
	struct upstream_pool *servers; /* sslocal: its servers (upstream.c); NULL with --relay */

	struct conn_table conns; /* conn*.c */

	/* udp.c: UDP listeners and association sockets with their NAT tables. */
	struct udp_relay *udp;
	struct udp_relay *udp_dead; /* association sockets closed in this batch */
	struct udp_relay *udp_reap; /* relays with NAT entries to free at batch end (reap_next) */
	struct udp_relay **udp_lazy; /* ssserver --bpf: the ports' relays by port, chained by lazy_next */
	unsigned udp_max;           /* cap on UDP associations per listener */
	/*
	 * udp_sessions.c: ssserver's SIP022 datagrams for a session another worker
	 * holds go to it: [i][1] reaches worker i, [index][0] is ours to read.
	 */
	int (*s22_fwd)[2];
	int s22_nfwd;
	struct handler s22_fwd_h;
};

#endif
