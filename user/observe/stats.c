// SPDX-License-Identifier: MIT
/* The counters of every worker, summed, as ssctl stats JSON and as Prometheus metrics. */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "common.h"
#include "conn.h"
#include "counters.h"
#include "replay.h"
#include "sbuf.h"
#include "stats.h"
#include "traffic.h"
#include "upstream.h"

/*
 * Every counter that ssctl stats and /metrics show, defined once: where its
 * value lives in struct counters (n words from off), its JSON object and
 * member, its Prometheus family (help, kind, a fixed label), and for an
 * array the label and names of its values. Rows of one family, and of one
 * JSON object, are adjacent.
 */
struct ctr_row {
	const char *group;  /* the JSON object it belongs to ("": the top level) */
	const char *json;   /* its member; NULL: not in the JSON */
	const char *metric; /* its family; NULL: not in /metrics */
	const char *help;
	bool gauge;
	bool sum;           /* JSON: the sum of its n values (a histogram's count) */
	bool pair;          /* JSON: with the next row, {"NAME":{this,next}} per name */
	const char *fixed;  /* a label each sample carries, or NULL */
	const char *dim;    /* the label of an array's values, or NULL */
	void (*name)(int i, char *out, size_t len);
	size_t off, n;
};

static void stage_name(int i, char *out, size_t len)
{
	snprintf(out, len, "%s", conn_stage_name(i));
}

static void tier_name(int i, char *out, size_t len)
{
	snprintf(out, len, "%s", counters_tier_name(i));
}

/* "bad request" -> "bad_request". */
static void fail_name(int f, char *out, size_t len)
{
	const char *n = counters_fail_name(f);
	size_t i = 0;

	for (; n[i] && i + 1 < len; i++)
		out[i] = n[i] == ' ' ? '_' : (char)tolower((unsigned char)n[i]);
	out[i] = 0;
}

/* The UDP drop reasons, in struct udp_stats order after in and out. */
static void drop_name(int i, char *out, size_t len)
{
	static const char *const drops[] = { "bad_crypto", "bad_header", "fragmented", "oversize",
					     "no_association", "unresolved", "send_failed",
					     "evicted", "replayed", "refused" };

	snprintf(out, len, "%s", drops[i]);
}

#define AT(f) offsetof(struct counters, f)
#define N(f) (sizeof(((struct counters *)0)->f) / sizeof(uint64_t))
#define UDP_DROPS (sizeof(struct udp_stats) / sizeof(uint64_t) - 2)

static const struct ctr_row ctr_rows[] = {
	{ "connections", "accepted", "ssbpf_connections_opened_total", "Connections accepted.",
	  .off = AT(accepted), .n = 1 },
	{ "connections", "closed", "ssbpf_connections_closed_total", "Connections closed.",
	  .off = AT(closed), .n = 1 },
	{ "connections", "by_stage", "ssbpf_connections", "Live connections by stage.", .gauge = true,
	  .dim = "stage", .name = stage_name, .off = AT(live), .n = N(live) },
	{ "bytes", "up", "ssbpf_relayed_bytes_total", "STREAM bytes by direction and tier.",
	  .pair = true, .fixed = "direction=\"up\"", .dim = "tier", .name = tier_name,
	  .off = AT(bytes_up), .n = N(bytes_up) },
	{ "bytes", "down", "ssbpf_relayed_bytes_total", NULL, .fixed = "direction=\"down\"",
	  .dim = "tier", .name = tier_name, .off = AT(bytes_down), .n = N(bytes_down) },
	{ "", "handshake_failures", "ssbpf_handshake_failures_total",
	  "Connections that ended before STREAM.", .dim = "reason", .name = fail_name,
	  .off = AT(fail), .n = N(fail) },
	{ "handoffs", "to_sockmap", .off = AT(to_sockmap), .n = 1 },
	{ "handoffs", "to_splice", .off = AT(to_splice), .n = 1 },
	{ "handoffs", "sockmap_to_splice", .off = AT(left_sockmap), .n = 1 },
	{ "udp", "associations", "ssbpf_udp_associations", "Live UDP associations (NAT entries).",
	  .gauge = true, .off = AT(udp_assoc_live), .n = 1 },
	{ "udp", "associations_opened", "ssbpf_udp_associations_opened_total",
	  "UDP associations opened.", .off = AT(udp_assoc_opened), .n = 1 },
	{ "udp", "in", "ssbpf_udp_datagrams_total", "UDP datagrams relayed.",
	  .fixed = "direction=\"up\"", .off = AT(udp.in), .n = 1 },
	{ "udp", "out", "ssbpf_udp_datagrams_total", NULL, .fixed = "direction=\"down\"",
	  .off = AT(udp.out), .n = 1 },
	{ "udp", "drops", "ssbpf_udp_drops_total", "UDP datagrams dropped, by reason.",
	  .dim = "reason", .name = drop_name, .off = AT(udp.bad_crypto), .n = UDP_DROPS },
	{ "shortcut", "connections", "ssbpf_shortcut_connections_total",
	  "Connections with a leg on the local shortcut.", .off = AT(to_shortcut), .n = 1 },
	{ "shortcut", "left", .off = AT(left_shortcut), .n = 1 },
	{ "shortcut", "bytes", .off = AT(shortcut_bytes), .n = 1 },
	{ "shortcut", "sockets", "ssbpf_shortcut_sockets", "Sockets in the local shortcut's map.",
	  .gauge = true, .off = AT(shortcut_socks), .n = 1 },
	{ "shortcut", "redirected_bytes", "ssbpf_shortcut_redirected_bytes_total",
	  "Bytes the local shortcut moved socket to socket.", .off = AT(shortcut_redirected),
	  .n = 1 },
	{ "steering", "prefixes", "ssbpf_steer_prefixes", "Redir: prefixes steered to sslocal.",
	  .gauge = true, .off = AT(steer_prefixes), .n = 1 },
	{ "steering", "exclusions", "ssbpf_steer_exclusions",
	  "Redir: prefixes never steered (lists, files, ACL, this host's own).", .gauge = true,
	  .off = AT(steer_exclusions), .n = 1 },
	{ "steering", "exclusions_from_files", .gauge = true, .off = AT(steer_from_files), .n = 1 },
	{ "steering", "exclusions_from_acl", .gauge = true, .off = AT(steer_from_acl), .n = 1 },
	{ "steering", "steered_tcp", "ssbpf_steered_total",
	  "Redir: connections (tcp) and datagrams (udp) sk_lookup handed to sslocal.",
	  .fixed = "protocol=\"tcp\"", .off = AT(steered_tcp), .n = 1 },
	{ "steering", "steered_udp", "ssbpf_steered_total", NULL, .fixed = "protocol=\"udp\"",
	  .off = AT(steered_udp), .n = 1 },
	{ "capture", "tcp", "ssbpf_captured_total",
	  "Redir --capture: connects (tcp) and datagrams (udp) rewritten to sslocal.",
	  .fixed = "protocol=\"tcp\"", .off = AT(captured_tcp), .n = 1 },
	{ "capture", "udp", "ssbpf_captured_total", NULL, .fixed = "protocol=\"udp\"",
	  .off = AT(captured_udp), .n = 1 },
	{ "capture", "direct", "ssbpf_capture_direct_total",
	  "Redir --capture: connects and sends left direct (loopback, excluded prefixes).",
	  .off = AT(capture_direct), .n = 1 },
	{ "capture", "refused", "ssbpf_capture_refused_total",
	  "Redir --capture: connects and sends refused (no slot could be taken).",
	  .off = AT(capture_refused), .n = 1 },
	{ "dns", "answers", .sum = true, .off = AT(dns_ms), .n = N(dns_ms) },
	{ "dns", "ms_total", .off = AT(dns_sum_ms), .n = 1 },
	{ "dns", "cache_hits", "ssbpf_dns_cache_lookups_total", "Names looked up, by result.",
	  .fixed = "result=\"hit\"", .off = AT(dns_hits), .n = 1 },
	{ "dns", "cache_misses", "ssbpf_dns_cache_lookups_total", NULL,
	  .fixed = "result=\"miss\"", .off = AT(dns_misses), .n = 1 },
	{ "dns", "cache_entries", "ssbpf_dns_cache_entries", "Live entries of the resolvers' caches.",
	  .gauge = true, .off = AT(dns_cache_entries), .n = 1 },
	{ "bpf", "workers_loaded", .off = AT(bpf_loaded), .n = 1 },
	{ "bpf", "sockmap_sockets", "ssbpf_sockmap_sockets", "Sockets in the sockmap STREAM tier.",
	  .gauge = true, .off = AT(sockmap_socks), .n = 1 },
};

static double replay_fill(const struct replay *r)
{
	if (!r || !r->sh || !r->half)
		return 0;
	return (double)__atomic_load_n(&r->sh->count, __ATOMIC_RELAXED) / (double)r->half;
}

/* Each "PORT" and "PORT/USER" slot with its bytes, as JSON members. */
static void traffic_json(const struct traffic *t, struct sbuf *out)
{
	for (uint32_t i = 0; t && t->names && i < t->names->n; i++) {
		sbuf_printf(out, "%s", i ? "," : "");
		sbuf_json_str(out, t->names->name[i]);
		sbuf_printf(out, ":%llu", (unsigned long long)traffic_total(t, (int)i));
	}
}

/* "limits": {"PORT[/USER]": {"rate_limit": B/s, "data_limit": B, "spent": B}} of slots with one. */
static void limits_json(const struct traffic *t, struct sbuf *out)
{
	bool first = true;

	sbuf_printf(out, ",\"limits\":{");
	for (uint32_t i = 0; t && t->names && i < t->names->n; i++) {
		if (!t->names->rate_limit[i] && !t->names->data_limit[i])
			continue;
		sbuf_printf(out, "%s", first ? "" : ",");
		first = false;
		sbuf_json_str(out, t->names->name[i]);
		sbuf_printf(out, ":{\"rate_limit\":%u,\"data_limit\":%llu,\"spent\":%llu}",
			    t->names->rate_limit[i], (unsigned long long)t->names->data_limit[i],
			    (unsigned long long)traffic_spent_bytes(t, (int)i));
	}
	sbuf_printf(out, "}");
}

/* The limits as gauges, labelled by port and user ("" for a port's own). */
static void limits_metric(const struct traffic *t, struct sbuf *out)
{
	static const char *const fam[] = { "rate_limit_bytes_per_second", "data_limit_bytes",
					   "data_spent_bytes" };

	for (int f = 0; f < 3; f++) {
		sbuf_printf(out, "# HELP ssbpf_%s The %s of a port or user.\n# TYPE ssbpf_%s gauge\n",
			    fam[f], f == 2 ? "bytes carried towards the data limit" : "limit", fam[f]);
		for (uint32_t i = 0; i < t->names->n; i++) {
			const char *name = t->names->name[i], *slash = strchr(name, '/');
			unsigned long long v = f == 0 ? t->names->rate_limit[i] : f == 1 ?
					       t->names->data_limit[i] : traffic_spent_bytes(t, (int)i);

			if (!t->names->rate_limit[i] && !t->names->data_limit[i])
				continue;
			sbuf_printf(out, "ssbpf_%s{port=\"%.*s\",user=", fam[f],
				    (int)(slash ? slash - name : (long)strlen(name)), name);
			sbuf_json_str(out, slash ? slash + 1 : "");
			sbuf_printf(out, "} %llu\n", v);
		}
	}
}

/* One metric family: the ports (users false) or the users, each family's samples together. */
static void traffic_metric(const struct traffic *t, struct sbuf *out, bool users)
{
	sbuf_printf(out, "# HELP ssbpf_%s_bytes_total Bytes up and down per %s.\n"
		    "# TYPE ssbpf_%s_bytes_total counter\n", users ? "user" : "port",
		    users ? "user of a port" : "server port", users ? "user" : "port");
	for (uint32_t i = 0; i < t->names->n; i++) {
		const char *name = t->names->name[i], *slash = strchr(name, '/');
		unsigned long long b = (unsigned long long)traffic_total(t, (int)i);

		if (users && slash) {
			sbuf_printf(out, "ssbpf_user_bytes_total{port=\"%.*s\",user=", (int)(slash - name),
				    name);
			sbuf_json_str(out, slash + 1);
			sbuf_printf(out, "} %llu\n", b);
		} else if (!users && !slash) {
			sbuf_printf(out, "ssbpf_port_bytes_total{port=\"%s\"} %llu\n", name, b);
		}
	}
}

/* Each capture entry with the connects and datagrams captured and the bytes relayed for it. */
static void capture_json(const struct stats_src *s, struct sbuf *out)
{
	const char *path, *netns;
	uint64_t id, tcp, udp, up, down;

	sbuf_printf(out, ",\"capture_entries\":[");
	for (int i = 0; (path = capture_cgroup(s->cap, i, &id, &netns)); i++) {
		capture_cgroup_counts(s->cap, id, &tcp, &udp);
		counters_capture_sum(s->ctr, s->workers, id, &up, &down);
		sbuf_printf(out, "%s{\"cgroup\":", i ? "," : "");
		sbuf_json_str(out, path);
		sbuf_printf(out, ",\"netns\":");
		sbuf_json_str(out, netns ? netns : "");
		sbuf_printf(out, ",\"id\":%llu,\"tcp\":%llu,\"udp\":%llu,\"bytes_up\":%llu,"
			    "\"bytes_down\":%llu}", (unsigned long long)id, (unsigned long long)tcp,
			    (unsigned long long)udp, (unsigned long long)up, (unsigned long long)down);
	}
	sbuf_printf(out, "]");
}

/* The same as two families labelled by the entry's cgroup path. */
static void capture_metric(const struct stats_src *s, struct sbuf *out, bool bytes)
{
	const char *path;
	uint64_t id, v[2];

	sbuf_printf(out, "# HELP ssbpf_capture_entry_%s_total %s\n"
		    "# TYPE ssbpf_capture_entry_%s_total counter\n", bytes ? "bytes" : "captured",
		    bytes ? "Bytes relayed per capture entry, by direction." :
			    "Connects (tcp) and datagrams (udp) captured per capture entry.",
		    bytes ? "bytes" : "captured");
	for (int i = 0; (path = capture_cgroup(s->cap, i, &id, NULL)); i++) {
		if (bytes)
			counters_capture_sum(s->ctr, s->workers, id, &v[0], &v[1]);
		else
			capture_cgroup_counts(s->cap, id, &v[0], &v[1]);
		for (int k = 0; k < 2; k++) {
			sbuf_printf(out, "ssbpf_capture_entry_%s_total{cgroup=", bytes ? "bytes" : "captured");
			sbuf_json_str(out, path);
			sbuf_printf(out, ",%s=\"%s\"} %llu\n", bytes ? "direction" : "protocol",
				    bytes ? (k ? "down" : "up") : (k ? "udp" : "tcp"),
				    (unsigned long long)v[k]);
		}
	}
}

/* sslocal's servers: each one's health and counts (upstream.h). */
static void servers_json(const struct upstream_pool *pl, struct sbuf *out)
{
	bool first = true;

	sbuf_printf(out, ",\"balance\":\"%s\",\"servers\":[", config_balance_name(pl->mode));
	for (int i = 0; i < pl->n; i++) {
		const struct upstream *u = pl->u[i];
		const struct upstream_stat *st = u ? u->st : NULL;
		char name[300];

		if (!u)
			continue;
		sbuf_printf(out, "%s{\"online\":%s,\"server\":\"%s\",\"method\":\"%s\",\"state\":\"%s\","
			    "\"rtt_ms\":%.3f,\"checks\":%llu,\"check_failures\":%llu,"
			    "\"connections\":%llu,\"connect_failures\":%llu,\"udp_associations\":%llu,"
			    "\"bytes_up\":%llu,\"bytes_down\":%llu,\"last_failure\":", first ? "" : ",",
			    pl->have[i].online ? "true" : "false", upstream_str(u, name, sizeof(name)), u->key.m->name, upstream_state_name(st->state), st->rtt_us / 1000.0,
			    (unsigned long long)st->checks, (unsigned long long)st->check_failures,
			    (unsigned long long)st->connects, (unsigned long long)st->connect_failures,
			    (unsigned long long)st->udp_assocs, (unsigned long long)st->bytes_up,
			    (unsigned long long)st->bytes_down);
		sbuf_json_str(out, st->why);
		sbuf_printf(out, "}");
		first = false;
	}
	sbuf_printf(out, "]");
}

/* The same as metric families labelled by server (host:port). */
static void servers_metric(const struct upstream_pool *pl, struct sbuf *out)
{
	static const struct {
		const char *name, *help, *kind;
		size_t off;
	} fams[] = {
		{ "ssbpf_server_up", "1 while the server passes its checks (sslocal).", "gauge", 0 },
		{ "ssbpf_server_rtt_seconds", "Smoothed latency of the server's checks.", "gauge", 0 },
		{ "ssbpf_server_checks_total", "Checks of the server.", "counter",
		  offsetof(struct upstream_stat, checks) },
		{ "ssbpf_server_check_failures_total", "Checks the server failed.", "counter",
		  offsetof(struct upstream_stat, check_failures) },
		{ "ssbpf_server_connections_total", "New connections sent to the server.", "counter",
		  offsetof(struct upstream_stat, connects) },
		{ "ssbpf_server_connect_failures_total", "Connections that could not reach it.",
		  "counter", offsetof(struct upstream_stat, connect_failures) },
		{ "ssbpf_server_bytes_up_total", "Bytes sent through the server.", "counter",
		  offsetof(struct upstream_stat, bytes_up) },
		{ "ssbpf_server_bytes_down_total", "Bytes received through the server.", "counter",
		  offsetof(struct upstream_stat, bytes_down) },
	};

	for (size_t f = 0; f < ARRAY_SIZE(fams); f++) {
		sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help,
			    fams[f].name, fams[f].kind);
		for (int i = 0; i < pl->n; i++) {
			const struct upstream_stat *st = pl->u[i] ? pl->u[i]->st : NULL;

			if (!st)
				continue;
			double v = f == 0 ? st->state == UP_OK : f == 1 ? st->rtt_us / 1e6 :
				   (double)*(const uint64_t *)((const char *)st + fams[f].off);

			sbuf_printf(out, "%s{server=\"%s:%u\"} %.17g\n", fams[f].name, pl->u[i]->host,
				    pl->u[i]->port, v);
		}
	}
}

/* "name":{...} or "name":v members of one row, in the JSON of ssctl stats. */
static void json_row(const struct ctr_row *r, const struct counters *c, struct sbuf *out)
{
	const uint64_t *v = (const uint64_t *)((const char *)c + r->off);
	char name[32];
	uint64_t sum = 0;

	if (r->sum || r->n == 1) {
		for (size_t i = 0; i < r->n; i++)
			sum += v[i];
		sbuf_printf(out, "\"%s\":%llu", r->json, (unsigned long long)sum);
		return;
	}
	sbuf_printf(out, "\"%s\":{", r->json);
	for (size_t i = 0; i < r->n; i++) {
		r->name((int)i, name, sizeof(name));
		sbuf_printf(out, "%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)v[i]);
	}
	sbuf_printf(out, "}");
}

/* A pair of rows by the same names: {"NAME":{"up":a,"down":b}, ...} (bytes by tier). */
static void json_pair(const struct ctr_row *r, const struct counters *c, struct sbuf *out)
{
	const uint64_t *a = (const uint64_t *)((const char *)c + r[0].off);
	const uint64_t *b = (const uint64_t *)((const char *)c + r[1].off);
	char name[32];

	for (size_t i = 0; i < r->n; i++) {
		r->name((int)i, name, sizeof(name));
		sbuf_printf(out, "%s\"%s\":{\"%s\":%llu,\"%s\":%llu}", i ? "," : "", name, r[0].json,
			    (unsigned long long)a[i], r[1].json, (unsigned long long)b[i]);
	}
}

void stats_json(const struct stats_src *s, struct sbuf *out)
{
	const char *group = "";
	struct counters c;
	bool first = false;

	counters_sum(s->ctr, s->workers, &c);
	sbuf_printf(out, "{\"program\":\"%s\",\"workers\":%zu", s->prog, s->workers);
	for (size_t i = 0; i < ARRAY_SIZE(ctr_rows); i++) {
		const struct ctr_row *r = &ctr_rows[i];

		if (!r->json)
			continue;
		if (strcmp(r->group, group)) {
			sbuf_printf(out, "%s%s%s%s", *group ? "}" : "", *r->group ? ",\"" : "", r->group,
				    *r->group ? "\":{" : "");
			group = r->group;
			first = *group;
		}
		sbuf_printf(out, "%s", first ? "" : ",");
		first = false;
		if (r->pair) {
			json_pair(r, &c, out);
			i++;
		} else {
			json_row(r, &c, out);
		}
	}
	sbuf_printf(out, "%s,\"replay_filter_fill\":%.4f,\"traffic\":{", *group ? "}" : "",
		    replay_fill(s->replay));
	traffic_json(s->traffic, out);
	sbuf_printf(out, "}");
	if (s->traffic)
		limits_json(s->traffic, out);
	if (s->cap)
		capture_json(s, out);
	if (s->servers)
		servers_json(s->servers, out);
	sbuf_printf(out, "}");
}

/* A histogram in seconds from per-bucket counts (scale: bucket bounds and sum to seconds). */
static void histogram(struct sbuf *out, const char *name, const char *help, const uint64_t *b,
		      const double *le, int n, uint64_t sum, double scale)
{
	uint64_t cum = 0;

	sbuf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < n; i++) {
		cum += b[i];
		sbuf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, le[i] * scale,
			    (unsigned long long)cum);
	}
	cum += b[n];
	sbuf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name,
		    (unsigned long long)cum, name, (double)sum / 1000, name, (unsigned long long)cum);
}

/* The samples of one row, after its family's HELP and TYPE when it starts one. */
static void prom_row(const struct ctr_row *r, const struct ctr_row *prev, const struct counters *c,
		     struct sbuf *out)
{
	const uint64_t *v = (const uint64_t *)((const char *)c + r->off);
	char name[32];

	if (!prev || !prev->metric || strcmp(prev->metric, r->metric))
		sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", r->metric, r->help, r->metric,
			    r->gauge ? "gauge" : "counter");
	if (!r->dim) {
		sbuf_printf(out, "%s%s%s%s %llu\n", r->metric, r->fixed ? "{" : "",
			    r->fixed ? r->fixed : "", r->fixed ? "}" : "", (unsigned long long)v[0]);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		r->name((int)i, name, sizeof(name));
		sbuf_printf(out, "%s{%s%s%s=\"%s\"} %llu\n", r->metric, r->fixed ? r->fixed : "",
			    r->fixed ? "," : "", r->dim, name, (unsigned long long)v[i]);
	}
}

void stats_prometheus(const struct stats_src *s, struct sbuf *out)
{
	const struct ctr_row *prev = NULL;
	struct counters c;

	counters_sum(s->ctr, s->workers, &c);
	sbuf_printf(out, "# HELP ssbpf_build_info The running program and version.\n"
		    "# TYPE ssbpf_build_info gauge\nssbpf_build_info{program=\"%s\",version=\"%s\"} 1\n",
		    s->prog, SSBPF_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(ctr_rows); i++) {
		if (!ctr_rows[i].metric)
			continue;
		prom_row(&ctr_rows[i], prev, &c, out);
		prev = &ctr_rows[i];
	}
	sbuf_printf(out, "# HELP ssbpf_replay_filter_fill How full the replay filter's current half "
		    "is (0-1).\n"
		    "# TYPE ssbpf_replay_filter_fill gauge\nssbpf_replay_filter_fill %.4f\n",
		    replay_fill(s->replay));
	histogram(out, "ssbpf_dns_duration_seconds", "Time from a name's lookup to its answer.",
		  c.dns_ms, counters_dns_le, DNS_BUCKETS, c.dns_sum_ms, 0.001);
	histogram(out, "ssbpf_connection_duration_seconds", "Lifetime of closed connections.",
		  c.duration, counters_duration_le, DURATION_BUCKETS, c.duration_sum_ms, 1);
	if (s->traffic && s->traffic->names && s->traffic->names->n) {
		traffic_metric(s->traffic, out, false);
		traffic_metric(s->traffic, out, true);
		limits_metric(s->traffic, out);
	}
	if (s->cap) {
		capture_metric(s, out, false);
		capture_metric(s, out, true);
	}
	if (s->servers)
		servers_metric(s->servers, out);
}
