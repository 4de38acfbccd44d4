// SPDX-License-Identifier: MIT
/* ssctl upgrade on ssmanager: its servers upgraded one at a time, through their control sockets. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_client.h"
#include "json.h"
#include "log.h"
#include "manager_state.h"
#include "manager_upgrade.h"
#include "sbuf.h"

/* A server's control socket: PROG-PORT.sock, the shared tree's named for the manager's pid. */
static void server_ctl(char *buf, size_t len, int port)
{
	if (port)
		ctl_default_path(buf, len, "ssserver", port);
	else
		ctl_default_path(buf, len, "ssserver-shared", (int)getpid());
}

/* The table's pid of a server (0: the shared tree), or NULL when it is gone. */
static pid_t *pid_of(struct manager *m, int port)
{
	if (!port)
		return m->shared.pid > 0 ? &m->shared.pid : NULL;
	for (int i = 0; i < m->n; i++)
		if (m->ports[i].port == port && !m->ports[i].shared && m->ports[i].pid > 0)
			return &m->ports[i].pid;
	return NULL;
}

/* "port 8388", or "the shared server" (port 0), into buf. */
static const char *server_name(char *buf, size_t len, int port)
{
	snprintf(buf, len, port ? "port %d" : "the shared server", port);
	return buf;
}

static void note(struct mgr_upgrade *u, int port, const char *what)
{
	size_t n = strlen(u->notes);
	char name[24];

	server_name(name, sizeof(name), port);
	snprintf(u->notes + n, sizeof(u->notes) - n, "%s%s: %s", n ? "; " : "", name, what);
	log_warn("upgrade: %s: %s", name, what);
}

/* Asks the next server to upgrade; false when it is skipped (refused, unreachable). */
static bool begin_one(struct mgr_upgrade *u, int port)
{
	char path[128];
	struct json *j;
	const struct json *a;
	bool started = false;

	server_ctl(path, sizeof(path), port);
	if (!(j = ctl_client_ask(path, "{\"cmd\":\"upgrade\"}")) ||
	    !(a = json_member(j, "upgrade")) || a->type != JSON_OBJECT) {
		note(u, port, "its control socket did not answer");
	} else if (strcmp(json_member_str(a, "state", ""), "starting")) {
		const char *why = json_member_str(a, "why", "");

		note(u, port, *why ? why : "refused");
	} else {
		u->old = (int)json_member_num(a, "pid");
		u->fresh = (int)json_member_num(a, "new");
		snprintf(u->aside, sizeof(u->aside), "%s", json_member_str(a, "socket", ""));
		started = true;
	}
	json_free(j);
	return started;
}

/* The server under way: done (its successor in the table), failed, or still starting. */
static void follow_one(struct manager *m, struct mgr_upgrade *u, int port)
{
	char home[128], name[24];
	const char *path = u->aside;
	struct json *j;
	const struct json *a;
	const char *state;
	pid_t *pid;

	server_ctl(home, sizeof(home), port);
	if (!u->aside[0] || access(u->aside, F_OK))
		path = home;
	j = ctl_client_ask(path, "{\"cmd\":\"upgrade-status\"}");
	a = j ? json_member(j, "upgrade") : NULL;
	state = a ? json_member_str(a, "state", "") : "";
	if (a && (!strcmp(state, "done") || (int)json_member_num(a, "pid") != u->old)) {
		if ((pid = pid_of(m, port)) && *pid == u->old)
			*pid = u->fresh;
		u->upgraded++;
		log_info("upgrade: %s: pid %d serves in place of pid %d",
			 server_name(name, sizeof(name), port), (int)u->fresh, (int)u->old);
		u->waiting = false;
	} else if (a && !strcmp(state, "failed")) {
		note(u, port, json_member_str(a, "why", ""));
		u->waiting = false;
	} else if (loop_now(m->loop) > u->deadline) {
		note(u, port, "no outcome in time");
		u->waiting = false;
	}
	json_free(j);
	u->at += !u->waiting;
}

void mgr_upgrade_tick(struct manager *m)
{
	struct mgr_upgrade *u = &m->up;

	if (!u->running)
		return;
	if (u->waiting) {
		follow_one(m, u, u->ports[u->at]);
		return;
	}
	for (; u->at < u->n; u->at++) {
		if (!pid_of(m, u->ports[u->at]))
			continue; /* removed meanwhile */
		if (begin_one(u, u->ports[u->at])) {
			u->waiting = true;
			u->deadline = loop_now(m->loop) + MGR_UPGRADE_STEP_S * 1000ull;
			return;
		}
	}
	u->running = false;
	log_info("upgrade: %d servers upgraded%s%s", u->upgraded, u->notes[0] ? "; " : "", u->notes);
}

/* What to upgrade: the shared tree first, then each port with a process of its own. */
static void plan(struct manager *m, struct mgr_upgrade *u)
{
	*u = (struct mgr_upgrade){ .running = true };
	if (m->shared.pid > 0)
		u->ports[u->n++] = 0;
	for (int i = 0; i < m->n && u->n < (int)(sizeof(u->ports) / sizeof(u->ports[0])); i++)
		if (!m->ports[i].shared && m->ports[i].pid > 0)
			u->ports[u->n++] = m->ports[i].port;
}

void mgr_upgrade_ctl(void *arg, bool start, const char *who, struct sbuf *out)
{
	struct manager *m = arg;
	struct mgr_upgrade *u = &m->up;

	if (start && u->running) {
		sbuf_printf(out, "{\"state\":\"refused\",\"pid\":%d,\"why\":\"an upgrade of the servers "
			    "is under way (%d of %d)\"}", (int)getpid(), u->at + 1, u->n);
		return;
	}
	if (start) {
		log_info("upgrade of every server, asked by %s", who);
		plan(m, u);
		mgr_upgrade_tick(m);
	}
	/* The manager itself stays: "new" is its own pid, "done" once the last server is. */
	sbuf_printf(out, "{\"state\":\"%s\",\"pid\":%d,\"new\":%d,\"servers\":%d,\"upgraded\":%d",
		    u->running ? "starting" : u->n ? "done" : "none", (int)getpid(), (int)getpid(),
		    u->n, u->upgraded);
	if (u->notes[0]) {
		sbuf_printf(out, ",\"notes\":");
		sbuf_json_str(out, u->notes);
	}
	sbuf_printf(out, "}");
}
