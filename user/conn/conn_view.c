// SPDX-License-Identifier: MIT
/* The live connections as rows for the control socket, and ssctl kill. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "relay.h"
#include "pair.h"
#include "conn_view.h"
#include "ctx.h"
#include "key.h"
#include "log.h"
#include "sbuf.h"
#include "shortcut.h"
#include "upstream.h"

/* Where a direction's bytes move now, and how many moved (the kernel's count included). */
static const char *dir_tier(const struct conn *c, const struct dir *d, uint64_t *bytes)
{
	uint64_t k = 0;

	*bytes = d->bytes;
	if (conn_on_shortcut(c))
		return "shortcut";
	if (c->tier->id == TIER_SPLICE)
		return "splice";
	if (c->tier->id != TIER_SOCKMAP)
		return "userspace";
	if (c->p->bpf && !bpf_relay_bytes(c->p->bpf, d->cookie, &k))
		*bytes += k;
	return d->ks == KS_USER ? "userspace" : "sockmap";
}

static void row(struct conn *c, struct sbuf *out)
{
	struct ctx *p = c->p;
	uint64_t now = loop_now(p->loop), up, down;
	const char *tu = dir_tier(c, &c->up, &up), *td = dir_tier(c, &c->down, &down);
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char target[300] = "", where[64] = "", srv[300];

	if (c->stage >= ST_DNS || !c->in->serves)
		addr_str(&c->target, target, sizeof(target));
	if (c->remote.h.fd >= 0 && !getpeername(c->remote.h.fd, (struct sockaddr *)&sa, &len))
		ss_sa_str(&sa, where, sizeof(where));
	sbuf_printf(out, "{\"id\":%llu,\"worker\":%d,\"client\":", (unsigned long long)c->id, p->index);
	sbuf_json_str(out, c->peer);
	sbuf_printf(out, ",\"target\":");
	sbuf_json_str(out, target);
	sbuf_printf(out, ",\"target_addr\":");
	sbuf_json_str(out, where);
	sbuf_printf(out, ",\"stage\":\"%s\",\"tier_up\":\"%s\",\"tier_down\":\"%s\","
		    "\"bytes_up\":%llu,\"bytes_down\":%llu,\"age_s\":%.1f,\"idle_s\":%.1f,\"user\":",
		    conn_stage_name(c->stage), tu, td, (unsigned long long)up,
		    (unsigned long long)down, (double)(now - c->accepted_at) / 1000,
		    (double)(now - c->last_active) / 1000);
	sbuf_json_str(out, c->key ? c->key->user : "");
	if (c->cgroup)
		sbuf_printf(out, ",\"cgroup\":%llu,\"netns\":%llu", (unsigned long long)c->cgroup,
			    (unsigned long long)c->netns);
	if (c->upstream) /* sslocal: the server it goes through */
		sbuf_printf(out, ",\"server\":\"%s\"", upstream_str(c->upstream, srv, sizeof(srv)));
	if (conn_on_shortcut(c))
		sbuf_printf(out, ",\"shortcut_bytes\":%llu",
			    (unsigned long long)shortcut_conn_bytes(c));
	sbuf_printf(out, "}");
}

void conn_view_rows(struct ctx *p, struct sbuf *out, bool *first)
{
	struct conn *lists[2] = { p->conns.hs_head, p->conns.lru_head };

	for (int i = 0; i < 2; i++)
		for (struct conn *c = lists[i]; c; c = c->next) {
			sbuf_printf(out, "%s", *first ? "" : ",");
			*first = false;
			row(c, out);
		}
}

int conn_view_kill(struct ctx *p, uint64_t id, const char *who)
{
	struct conn *lists[2] = { p->conns.hs_head, p->conns.lru_head };
	char why[128];

	for (int i = 0; i < 2; i++)
		for (struct conn *c = lists[i]; c; c = c->next) {
			if (c->id != id)
				continue;
			snprintf(why, sizeof(why), "killed by %s", who);
			log_info("conn %llu: closed on request of %s", (unsigned long long)id, who);
			conn_destroy(c, why);
			return 0;
		}
	return -ENOENT;
}
