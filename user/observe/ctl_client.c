// SPDX-License-Identifier: MIT
/* ssctl conns / stats / top / kill: one request line, one JSON line back. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_client.h"
#include "json.h"
#include "qr.h"
#include "sbuf.h"

/* The one socket in the default folder; NULL (and a message) when there is none or several. */
#define SOCK_PATH 300
#define MAX_DAEMONS 256

/* Does a daemon answer on path? A socket file whose daemon died refuses. */
static bool alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	up = fd >= 0 && (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || errno != ECONNREFUSED);
	if (fd >= 0)
		close(fd);
	return up;
}

/* The live control sockets in the runtime folder (those of port, when given); how many. */
static int list_sockets(char (*out)[SOCK_PATH], int max, int port)
{
	char dir[256], tail[16];
	const char *slash;
	int found = 0;
	DIR *d;
	struct dirent *e;

	ctl_default_path(dir, sizeof(dir), "x", 0);
	slash = strrchr(dir, '/');
	dir[slash - dir] = 0;
	snprintf(tail, sizeof(tail), "-%d.sock", port);
	if (!(d = opendir(dir))) {
		fprintf(stderr, "ssctl: no control socket in %s (%s); give -s PATH\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) && found < max) {
		size_t n = strlen(e->d_name), t = strlen(tail);

		if (n <= 5 || strcmp(e->d_name + n - 5, ".sock") ||
		    (port && (n <= t || strcmp(e->d_name + n - t, tail))))
			continue;
		snprintf(out[found], SOCK_PATH, "%.150s/%.120s", dir, e->d_name);
		found += alive(out[found]);
	}
	closedir(d);
	if (!found)
		fprintf(stderr, "ssctl: no control socket%s in %s; give -s PATH\n",
			port ? " of that port" : "", dir);
	return found ? found : -1;
}

/* A member of an answer: a number (0 when absent), or a string ("" when absent). */
static double num(const struct json *o, const char *key)
{
	return json_member_num(o, key);
}

static const char *str(const struct json *o, const char *key)
{
	return json_member_str(o, key, "");
}

/* The daemon's error, if it answered one. */
static bool refused(const struct json *j)
{
	if (!json_member(j, "error"))
		return false;
	fprintf(stderr, "ssctl: %s\n", str(j, "error"));
	return true;
}

static bool keep(const struct json *c, const char *stage, const char *target)
{
	return (!stage || !strcasecmp(str(c, "stage"), stage)) &&
	       (!target || strstr(str(c, "target"), target) || strstr(str(c, "target_addr"), target));
}

static void print_row(const struct json *c)
{
	char tiers[40];

	snprintf(tiers, sizeof(tiers), "%s/%s", str(c, "tier_up"), str(c, "tier_down"));
	printf("%-8.0f %-3.0f %-22s %-30.30s %-10s %-19s %12.0f %12.0f %7.1f %7.1f %s\n",
	       num(c, "id"), num(c, "worker"), str(c, "client"), str(c, "target"), str(c, "stage"), tiers,
	       num(c, "bytes_up"), num(c, "bytes_down"), num(c, "age_s"), num(c, "idle_s"),
	       *str(c, "user") ? str(c, "user") : str(c, "server"));
}

static void print_header(void)
{
	printf("%-8s %-3s %-22s %-30s %-10s %-19s %12s %12s %7s %7s %s\n", "ID", "W", "CLIENT", "TARGET",
	       "STAGE", "TIER UP/DOWN", "BYTES UP", "BYTES DOWN", "AGE s", "IDLE s", "USER/SERVER");
}

static int conns(const char *path, int argc, char **argv)
{
	const char *stage = NULL, *target = NULL;
	bool as_json = false;
	struct json *j;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			as_json = true;
		else if (!strcmp(argv[i], "--stage") && i + 1 < argc)
			stage = argv[++i];
		else if (!strcmp(argv[i], "--target") && i + 1 < argc)
			target = argv[++i];
		else {
			fprintf(stderr, "ssctl conns: unknown argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (!(j = ctl_client_ask(path, "{\"cmd\":\"conns\"}")) || refused(j)) {
		json_free(j);
		return 1;
	}
	const struct json *list = json_member(j, "connections");
	bool first = true;

	if (as_json)
		printf("{\"connections\": [");
	else
		print_header();
	for (const struct json *c = list ? list->child : NULL; c; c = c->next) {
		if (!keep(c, stage, target))
			continue;
		if (!as_json) {
			print_row(c);
			continue;
		}
		struct sbuf b = { 0 };

		json_write(c, &b);
		printf("%s\n  %s", first ? "" : ",", b.p ? b.p : "{}");
		sbuf_free(&b);
		first = false;
	}
	if (as_json)
		printf("\n]}\n");
	json_free(j);
	return 0;
}

/* The members of an object as "name value" pairs on one line. */
static void print_pairs(const char *title, const struct json *o)
{
	printf("%-20s", title);
	for (const struct json *f = o ? o->child : NULL; f; f = f->next)
		if (f->type == JSON_NUMBER)
			printf(" %s %.*f", f->key, f->number == (double)(long long)f->number ? 0 : 4, f->number);
	printf("\n");
}

/* ssserver's rate and data limits: one line per port or user that has one. */
static void print_limits(const struct json *o)
{
	for (const struct json *f = o ? o->child : NULL; f; f = f->next) {
		const struct json *r = json_member(f, "rate_limit"), *d = json_member(f, "data_limit");
		const struct json *sp = json_member(f, "spent");

		printf("%-20s %s rate %.0f B/s, data %.0f of %.0f bytes%s\n", "limit", f->key,
		       r ? r->number : 0, sp ? sp->number : 0, d ? d->number : 0,
		       d && d->number && sp && sp->number >= d->number ? " (spent)" : "");
	}
}

static int stats(const char *path, int argc, char **argv)
{
	struct json *j = ctl_client_ask(path, "{\"cmd\":\"stats\"}");
	const struct json *s = json_member(j, "stats");

	if (!j || refused(j)) {
		json_free(j);
		return 1;
	}
	if (argc && !strcmp(argv[0], "--json")) {
		struct sbuf b = { 0 };

		json_write(s ? s : j, &b);
		printf("%s\n", b.p ? b.p : "{}");
		sbuf_free(&b);
	} else {
		const struct json *conns = json_member(s, "connections"), *udp = json_member(s, "udp");

		printf("%s, %.0f workers\n", str(s, "program"), num(s, "workers"));
		print_pairs("connections", conns);
		print_pairs("  live by stage", json_member(conns, "by_stage"));
		const struct json *bytes = json_member(s, "bytes");

		for (const struct json *t = bytes ? bytes->child : NULL; t; t = t->next) {
			char title[40];

			snprintf(title, sizeof(title), "bytes, %s", t->key);
			print_pairs(title, t);
		}
		print_pairs("handshake failures", json_member(s, "handshake_failures"));
		print_pairs("kernel hand-offs", json_member(s, "handoffs"));
		print_pairs("udp", udp);
		print_pairs("  udp drops", json_member(udp, "drops"));
		print_pairs("steering", json_member(s, "steering"));
		print_pairs("capture", json_member(s, "capture"));
		printf("%-20s %.4f\n", "replay filter fill", num(s, "replay_filter_fill"));
		print_pairs("bytes by port/user", json_member(s, "traffic"));
		print_limits(json_member(s, "limits"));
	}
	json_free(j);
	return 0;
}

/* sslocal's servers: their state, check latency and counts (from stats). */
static int servers(const char *path, int argc, char **argv)
{
	struct json *j = ctl_client_ask(path, "{\"cmd\":\"stats\"}");
	const struct json *s = json_member(j, "stats"), *list = json_member(s, "servers");
	struct sbuf b = { 0 };

	if (!j || refused(j) || !list) {
		if (j && !list)
			fprintf(stderr, "ssctl: %s has no servers to choose from (it is not sslocal)\n",
				path);
		json_free(j);
		return 1;
	}
	if (argc && !strcmp(argv[0], "--json")) {
		sbuf_printf(&b, "{\"balance\":\"%s\",\"servers\":", str(s, "balance"));
		json_write(list, &b);
		printf("%s}\n", b.p ? b.p : "");
		sbuf_free(&b);
		json_free(j);
		return 0;
	}
	printf("balance: %s\n%-3s %-28s %-24s %-7s %9s %8s %8s %10s %9s %14s %14s %s\n",
	       str(s, "balance"), "#", "SERVER", "METHOD", "STATE", "RTT ms", "CHECKS", "FAILED",
	       "CONNS", "FAILED", "BYTES UP", "BYTES DOWN", "LAST FAILURE");
	int i = 0;

	for (const struct json *e = list->child; e; e = e->next, i++)
		printf("%-3d %-28s %-24s %-7s %9.3f %8.0f %8.0f %10.0f %9.0f %14.0f %14.0f %s\n", i,
		       str(e, "server"), str(e, "method"), str(e, "state"), num(e, "rtt_ms"),
		       num(e, "checks"), num(e, "check_failures"), num(e, "connections"),
		       num(e, "connect_failures"), num(e, "bytes_up"), num(e, "bytes_down"),
		       str(e, "last_failure"));
	json_free(j);
	return 0;
}

/* ssctl url [--qr] [--json]: the SIP002 URIs a client needs, each as a QR code too. */
static int url(const char *path, int argc, char **argv)
{
	struct json *j = ctl_client_ask(path, "{\"cmd\":\"url\"}");
	const struct json *list = json_member(j, "urls");
	bool qr = false, json = false;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--qr") || !strcmp(argv[i], "--json")) {
			*(!strcmp(argv[i], "--qr") ? &qr : &json) = true;
		} else {
			fprintf(stderr, "usage: ssctl url [--qr] [--json]\n");
			json_free(j);
			return 2;
		}
	}
	if (!j || refused(j) || !list) {
		json_free(j);
		return 1;
	}
	if (json) {
		struct sbuf b = { 0 };

		json_write(j, &b);
		printf("%s\n", b.p ? b.p : "{}");
		sbuf_free(&b);
	}
	for (const struct json *u = list->child; u && !json; u = u->next) {
		if (u->type != JSON_STRING)
			continue;
		printf("%s\n", u->string);
		if (qr && qr_print(stdout, u->string))
			fprintf(stderr, "ssctl: this URI is too long for a QR code\n");
	}
	json_free(j);
	return 0;
}

static int kill_conn(const char *path, int argc, char **argv)
{
	char req[96], *end;
	unsigned long long id;
	struct json *j;

	if (argc != 1 || !(id = strtoull(argv[0], &end, 10)) || *end) {
		fprintf(stderr, "ssctl kill: give one connection id (from ssctl conns)\n");
		return 2;
	}
	snprintf(req, sizeof(req), "{\"cmd\":\"kill\",\"id\":%llu}", id);
	if (!(j = ctl_client_ask(path, req)) || refused(j)) {
		json_free(j);
		return 1;
	}
	printf("connection %llu closed\n", id);
	json_free(j);
	return 0;
}

/* ssctl capture add --cgroup PATH [--netns PATH] [--server-url URI] | del --cgroup PATH | list */
static int capture(const char *path, int argc, char **argv)
{
	const char *op = argc ? argv[0] : "", *cg = NULL, *ns = NULL, *up = NULL;
	bool json = false, bad = strcmp(op, "add") && strcmp(op, "del") && strcmp(op, "list");
	struct sbuf req = { 0 };
	const struct json *list;
	struct json *j = NULL;
	int r = 1;

	for (int i = 1; i < argc && !bad; i++) {
		if (!strcmp(argv[i], "--cgroup") && i + 1 < argc)
			cg = argv[++i];
		else if (!strcmp(argv[i], "--netns") && i + 1 < argc)
			ns = argv[++i];
		else if (!strcmp(argv[i], "--server-url") && i + 1 < argc)
			up = argv[++i];
		else
			bad = !(json = !strcmp(argv[i], "--json"));
	}
	if (bad || (strcmp(op, "list") && !cg) || (strcmp(op, "add") && (ns || up))) {
		fprintf(stderr, "usage: ssctl capture add --cgroup PATH [--netns PATH] [--server-url "
			"ss://...] | del --cgroup PATH | list [--json]\n");
		return 2;
	}
	sbuf_printf(&req, "{\"cmd\":\"capture\",\"op\":\"%s\"", op);
	if (cg) {
		sbuf_printf(&req, ",\"cgroup\":");
		sbuf_json_str(&req, cg);
	}
	if (ns) {
		sbuf_printf(&req, ",\"netns\":");
		sbuf_json_str(&req, ns);
	}
	if (up) {
		sbuf_printf(&req, ",\"upstream\":");
		sbuf_json_str(&req, up);
	}
	sbuf_printf(&req, "}");
	if (req.failed || !(j = ctl_client_ask(path, req.p)) || refused(j))
		goto out;
	r = 0;
	if (strcmp(op, "list"))
		printf("%s %s%s%s\n", !strcmp(op, "add") ? "capturing" : "released", cg,
		       ns ? " in " : "", ns ? ns : "");
	else if (json) {
		struct sbuf b = { 0 };

		json_write(j, &b);
		printf("%s\n", b.p ? b.p : "{}");
		sbuf_free(&b);
	} else if ((list = json_member(j, "capture")))
		for (const struct json *e = list->child; e; e = e->next)
			printf("%-40s %-24s tcp %.0f, udp %.0f\n", str(e, "cgroup"),
			       *str(e, "netns") ? str(e, "netns") : "(the daemon's own)", num(e, "tcp"),
			       num(e, "udp"));
out:
	json_free(j);
	sbuf_free(&req);
	return r;
}

/* Rates: each connection's bytes at the last refresh, by id. */
struct seen {
	double id, bytes;
};

static int by_rate(const void *a, const void *b)
{
	double x = ((const double *)a)[1], y = ((const double *)b)[1];

	return x < y ? 1 : x > y ? -1 : 0;
}

/* One screen of top: per-stage totals, then connections by current rate. */
static int top_frame(const char *path, struct seen **prev, size_t *nprev)
{
	struct json *st = ctl_client_ask(path, "{\"cmd\":\"stats\"}"), *cj = ctl_client_ask(path, "{\"cmd\":\"conns\"}");
	const struct json *list = json_member(cj, "connections");
	size_t n = 0, k = 0;
	double (*rows)[2];
	struct seen *now;

	if (!st || !cj) {
		json_free(st);
		json_free(cj);
		return -1;
	}
	for (const struct json *c = list ? list->child : NULL; c; c = c->next)
		n++;
	rows = calloc(n + 1, sizeof(*rows));
	now = calloc(n + 1, sizeof(*now));
	printf("\033[H\033[2Jssctl top  %s  (q quits)\n", path);
	print_pairs("live by stage", json_member(json_member(json_member(st, "stats"), "connections"), "by_stage"));
	for (const struct json *c = list ? list->child : NULL; rows && now && c; c = c->next, k++) {
		double b = num(c, "bytes_up") + num(c, "bytes_down"), was = b;

		for (size_t i = 0; i < *nprev; i++)
			if ((*prev)[i].id == num(c, "id"))
				was = (*prev)[i].bytes;
		now[k] = (struct seen){ num(c, "id"), b };
		rows[k][0] = (double)k;
		rows[k][1] = b - was;
	}
	qsort(rows, k, sizeof(*rows), by_rate);
	printf("\n%-10s ", "BYTES/s");
	print_header();
	for (size_t i = 0; i < k && i < 40; i++) {
		const struct json *c = list->child;

		for (size_t s = 0; s < (size_t)rows[i][0]; s++)
			c = c->next;
		printf("%-10.0f ", rows[i][1]);
		print_row(c);
	}
	fflush(stdout);
	free(*prev);
	*prev = now;
	*nprev = k;
	free(rows);
	json_free(st);
	json_free(cj);
	return 0;
}

static int top(const char *path)
{
	struct termios old, raw;
	bool tty = !tcgetattr(0, &old);
	struct seen *prev = NULL;
	size_t nprev = 0;
	int r = 0;

	if (tty) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(0, TCSANOW, &raw);
	}
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		char ch;

		if (top_frame(path, &prev, &nprev)) {
			r = 1;
			break;
		}
		if (poll(&pfd, 1, 1000) > 0 && (read(0, &ch, 1) != 1 || ch == 'q'))
			break;
	}
	if (tty)
		tcsetattr(0, TCSANOW, &old);
	free(prev);
	printf("\n");
	return r;
}

static int run_one(const char *path, int argc, char **argv)
{
	if (!strcmp(argv[0], "conns"))
		return conns(path, argc - 1, argv + 1);
	if (!strcmp(argv[0], "stats"))
		return stats(path, argc - 1, argv + 1);
	if (!strcmp(argv[0], "kill"))
		return kill_conn(path, argc - 1, argv + 1);
	if (!strcmp(argv[0], "top"))
		return top(path);
	if (!strcmp(argv[0], "capture"))
		return capture(path, argc - 1, argv + 1);
	if (!strcmp(argv[0], "servers"))
		return servers(path, argc - 1, argv + 1);
	if (!strcmp(argv[0], "url"))
		return url(path, argc - 1, argv + 1);
	if (!strcmp(argv[0], "upgrade"))
		return ctl_client_upgrade(path, argc - 1, argv + 1);
	fprintf(stderr, "ssctl: unknown command \"%s\"\n", argv[0]);
	return 2;
}

/*
 * Several daemons and no -s or -p: conns and stats (as text) show each,
 * under a line naming it; the other commands need one daemon.
 */
int ctl_client_run(const char *sock, int port, int argc, char **argv)
{
	static char paths[MAX_DAEMONS][SOCK_PATH];
	bool text = true;
	int n, r = 0;

	if (sock)
		return run_one(sock, argc, argv);
	if ((n = list_sockets(paths, MAX_DAEMONS, port)) < 0)
		return 1;
	/* ssctl upgrade --pid PID (systemd's ExecReload with $MAINPID): the daemon of that pid. */
	if (!strcmp(argv[0], "upgrade") && argc == 3 && !strcmp(argv[1], "--pid"))
		return ctl_client_upgrade_pid(paths[0], SOCK_PATH, n, atoi(argv[2]));
	/* A process draining after an upgrade answers conns and stats; the rest go to the new one. */
	for (int i = 0; n > 1 && strcmp(argv[0], "conns") && strcmp(argv[0], "stats") && i < n;) {
		if (!strncmp(strrchr(paths[i], '/') + 1, "draining-", 9))
			memmove(paths[i], paths[--n], SOCK_PATH);
		else
			i++;
	}
	if (n == 1)
		return run_one(paths[0], argc, argv);
	for (int i = 1; i < argc; i++)
		text &= strcmp(argv[i], "--json") != 0;
	if (!text || (strcmp(argv[0], "conns") && strcmp(argv[0], "stats"))) {
		fprintf(stderr, "ssctl: %d control sockets; give -s PATH or -p PORT for %s%s\n", n,
			argv[0], text ? "" : " --json");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		const char *name = strrchr(paths[i], '/') + 1;

		printf("%s== %.*s (%s)\n", i ? "\n" : "", (int)(strlen(name) - 5), name, paths[i]);
		fflush(stdout);
		r |= run_one(paths[i], argc, argv);
	}
	return r;
}
