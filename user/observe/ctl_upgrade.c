// SPDX-License-Identifier: MIT
/* ssctl upgrade: start the daemon's successor, then follow it until it serves or fails. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_client.h"
#include "json.h"

#define FOLLOW_S 75 /* the daemon's own readiness limit, and some */

/* The daemon's answer's "upgrade" object, in *j (to free); NULL when it has none. */
static const struct json *ask_upgrade(const char *path, const char *cmd, struct json **j,
				      bool quiet)
{
	char req[64];
	const struct json *u;

	snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", cmd);
	if (!(*j = ctl_client_ask(path, req)))
		return NULL;
	if (!(u = json_member(*j, "upgrade")) || u->type != JSON_OBJECT) {
		const char *err = json_member_str(*j, "error", "");

		if (!quiet)
			fprintf(stderr, "ssctl upgrade: %s\n", *err ? err : "no answer about an upgrade");
		return NULL;
	}
	return u;
}

/* Until the old process says done or failed (asked where its socket is now). */
static int follow(const char *home, const char *aside, int old, int fresh)
{
	for (time_t end = time(NULL) + FOLLOW_S; time(NULL) < end; usleep(100 * 1000)) {
		const char *path = aside[0] && !access(aside, F_OK) ? aside : home;
		struct json *j = NULL;
		const struct json *u = ask_upgrade(path, "upgrade-status", &j, false);
		const char *state = u ? json_member_str(u, "state", "") : "";
		int pid = u ? (int)json_member_num(u, "pid") : 0;

		/* ssmanager stays itself: its servers were upgraded one by one. */
		if (u && fresh == old && !strcmp(state, "done")) {
			int done = (int)json_member_num(u, "upgraded"), n = (int)json_member_num(u, "servers");
			const char *notes = json_member_str(u, "notes", "");

			printf("upgraded: %d of the %d servers of pid %d%s%s\n", done, n, old,
			       *notes ? "; " : "", notes);
			json_free(j);
			return done == n ? 0 : 1;
		}
		if (u && fresh != old && (!strcmp(state, "done") || pid != old)) {
			printf("upgraded: pid %d serves; pid %d drains its live connections and exits\n",
			       fresh, old);
			json_free(j);
			return 0;
		}
		if (u && !strcmp(state, "failed")) {
			fprintf(stderr, "ssctl upgrade: failed, pid %d still serves: %s\n", old,
				json_member_str(u, "why", ""));
			json_free(j);
			return 1;
		}
		json_free(j);
	}
	fprintf(stderr, "ssctl upgrade: no outcome within %d s; see the daemon's log\n", FOLLOW_S);
	return 1;
}

int ctl_client_upgrade_pid(const char *paths, size_t stride, int n, int pid)
{
	for (int i = 0; i < n; i++) {
		const char *path = paths + (size_t)i * stride;
		struct json *j = NULL;
		const struct json *u = ask_upgrade(path, "upgrade-status", &j, true);
		bool match = u && (int)json_member_num(u, "pid") == pid;

		json_free(j);
		if (match)
			return ctl_client_upgrade(path, 0, NULL);
	}
	fprintf(stderr, "ssctl upgrade: no control socket of pid %d\n", pid);
	return 1;
}

int ctl_client_upgrade(const char *path, int argc, char **argv)
{
	struct json *j = NULL;
	const struct json *u;
	char aside[300];
	int old, fresh;

	(void)argv;
	if (argc) {
		fprintf(stderr, "ssctl upgrade: takes no arguments\n");
		return 2;
	}
	if (!(u = ask_upgrade(path, "upgrade", &j, false))) {
		json_free(j);
		return 1;
	}
	if (!strcmp(json_member_str(u, "state", ""), "refused")) {
		fprintf(stderr, "ssctl upgrade: refused: %s\n", json_member_str(u, "why", ""));
		json_free(j);
		return 1;
	}
	old = (int)json_member_num(u, "pid");
	fresh = (int)json_member_num(u, "new");
	snprintf(aside, sizeof(aside), "%s", json_member_str(u, "socket", ""));
	json_free(j);
	printf("upgrade: pid %d started pid %d; waiting for it to be ready\n", old, fresh);
	fflush(stdout);
	return follow(path, aside, old, fresh);
}
