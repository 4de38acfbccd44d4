// SPDX-License-Identifier: MIT
/* A worker's log lines of what it counted (SIGUSR1, and at exit). */
#include <stdio.h>

#include "conn.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "shortcut.h"
#include "udp.h"
#include "worker.h"

/* Bytes by tier and the failures before STREAM, from this worker's counters. */
static void log_counters(const struct counters *k)
{
	char fails[400] = "";
	size_t n = 0;

	for (int f = 0; f < FAIL_REASONS; f++)
		if (k->fail[f] && n < sizeof(fails))
			n += (size_t)snprintf(fails + n, sizeof(fails) - n, "%s%s %llu", n ? ", " : "",
					      counters_fail_name(f), (unsigned long long)k->fail[f]);
	log_info("%llu connections accepted; bytes up: %s %llu, %s %llu, %s %llu; "
		 "down: %s %llu, %s %llu, %s %llu; failed before STREAM: %s",
		 (unsigned long long)k->accepted,
		 counters_tier_name(CTR_USER), (unsigned long long)k->bytes_up[CTR_USER],
		 counters_tier_name(CTR_SPLICE), (unsigned long long)k->bytes_up[CTR_SPLICE],
		 counters_tier_name(CTR_SOCKMAP), (unsigned long long)k->bytes_up[CTR_SOCKMAP],
		 counters_tier_name(CTR_USER), (unsigned long long)k->bytes_down[CTR_USER],
		 counters_tier_name(CTR_SPLICE), (unsigned long long)k->bytes_down[CTR_SPLICE],
		 counters_tier_name(CTR_SOCKMAP), (unsigned long long)k->bytes_down[CTR_SOCKMAP],
		 n ? fails : "none");
}

void worker_log_stats(const struct ctx *p)
{
	struct conn_stats cs;
	struct udp_stats u;

	conn_stats(p, &cs);
	log_info("%u TCP connections live; pairs handed to sockmap %llu, to splice %llu, "
		 "moved out of sockmap by flow control %llu; %u pipe pairs pooled", cs.live,
		 (unsigned long long)cs.to_sockmap, (unsigned long long)cs.to_splice,
		 (unsigned long long)cs.left_sockmap, p->pool.npipes);
	if (cs.sockmap_loaded)
		log_info("sockmap: %u socket entries, %u peer entries", cs.sockmap_socks,
			 cs.sockmap_peers);
	if (p->sc) {
		struct shortcut_totals t;

		shortcut_totals(p->sc, &t);
		log_info("shortcut: %llu connections, %llu legs left it (bulk); %u sockets recorded "
			 "now; %llu bytes redirected (all workers), %llu sends over TCP, %llu "
			 "flow-control pauses", (unsigned long long)p->ctr->to_shortcut,
			 (unsigned long long)p->ctr->left_shortcut, t.socks, (unsigned long long)t.bytes,
			 (unsigned long long)t.tcp_msgs, (unsigned long long)t.paused);
	}
	log_counters(p->ctr);
	if (!p->udp)
		return;
	udp_stats(p, &u);
	log_info("udp: relayed %llu in, %llu out; dropped: %llu bad crypto, %llu bad header, "
		 "%llu fragmented, %llu oversize, %llu without association, %llu unresolved, "
		 "%llu send failures; %llu associations evicted; %llu replayed, %llu refused by policy",
		 (unsigned long long)u.in, (unsigned long long)u.out,
		 (unsigned long long)u.bad_crypto, (unsigned long long)u.bad_header,
		 (unsigned long long)u.fragmented, (unsigned long long)u.oversize,
		 (unsigned long long)u.no_assoc, (unsigned long long)u.unresolved,
		 (unsigned long long)u.send_failed, (unsigned long long)u.evicted,
		 (unsigned long long)u.replayed, (unsigned long long)u.refused);
}
