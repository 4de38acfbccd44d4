// SPDX-License-Identifier: MIT
/* sslocal's SIP008 online configuration: fetched, checked whole, shared (online.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "log.h"
#include "online.h"
#include "tree.h"
#include "upstream.h"

#define FETCH_TIMEOUT_S 20

/* The servers of the document at cfg's URL; 0 or -1 with why. */
static int fetch_servers(const struct ss_config *cfg, struct cfg_server **list, int *n,
			 const char **why)
{
	char *doc = NULL;
	size_t len = 0;
	int skipped = 0, r;

	if (fetch_url(cfg->online_url, cfg->ca_file, FETCH_TIMEOUT_S, &doc, &len, why))
		return -1;
	r = sip008_parse(doc, len, list, n, &skipped, why);
	if (doc)
		explicit_bzero(doc, len);
	free(doc);
	if (r)
		return -1;
	if (skipped)
		log_warn("online config: %d servers with a plugin left out (sslocal runs the "
			 "top-level plugin only)", skipped);
	return 0;
}

int online_first(struct ss_config *cfg)
{
	struct cfg_server *list = NULL;
	const char *why = "";
	int n = 0, r;

	if (fetch_servers(cfg, &list, &n, &why)) {
		if (cfg->online_only) {
			log_err("online config %s: %s; no server to use", cfg->online_url, why);
			return -1;
		}
		log_warn("online config %s: %s; using the configured servers until a fetch "
			 "succeeds", cfg->online_url, why);
		return 0;
	}
	if ((r = config_online_adopt(cfg, list, n, &why)))
		log_err("online config: %s", r == -ENOMEM ? "out of memory" : why);
	else
		log_info("online config: %d servers from %s", n, cfg->online_url);
	config_server_list_free(list, n);
	return r ? -1 : 0;
}

static int online_count(const struct upstream_shared *sh)
{
	int n = 0;

	for (int i = 0; i < UPSTREAM_MAX; i++)
		n += sh->d[i].used && sh->d[i].online;
	return n;
}

/* In the fetch's child: the shared list from a good document; the exit status. */
static int refresh(const struct tree *t)
{
	struct upstream_shared *sh = t->servers->sh;
	struct cfg_server *list = NULL;
	const char *why = "";
	int n = 0, kept = 0, before = online_count(sh);
	int r = fetch_servers(t->cfg, &list, &n, &why);
	/* The fetch is over: the hung-server alarm must not cut the list's write in half. */
	alarm(0);
	if (r)
		log_err("online config %s: %s; keeping the %d servers of the last good document",
			t->cfg->online_url, why, before);
	else if ((r = upstream_list_set_online(sh, list, n, &kept)))
		log_err("online config %s: %d servers, more than the %d sslocal holds; keeping "
			"the last good document", t->cfg->online_url, n, UPSTREAM_MAX);
	if (!r)
		log_info("online config: %d servers (%d unchanged, %d new, %d gone)", n, kept,
			 n - kept, before - kept);
	config_server_list_free(list, n);
	return r ? 1 : 0;
}

void online_tick(struct tree *t)
{
	time_t now = time(NULL);
	sigset_t none;
	pid_t pid;

	if (!t->cfg->online_url || !t->servers || t->online_pid > 0 || now < t->online_next ||
	    t->stopping)
		return;
	t->online_next = now + t->cfg->online_interval;
	if ((pid = fork()) < 0) {
		log_err("online config: cannot fork the fetch: %s", strerror(errno));
		return;
	}
	if (pid) {
		t->online_pid = pid;
		return;
	}
	/* The child: signals as a plain process has them, and an end to a hung server. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	alarm(FETCH_TIMEOUT_S * 2);
	_exit(refresh(t));
}

bool online_reaped(struct tree *t, pid_t pid)
{
	if (pid <= 0 || pid != t->online_pid)
		return false;
	t->online_pid = -1;
	return true;
}

void online_stop(struct tree *t)
{
	if (t->online_pid > 0)
		kill(t->online_pid, SIGTERM);
}
