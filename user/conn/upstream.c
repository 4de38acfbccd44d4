// SPDX-License-Identifier: MIT
/* sslocal's servers: the pool, its shared records, and the choice of a server (upstream.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "config.h"
#include "log.h"
#include "upstream.h"

int upstream_init(struct upstream *u, const char *host, int port, const struct ss_method *m,
		  const char *password, bool raw, const char **why)
{
	int r;

	memset(u, 0, sizeof(*u));
	u->index = -1;
	if ((r = key_init(&u->key, m, password, raw, NULL, port)))
		return why_fmt(why, "server %s:%d: its key: %s", host, port, strerror(-r));
	if (addr_from_host(&u->server, host, (uint16_t)port))
		return why_fmt(why, "server \"%s\" is not a host", host);
	snprintf(u->host, sizeof(u->host), "%s", host);
	u->port = (uint16_t)port;
	return 0;
}

int upstream_from_uri(const char *uri, struct upstream **out, const char **why)
{
	struct config_upstream cu;
	struct upstream *up = NULL;
	int r;

	if ((r = config_upstream(uri, &cu, why)))
		return r;
	if (!(up = malloc(sizeof(*up))))
		r = why_fmt(why, "out of memory");
	else if (!(r = upstream_init(up, cu.host, cu.port, cu.m, cu.password, false, why)))
		*out = up;
	if (r && up) {
		explicit_bzero(up, sizeof(*up));
		free(up);
	}
	explicit_bzero(&cu, sizeof(cu));
	return r;
}

void upstream_put(struct upstream *up)
{
	if (!up || --up->refs || !up->dead)
		return;
	explicit_bzero(up, sizeof(*up));
	free(up);
}

int upstream_pool_open(struct upstream_pool **out, const struct ss_config *cfg, const char **why)
{
	struct upstream_pool *pl;
	int r = 0;

	if (cfg->nupstreams > UPSTREAM_MAX)
		return why_fmt(why, "%d servers: at most %d", cfg->nupstreams, UPSTREAM_MAX);
	if (!(pl = calloc(1, sizeof(*pl))))
		return -ENOMEM;
	pl->st = mmap(NULL, UPSTREAM_MAX * sizeof(*pl->st), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pl->st == MAP_FAILED) {
		free(pl);
		return -ENOMEM;
	}
	pl->mode = cfg->balance;
	for (int i = 0; i < cfg->nupstreams && !r; i++) {
		const struct cfg_server *s = &cfg->upstreams[i];

		if (!(r = upstream_init(&pl->u[i], s->host, s->port, s->m, s->password, s->raw_key,
					why))) {
			pl->u[i].index = i;
			pl->u[i].st = &pl->st[i];
			pl->n++;
		}
	}
	if (r) {
		upstream_pool_close(pl);
		return r;
	}
	*out = pl;
	return 0;
}

void upstream_pool_close(struct upstream_pool *pl)
{
	if (!pl)
		return;
	munmap(pl->st, UPSTREAM_MAX * sizeof(*pl->st));
	explicit_bzero(pl, sizeof(*pl));
	free(pl);
}

bool upstream_is_failed(const struct upstream *u)
{
	return u->st && __atomic_load_n(&u->st->state, __ATOMIC_RELAXED) == UP_FAILED;
}

const char *upstream_str(const struct upstream *u, char *buf, size_t len)
{
	bool v6 = strchr(u->host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
	return buf;
}

/* Best first: the smoothed check latency; a server not measured yet after every measured one. */
static uint64_t score(const struct upstream *u)
{
	uint32_t rtt = __atomic_load_n(&u->st->rtt_us, __ATOMIC_RELAXED);

	return rtt ? rtt : UINT32_MAX;
}

static uint64_t failures(const struct upstream *u)
{
	return u->st->check_failures + u->st->connect_failures;
}

struct upstream *upstream_pick(struct upstream_pool *pl, uint64_t tried)
{
	struct upstream *best = NULL, *least = NULL;

	for (int k = 0; k < pl->n; k++) {
		int i = pl->mode == BALANCE_ROUND ? (int)((pl->turn + (unsigned)k) % (unsigned)pl->n) : k;
		struct upstream *u = &pl->u[i];

		if (tried >> i & 1)
			continue;
		if (!least || failures(u) < failures(least))
			least = u;
		if (upstream_is_failed(u))
			continue;
		if (!best || score(u) < score(best))
			best = u;
		if (pl->mode != BALANCE_BEST)
			break;
	}
	if (best && pl->mode == BALANCE_ROUND)
		pl->turn = (unsigned)best->index + 1;
	return best ? best : least;
}

void upstream_failed(struct upstream *u, const char *why)
{
	if (!u->st)
		return;
	upstream_count(u, &u->st->connect_failures, 1);
	if (__atomic_exchange_n(&u->st->state, UP_FAILED, __ATOMIC_RELAXED) != UP_FAILED) {
		snprintf(u->st->why, sizeof(u->st->why), "%s", why);
		log_warn("server %s:%u failed: %s; new connections go to the others until it "
			 "passes a check", u->host, u->port, why);
	}
}

void upstream_count(struct upstream *u, uint64_t *field, uint64_t n)
{
	if (u && u->st)
		__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

const char *upstream_state_name(uint32_t state)
{
	static const char *const names[] = { "unknown", "ok", "failed" };

	return state < ARRAY_SIZE(names) ? names[state] : "?";
}

void upstream_tcp(const struct ss_config *cfg, const struct upstream *u, const char **host,
		  uint16_t *port)
{
	if (cfg->plugin_port) {
		*host = "127.0.0.1";
		*port = (uint16_t)cfg->plugin_port;
		return;
	}
	*host = u->host;
	*port = u->port;
}

void upstream_each(const struct ss_config *cfg,
		   void (*fn)(void *arg, const char *host, uint16_t port), void *arg)
{
	for (int i = 0; i < cfg->nupstreams; i++)
		fn(arg, cfg->upstreams[i].host, (uint16_t)cfg->upstreams[i].port);
	for (int i = 0; !cfg->nupstreams && i < cfg->nservers; i++)
		fn(arg, cfg->servers[i], (uint16_t)cfg->server_port);
}
