// SPDX-License-Identifier: MIT
/* The counters of every worker, summed, as ssctl stats JSON and as Prometheus metrics. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "counters.h"
#include "replay.h"
#include "sbuf.h"
#include "stats.h"
#include "traffic.h"

static const char *const tier_names[CTR_TIERS] = { "userspace", "splice", "sockmap", "shortcut" };

/* The UDP drop reasons, in struct udp_stats order after in and out. */
static const char *const udp_drops[] = { "bad_crypto", "bad_header", "fragmented", "oversize",
					 "no_association", "unresolved", "send_failed", "evicted",
					 "replayed", "refused" };

static void fail_name(enum ctr_fail f, char *out, size_t len)
{
	const char *n = counters_fail_name(f);
	size_t i = 0;

	for (; n[i] && i + 1 < len; i++)
		out[i] = n[i] == ' ' ? '_' : (char)tolower((unsigned char)n[i]);
	out[i] = 0;
}

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

static uint64_t hist_count(const uint64_t *b, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i <= n; i++)
		sum += b[i];
	return sum;
}

void stats_json(const struct stats_src *s, struct sbuf *out)
{
	struct counters c;
	const uint64_t *udp;
	char name[32];

	counters_sum(s->ctr, s->workers, &c);
	udp = (const uint64_t *)&c.udp;
	sbuf_printf(out, "{\"program\":\"%s\",\"workers\":%zu,\"connections\":{\"accepted\":%llu,"
		    "\"closed\":%llu,\"by_stage\":{", s->prog, s->workers,
		    (unsigned long long)c.accepted, (unsigned long long)c.closed);
	for (int st = 0; st < ST_DESTROYED; st++)
		sbuf_printf(out, "%s\"%s\":%llu", st ? "," : "", conn_stage_name(st),
			    (unsigned long long)c.live[st]);
	sbuf_printf(out, "}},\"bytes\":{");
	for (int t = 0; t < CTR_TIERS; t++)
		sbuf_printf(out, "%s\"%s\":{\"up\":%llu,\"down\":%llu}", t ? "," : "", tier_names[t],
			    (unsigned long long)c.bytes_up[t], (unsigned long long)c.bytes_down[t]);
	sbuf_printf(out, "},\"handshake_failures\":{");
	for (int f = 0; f < FAIL_REASONS; f++) {
		fail_name(f, name, sizeof(name));
		sbuf_printf(out, "%s\"%s\":%llu", f ? "," : "", name, (unsigned long long)c.fail[f]);
	}
	sbuf_printf(out, "},\"handoffs\":{\"to_sockmap\":%llu,\"to_splice\":%llu,"
		    "\"sockmap_to_splice\":%llu},\"udp\":{\"associations\":%llu,"
		    "\"associations_opened\":%llu,\"in\":%llu,\"out\":%llu,\"drops\":{",
		    (unsigned long long)c.to_sockmap, (unsigned long long)c.to_splice,
		    (unsigned long long)c.left_sockmap, (unsigned long long)c.udp_assoc_live,
		    (unsigned long long)c.udp_assoc_opened, (unsigned long long)c.udp.in,
		    (unsigned long long)c.udp.out);
	for (size_t i = 0; i < ARRAY_SIZE(udp_drops); i++)
		sbuf_printf(out, "%s\"%s\":%llu", i ? "," : "", udp_drops[i],
			    (unsigned long long)udp[2 + i]);
	sbuf_printf(out, "}},\"shortcut\":{\"connections\":%llu,\"left\":%llu,\"bytes\":%llu,"
		    "\"sockets\":%llu,\"redirected_bytes\":%llu",
		    (unsigned long long)c.to_shortcut, (unsigned long long)c.left_shortcut,
		    (unsigned long long)c.shortcut_bytes,
		    (unsigned long long)c.shortcut_socks, (unsigned long long)c.shortcut_redirected);
	sbuf_printf(out, "},\"dns\":{\"answers\":%llu,\"ms_total\":%llu,\"cache_hits\":%llu,"
		    "\"cache_misses\":%llu,\"cache_entries\":%llu},\"bpf\":{\"workers_loaded\":%llu,"
		    "\"sockmap_sockets\":%llu},\"replay_filter_fill\":%.4f,\"traffic\":{",
		    (unsigned long long)hist_count(c.dns_ms, DNS_BUCKETS),
		    (unsigned long long)c.dns_sum_ms, (unsigned long long)c.dns_hits,
		    (unsigned long long)c.dns_misses, (unsigned long long)c.dns_cache_entries,
		    (unsigned long long)c.bpf_loaded, (unsigned long long)c.sockmap_socks,
		    replay_fill(s->replay));
	traffic_json(s->traffic, out);
	sbuf_printf(out, "}}");
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

void stats_prometheus(const struct stats_src *s, struct sbuf *out)
{
	struct counters c;
	const uint64_t *udp;
	char name[32];

	counters_sum(s->ctr, s->workers, &c);
	udp = (const uint64_t *)&c.udp;
	sbuf_printf(out, "# HELP ssbpf_build_info The running program and version.\n"
		    "# TYPE ssbpf_build_info gauge\nssbpf_build_info{program=\"%s\",version=\"%s\"} 1\n",
		    s->prog, SSBPF_VERSION);
	sbuf_printf(out, "# HELP ssbpf_connections Live connections by stage.\n"
		    "# TYPE ssbpf_connections gauge\n");
	for (int st = 0; st < ST_DESTROYED; st++)
		sbuf_printf(out, "ssbpf_connections{stage=\"%s\"} %llu\n", conn_stage_name(st),
			    (unsigned long long)c.live[st]);
	sbuf_printf(out, "# HELP ssbpf_connections_opened_total Connections accepted.\n"
		    "# TYPE ssbpf_connections_opened_total counter\nssbpf_connections_opened_total %llu\n"
		    "# HELP ssbpf_connections_closed_total Connections closed.\n"
		    "# TYPE ssbpf_connections_closed_total counter\nssbpf_connections_closed_total %llu\n",
		    (unsigned long long)c.accepted, (unsigned long long)c.closed);
	sbuf_printf(out, "# HELP ssbpf_relayed_bytes_total STREAM bytes by direction and tier.\n"
		    "# TYPE ssbpf_relayed_bytes_total counter\n");
	for (int t = 0; t < CTR_TIERS; t++)
		sbuf_printf(out, "ssbpf_relayed_bytes_total{direction=\"up\",tier=\"%s\"} %llu\n"
			    "ssbpf_relayed_bytes_total{direction=\"down\",tier=\"%s\"} %llu\n",
			    tier_names[t], (unsigned long long)c.bytes_up[t], tier_names[t],
			    (unsigned long long)c.bytes_down[t]);
	sbuf_printf(out, "# HELP ssbpf_handshake_failures_total Connections that ended before STREAM.\n"
		    "# TYPE ssbpf_handshake_failures_total counter\n");
	for (int f = 0; f < FAIL_REASONS; f++) {
		fail_name(f, name, sizeof(name));
		sbuf_printf(out, "ssbpf_handshake_failures_total{reason=\"%s\"} %llu\n", name,
			    (unsigned long long)c.fail[f]);
	}
	sbuf_printf(out, "# HELP ssbpf_udp_associations Live UDP associations (NAT entries).\n"
		    "# TYPE ssbpf_udp_associations gauge\nssbpf_udp_associations %llu\n"
		    "# HELP ssbpf_udp_associations_opened_total UDP associations opened.\n"
		    "# TYPE ssbpf_udp_associations_opened_total counter\n"
		    "ssbpf_udp_associations_opened_total %llu\n", (unsigned long long)c.udp_assoc_live,
		    (unsigned long long)c.udp_assoc_opened);
	sbuf_printf(out, "# HELP ssbpf_udp_datagrams_total UDP datagrams relayed.\n"
		    "# TYPE ssbpf_udp_datagrams_total counter\n"
		    "ssbpf_udp_datagrams_total{direction=\"up\"} %llu\n"
		    "ssbpf_udp_datagrams_total{direction=\"down\"} %llu\n"
		    "# HELP ssbpf_udp_drops_total UDP datagrams dropped, by reason.\n"
		    "# TYPE ssbpf_udp_drops_total counter\n",
		    (unsigned long long)c.udp.in, (unsigned long long)c.udp.out);
	for (size_t i = 0; i < ARRAY_SIZE(udp_drops); i++)
		sbuf_printf(out, "ssbpf_udp_drops_total{reason=\"%s\"} %llu\n", udp_drops[i],
			    (unsigned long long)udp[2 + i]);
	sbuf_printf(out, "# HELP ssbpf_replay_filter_fill How full the replay filter's current half "
		    "is (0-1).\n"
		    "# TYPE ssbpf_replay_filter_fill gauge\nssbpf_replay_filter_fill %.4f\n",
		    replay_fill(s->replay));
	sbuf_printf(out, "# HELP ssbpf_dns_cache_lookups_total Names looked up, by result.\n"
		    "# TYPE ssbpf_dns_cache_lookups_total counter\n"
		    "ssbpf_dns_cache_lookups_total{result=\"hit\"} %llu\n"
		    "ssbpf_dns_cache_lookups_total{result=\"miss\"} %llu\n"
		    "# HELP ssbpf_dns_cache_entries Live entries of the resolvers' caches.\n"
		    "# TYPE ssbpf_dns_cache_entries gauge\nssbpf_dns_cache_entries %llu\n"
		    "# HELP ssbpf_shortcut_sockets Sockets in the local shortcut's map.\n"
		    "# TYPE ssbpf_shortcut_sockets gauge\nssbpf_shortcut_sockets %llu\n"
		    "# HELP ssbpf_shortcut_redirected_bytes_total Bytes the local shortcut moved "
		    "socket to socket.\n# TYPE ssbpf_shortcut_redirected_bytes_total counter\n"
		    "ssbpf_shortcut_redirected_bytes_total %llu\n"
		    "# HELP ssbpf_shortcut_connections_total Connections with a leg on the local "
		    "shortcut.\n# TYPE ssbpf_shortcut_connections_total counter\n"
		    "ssbpf_shortcut_connections_total %llu\n"
		    "# HELP ssbpf_sockmap_sockets Sockets in the sockmap STREAM tier.\n"
		    "# TYPE ssbpf_sockmap_sockets gauge\nssbpf_sockmap_sockets %llu\n",
		    (unsigned long long)c.dns_hits, (unsigned long long)c.dns_misses,
		    (unsigned long long)c.dns_cache_entries, (unsigned long long)c.shortcut_socks,
		    (unsigned long long)c.shortcut_redirected, (unsigned long long)c.to_shortcut,
		    (unsigned long long)c.sockmap_socks);
	histogram(out, "ssbpf_dns_duration_seconds", "Time from a name's lookup to its answer.",
		  c.dns_ms, counters_dns_le, DNS_BUCKETS, c.dns_sum_ms, 0.001);
	histogram(out, "ssbpf_connection_duration_seconds", "Lifetime of closed connections.",
		  c.duration, counters_duration_le, DURATION_BUCKETS, c.duration_sum_ms, 1);
	if (s->traffic && s->traffic->names && s->traffic->names->n) {
		traffic_metric(s->traffic, out, false);
		traffic_metric(s->traffic, out, true);
	}
}
