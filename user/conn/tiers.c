// SPDX-License-Identifier: MIT
/*
 * Which STREAM tier moves a pair: the choice for pass-through pairs (method
 * none, --relay) at start, said once in the log, and the hand-off of such a
 * pair from the userspace tier to the kernel once the daemon holds none of
 * its bytes. Pairs that encrypt one leg stay in tier_user.
 */
#include "pair.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "relay.h"

static const char *const tier_names[] = {
	[TIER_AUTO] = "auto", [TIER_USER] = "userspace read/write",
	[TIER_SPLICE] = "splice (kernel pipe copy)",
	[TIER_SOCKMAP] = ("sockmap (kernel redirect; a pair whose kernel queue passes 4 MiB "
			  "moves to splice)"),
};

void tier_handoff(struct conn *c)
{
	struct ctx *p = c->p;

	/* A leg on the shortcut is read with recv: splice and sockmap see only TCP's queue. */
	if (!c->passthrough || c->tier != &tier_user || p->pass_tier == TIER_USER ||
	    conn_on_shortcut(c) ||
	    c->hdr_pending || stream_pending(&c->up) || stream_pending(&c->down))
		return;
	if (p->pass_tier == TIER_SOCKMAP && !c->left_kernel) {
		enum sockmap_entry e = sockmap_enter(c);

		if (e != SOCKMAP_SPLICE)
			return;
	}
	if (splice_enter(c))
		log_debug("conn %llu: no pipes for splice; staying in userspace",
			  (unsigned long long)c->id);
}

/* Says once which tier serves which leg, and why. */
static void log_tiers(const struct ctx *p, bool pass)
{
	const struct ss_config *cfg = p->cfg;

	if (pass)
		log_info("STREAM tiers: %s -> %s legs carry the same bytes: %s%s",
			 cfg->prog == PROG_SERVER ? "client" : "application",
			 cfg->prog == PROG_SERVER ? "target" : (cfg->relay ? "upstream" : "server"),
			 tier_names[p->pass_tier],
			 cfg->tier != TIER_AUTO ? " (forced by --tier)" :
			 p->bpf ? "" : cfg->bpf == BPF_OFF ? " (--bpf off)" : " (BPF unavailable)");
	else
		log_info("STREAM tiers: userspace for both legs (method %s encrypts one leg: "
			 "the bytes differ, so the kernel cannot move them)%s",
			 cfg->m->name, p->bpf ? "; BPF loaded but unused" : "");
}

int tiers_open(struct ctx *p, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	bool pass = cfg->relay || cfg->m->id == SS_M_NONE;
	int r;

	if ((r = sockmap_open(p, pass, why)))
		return r;
	if (cfg->tier != TIER_AUTO)
		p->pass_tier = cfg->tier;
	else
		p->pass_tier = p->bpf ? TIER_SOCKMAP : TIER_SPLICE;
	log_tiers(p, pass);
	return 0;
}

void tiers_close(struct ctx *p)
{
	sockmap_close(p);
}

void conn_stats(const struct ctx *p, struct conn_stats *st)
{
	st->live = p->conns.n;
	st->to_sockmap = p->ctr->to_sockmap;
	st->to_splice = p->ctr->to_splice;
	st->left_sockmap = p->ctr->left_sockmap;
	st->sockmap_loaded = p->bpf;
	st->sockmap_socks = st->sockmap_peers = 0;
	if (p->bpf)
		bpf_relay_count(p->bpf, &st->sockmap_socks, &st->sockmap_peers);
}
