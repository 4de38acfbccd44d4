// SPDX-License-Identifier: MIT
/* sslocal's servers: the pool, its shared records, and the choice of a server (upstream.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "config.h"
#include "crypto.h"
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

/* A slot of the shared list from a configured server. */
static int def_of(struct upstream_def *d, const struct cfg_server *s)
{
	memset(d, 0, sizeof(*d));
	if (strlen(s->host) >= sizeof(d->host) || strlen(s->m->name) >= sizeof(d->method) ||
	    strlen(s->password) >= sizeof(d->password))
		return -ENAMETOOLONG;
	strcpy(d->host, s->host);
	strcpy(d->method, s->m->name);
	strcpy(d->password, s->password);
	d->port = (uint16_t)s->port;
	d->raw = s->raw_key;
	d->online = s->online;
	d->used = 1;
	return 0;
}

int upstream_pool_open(struct upstream_pool **out, const struct ss_config *cfg, const char **why)
{
	struct upstream_pool *pl;

	if (cfg->nupstreams > UPSTREAM_MAX)
		return why_fmt(why, "%d servers: at most %d", cfg->nupstreams, UPSTREAM_MAX);
	if (!(pl = calloc(1, sizeof(*pl))))
		return -ENOMEM;
	pl->sh = mmap(NULL, sizeof(*pl->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (pl->sh == MAP_FAILED) {
		free(pl);
		return -ENOMEM;
	}
	pl->mode = cfg->balance;
	for (int i = 0; i < cfg->nupstreams; i++) {
		if (def_of(&pl->sh->d[i], &cfg->upstreams[i])) {
			upstream_pool_close(pl);
			return why_fmt(why, "server %s: a name or password too long",
				       cfg->upstreams[i].host);
		}
	}
	pl->sh->gen = 2;
	upstream_pool_sync(pl);
	if (upstream_pool_live(pl) != cfg->nupstreams) {
		upstream_pool_close(pl);
		return why_fmt(why, "a server's key cannot be set up");
	}
	*out = pl;
	return 0;
}

/* The slot's server leaves this process: freed now, or by the last connection holding it. */
static void drop(struct upstream_pool *pl, int i)
{
	struct upstream *u = pl->u[i];

	pl->u[i] = NULL;
	if (!u)
		return;
	u->st = NULL;
	u->dead = true;
	u->refs++;
	upstream_put(u);
}

static void build(struct upstream_pool *pl, int i, const struct upstream_def *d)
{
	const struct ss_method *m;
	const char *why = "out of memory";
	struct upstream *u = NULL;

	drop(pl, i);
	if (!d->used)
		return;
	if ((m = crypto_method_find(d->method, &why)) && (u = malloc(sizeof(*u))) &&
	    upstream_init(u, d->host, d->port, m, d->password, d->raw, &why)) {
		free(u);
		u = NULL;
	}
	if (!u) {
		log_warn("server %s:%u: %s; left out", d->host, d->port, why);
		return;
	}
	u->index = i;
	u->st = &pl->sh->st[i];
	pl->u[i] = u;
}

void upstream_pool_sync(struct upstream_pool *pl)
{
	static struct upstream_def now[UPSTREAM_MAX];
	uint32_t g = __atomic_load_n(&pl->sh->gen, __ATOMIC_ACQUIRE);

	if (g == pl->gen || g & 1)
		return;
	memcpy(now, pl->sh->d, sizeof(now));
	if (__atomic_load_n(&pl->sh->gen, __ATOMIC_ACQUIRE) != g)
		return; /* written meanwhile: the next call */
	pl->n = 0;
	for (int i = 0; i < UPSTREAM_MAX; i++) {
		if (memcmp(&now[i], &pl->have[i], sizeof(now[i])))
			build(pl, i, &now[i]);
		pl->have[i] = now[i];
		if (pl->u[i])
			pl->n = i + 1;
	}
	explicit_bzero(now, sizeof(now));
	pl->gen = g;
}

int upstream_pool_live(const struct upstream_pool *pl)
{
	int n = 0;

	for (int i = 0; i < pl->n; i++)
		n += pl->u[i] != NULL;
	return n;
}

void upstream_pool_close(struct upstream_pool *pl)
{
	if (!pl)
		return;
	for (int i = 0; i < UPSTREAM_MAX; i++)
		drop(pl, i);
	munmap(pl->sh, sizeof(*pl->sh));
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

	upstream_pool_sync(pl);
	for (int k = 0; k < pl->n; k++) {
		int i = pl->mode == BALANCE_ROUND ? (int)((pl->turn + (unsigned)k) % (unsigned)pl->n) : k;
		struct upstream *u = pl->u[i];

		if (!u || tried >> i & 1)
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

void upstream_pool_each_online(const struct upstream_pool *pl,
			       void (*fn)(void *arg, const char *host, uint16_t port), void *arg)
{
	for (int i = 0; pl && i < pl->n; i++)
		if (pl->u[i] && pl->have[i].online)
			fn(arg, pl->have[i].host, pl->have[i].port);
}

/* The online slot holding a server like d, or -1. */
static int online_slot(const struct upstream_shared *sh, const struct upstream_def *d)
{
	for (int i = 0; i < UPSTREAM_MAX; i++)
		if (sh->d[i].used && sh->d[i].online && !memcmp(&sh->d[i], d, sizeof(*d)))
			return i;
	return -1;
}

int upstream_list_set_online(struct upstream_shared *sh, const struct cfg_server *list, int n,
			     int *kept)
{
	struct upstream_def d[UPSTREAM_MAX];
	bool keep[UPSTREAM_MAX] = { 0 }, placed[UPSTREAM_MAX] = { 0 };
	int free_slots = 0, need = 0, r = 0;

	if (n > UPSTREAM_MAX)
		return -ENOSPC;
	for (int j = 0; j < n && !r; j++) {
		int i;

		if ((r = def_of(&d[j], &list[j])))
			break;
		d[j].online = 1;
		if ((i = online_slot(sh, &d[j])) >= 0 && !keep[i])
			keep[i] = placed[j] = true;
		else
			need++;
	}
	for (int i = 0; i < UPSTREAM_MAX; i++)
		free_slots += !sh->d[i].used || (sh->d[i].online && !keep[i]);
	if (!r && need > free_slots)
		r = -ENOSPC;
	if (r) {
		explicit_bzero(d, sizeof(d));
		return r;
	}
	*kept = n - need;
	__atomic_fetch_add(&sh->gen, 1, __ATOMIC_ACQ_REL); /* odd: being written */
	for (int i = 0; i < UPSTREAM_MAX; i++) {
		if (sh->d[i].online && !keep[i]) {
			memset(&sh->d[i], 0, sizeof(sh->d[i]));
			memset(&sh->st[i], 0, sizeof(sh->st[i]));
		}
	}
	for (int j = 0, i = 0; j < n; j++) {
		if (placed[j])
			continue;
		while (sh->d[i].used)
			i++;
		sh->d[i] = d[j];
		memset(&sh->st[i], 0, sizeof(sh->st[i]));
	}
	__atomic_fetch_add(&sh->gen, 1, __ATOMIC_ACQ_REL);
	explicit_bzero(d, sizeof(d));
	return 0;
}
