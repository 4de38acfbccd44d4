// SPDX-License-Identifier: MIT
/*
 * Capture by cgroup, set up and changed: the programs and cgroup links for
 * the process that serves ssctl, each worker's listeners inside the
 * captured network namespaces (sockets made there with setns belong to that
 * namespace, and so do the ones they accept), and ssctl capture add, del
 * and list, which change both without a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "capture_setup.h"
#include "ctl.h"
#include "counters.h"
#include "ctx.h"
#include "listener.h"
#include "log.h"
#include "sbuf.h"
#include "steer.h"
#include "udp.h"

static int attach_one(void *arg, const char *cgroup, const char *netns, const char *upstream)
{
	const char *why = "";
	int r = capture_record(arg, cgroup, netns, upstream, &why);

	if (r == -EEXIST)
		return 0;
	if (r || (r = capture_link(arg, cgroup, &why)))
		log_err("capture: %s", why);
	else
		log_info("capture: cgroup %s, listener in %s%s", cgroup,
			 netns ? netns : "the daemon's network namespace",
			 upstream ? ", with an upstream of its own" : "");
	return r;
}

int capture_up(struct capture **out, const struct ss_config *cfg)
{
	/* A libev ACL under [proxy_all]: its bypass list stays direct (steer_parse). */
	struct steer_sources src = { .exclude = cfg->exclude, .exclude_files = cfg->exclude_file,
				     .acl = cfg->acl };
	struct steer_spec spec;
	const char *why = "";
	int r;

	if (cfg->bpf == BPF_OFF) {
		log_err("capture: --capture needs BPF (cgroup programs) and has no fallback; "
			"not with --bpf off");
		return -EINVAL;
	}
	if ((r = capture_open(out, (uint16_t)cfg->local_port, &why))) {
		log_err("capture: %s", why);
		return r;
	}
	capture_own_pid(*out, getpid(), true);
	if ((r = steer_parse(&spec, &src, &why)) || (r = capture_exclude(*out, &spec.exclude)))
		log_err("capture: exclusions: %s", r == -EINVAL ? why : strerror(-r));
	else
		log_info("capture: %zu prefixes stay direct", spec.exclude.n);
	steer_spec_free(&spec);
	if (!r)
		r = config_capture_each(cfg->capture, attach_one, *out, &why);
	if (r) {
		capture_close(*out);
		*out = NULL;
	}
	return r;
}

/* A worker's listeners, made in the namespace the caller entered. */
struct listen_here {
	struct ctx *p;
	struct listeners *ls;
};

static int listen_here(void *arg, const char **why)
{
	struct listen_here *a = arg;
	const struct ss_config *cfg = a->p->cfg;
	struct listen_opts o = { .reuse_port = true };
	int r;

	if (cfg->mode != MODE_UDP_ONLY &&
	    (r = listener_open(a->ls, "::", cfg->local_port, &o, why)))
		return r;
	return cfg->mode != MODE_TCP_ONLY ? udp_listen(a->p, UDP_REDIR, "::", cfg->local_port, NULL,
						       false, why) : 0;
}

static bool is_wildcard(const char *host)
{
	return !host || !strcmp(host, "::") || !strcmp(host, "0.0.0.0");
}

static int cookie_here(void *arg, const char **why)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return why_fmt(why, "socket: %s", strerror(errno)), -errno;
	*(uint64_t *)arg = capture_netns_cookie(fd);
	close(fd);
	return *(uint64_t *)arg ? 0 : why_fmt(why, "no network namespace cookie (Linux 5.14+)");
}

/* The cookie of netns (NULL: the daemon's own); 0 or -errno with *why. */
static int cookie_of(const char *netns, uint64_t *cookie, const char **why)
{
	return capture_in_netns(netns, cookie_here, cookie, why);
}

/* The namespaces where this worker holds capture listeners (a worker is one process). */
static uint64_t served[CAPTURE_MAX];
static int nserved;

static int find_served(uint64_t cookie)
{
	for (int i = 0; i < nserved; i++)
		if (served[i] == cookie)
			return i;
	return -1;
}

/* A worker: the listeners of the capture port in netns, unless it has them. */
static int listen_in(struct ctx *p, struct listeners *ls, const char *netns, const char **why)
{
	struct listen_here here = { p, ls };
	uint64_t cookie, own;
	int r;

	if ((r = cookie_of(netns, &cookie, why)))
		return r;
	own = capture_own_netns();
	if (cookie == own && is_wildcard(p->cfg->local_address))
		return 0; /* the redir listener takes the slot addresses of its namespace */
	if (find_served(cookie) >= 0)
		return 0;
	if (nserved == CAPTURE_MAX)
		return why_fmt(why, "too many captured namespaces");
	if ((r = capture_in_netns(cookie == own ? NULL : netns, listen_here, &here, why)))
		return r;
	log_info("capture: the listeners above are in %s", cookie == own ? "this network namespace" :
			 netns);
	served[nserved++] = cookie;
	return 0;
}

int capture_listen(struct ctx *p, struct listeners *ls, const char **why)
{
	const char *netns;
	int r = 0;

	for (int i = 0; !r && capture_cgroup(p->cap, i, NULL, &netns); i++)
		r = listen_in(p, ls, netns, why);
	return r;
}

static bool in_netns(int fd, void *arg)
{
	return capture_netns_cookie(fd) == *(uint64_t *)arg;
}

/*
 * A worker: forgets cgroup, and closes its capture listeners in netns
 * unless another cgroup's processes live there, so the namespace can go.
 */
static int unlisten(struct ctx *p, struct listeners *ls, const char *cgroup, const char *netns,
		    const char **why)
{
	const char *other, *ignored = "";
	uint64_t cookie, oc;
	int i, r;

	uint64_t id = 0;

	if (cgroup && capture_cgroup(p->cap, capture_cgroup_index(p->cap, cgroup), &id, NULL))
		counters_capture_drop(p->ctr, id);
	if (cgroup)
		capture_forget(p->cap, cgroup);
	if ((r = cookie_of(netns, &cookie, why)) || (i = find_served(cookie)) < 0)
		return r;
	for (int k = 0; capture_cgroup(p->cap, k, NULL, &other); k++)
		if (!cookie_of(other, &oc, &ignored) && oc == cookie)
			return 0;
	listener_close_if(ls, in_netns, &cookie);
	udp_close_if(p, in_netns, &cookie);
	served[i] = served[--nserved];
	return 0;
}

/* A worker's part of ssctl capture: the listeners of one namespace (listen, unlisten). */
static int capture_worker_op(struct ctx *p, struct listeners *ls, const struct ctl_capture *q,
			     const char **why)
{
	if (!p->cap)
		return why_fmt(why, "this daemon has no capture (sslocal redir --capture)");
	if (!strcmp(q->op, "listen")) {
		int r = q->cgroup ? capture_record(p->cap, q->cgroup, q->netns, q->upstream, why) : 0;

		return r && r != -EEXIST ? r : listen_in(p, ls, q->netns, why);
	}
	if (!strcmp(q->op, "unlisten"))
		return unlisten(p, ls, q->cgroup, q->netns, why);
	return why_fmt(why, "unknown capture operation \"%s\"", q->op);
}

/* The line that asks the workers to run op for a cgroup (its namespace, its upstream). */
static void worker_line(struct sbuf *b, const char *op, const char *cgroup, const char *netns,
			const char *upstream)
{
	const char *keys[] = { "cgroup", "netns", "upstream" }, *vals[] = { cgroup, netns, upstream };

	sbuf_printf(b, "{\"cmd\":\"capture\",\"op\":\"%s\"", op);
	for (int i = 0; i < 3; i++) {
		if (vals[i]) {
			sbuf_printf(b, ",\"%s\":", keys[i]);
			sbuf_json_str(b, vals[i]);
		}
	}
	sbuf_printf(b, "}");
}

static int check_paths(const struct ctl_capture *q, const char **why)
{
	if (!q->cgroup || *q->cgroup != '/' || (q->netns && *q->netns != '/'))
		return why_fmt(why, "give --cgroup PATH (and --netns PATH), absolute paths");
	if (strpbrk(q->cgroup, ",@") || (q->netns && strpbrk(q->netns, ",@")))
		return why_fmt(why, "a path with \",\" or \"@\" cannot be captured");
	return access(q->cgroup, F_OK) || (q->netns && access(q->netns, F_OK)) ?
		       why_fmt(why, "%s: %s", access(q->cgroup, F_OK) ? q->cgroup : q->netns,
			       strerror(errno)) : 0;
}

static int add(struct capture *c, const struct capture_workers *w, const struct ctl_capture *q,
	       const char **why)
{
	struct sbuf line = { 0 };
	const char *ignored = "";
	int r;

	if ((r = check_paths(q, why)))
		return r;
	if (capture_cgroup_index(c, q->cgroup) >= 0)
		return why_fmt(why, "cgroup %s is captured already", q->cgroup);
	worker_line(&line, "listen", q->cgroup, q->netns, q->upstream);
	/* Listeners first: a process captured before would be refused at connect. */
	if (!line.failed && !(r = w->ask(w->arg, line.p, why)) &&
	    (((r = capture_record(c, q->cgroup, q->netns, q->upstream, why)) && r != -EEXIST) ||
	     (r = capture_link(c, q->cgroup, why)))) {
		capture_forget(c, q->cgroup);
		sbuf_free(&line);
		worker_line(&line, "unlisten", q->cgroup, q->netns, NULL);
		if (!line.failed)
			w->ask(w->arg, line.p, &ignored);
	}
	sbuf_free(&line);
	return line.failed ? -ENOMEM : r;
}

static int del(struct capture *c, const struct capture_workers *w, const struct ctl_capture *q,
	       const char **why)
{
	int i = q->cgroup ? capture_cgroup_index(c, q->cgroup) : -1;
	struct sbuf line = { 0 };
	const char *netns = NULL;
	int r;

	if (i < 0)
		return why_fmt(why, "cgroup %s is not captured", q->cgroup ? q->cgroup : "(none given)");
	capture_cgroup(c, i, NULL, &netns);
	/* The line first: forgetting the cgroup frees its netns path. */
	worker_line(&line, "unlisten", q->cgroup, netns, NULL);
	capture_forget(c, q->cgroup);
	r = line.failed ? -ENOMEM : w->ask(w->arg, line.p, why);
	sbuf_free(&line);
	return r;
}

static void list(const struct capture *c, struct sbuf *out)
{
	const struct upstream *up;
	const char *path, *netns;
	uint64_t id, tcp, udp;

	sbuf_printf(out, "{\"capture\":[");
	for (int i = 0; (path = capture_cgroup(c, i, &id, &netns)); i++) {
		sbuf_printf(out, "%s{\"cgroup\":", i ? "," : "");
		sbuf_json_str(out, path);
		sbuf_printf(out, ",\"netns\":");
		sbuf_json_str(out, netns ? netns : "");
		if ((up = capture_upstream_of(c, id))) {
			sbuf_printf(out, ",\"upstream\":");
			sbuf_json_str(out, up->host);
			sbuf_printf(out, ",\"upstream_port\":%u", up->port);
		}
		capture_cgroup_counts(c, id, &tcp, &udp);
		sbuf_printf(out, ",\"id\":%llu,\"tcp\":%llu,\"udp\":%llu}", (unsigned long long)id,
			    (unsigned long long)tcp, (unsigned long long)udp);
	}
	sbuf_printf(out, "]}");
}

void capture_command(struct capture *c, const struct capture_workers *w,
		     const struct ctl_capture *q, const char *who, struct sbuf *out)
{
	const char *why = "";
	int r;

	if (!c) {
		sbuf_printf(out, "{\"error\":\"this daemon captures nothing: start sslocal redir "
			    "with --capture\"}");
		return;
	}
	if (!strcmp(q->op, "list")) {
		list(c, out);
		return;
	}
	if (!strcmp(q->op, "add"))
		r = add(c, w, q, &why);
	else if (!strcmp(q->op, "del"))
		r = del(c, w, q, &why);
	else
		r = why_fmt(&why, "unknown capture operation \"%s\" (add, del or list)", q->op);
	if (r) {
		sbuf_printf(out, "{\"error\":");
		sbuf_json_str(out, why);
		sbuf_printf(out, "}");
		return;
	}
	log_info("ssctl capture %s %s%s%s, asked by %s", q->op, q->cgroup, q->netns ? " in " : "",
		 q->netns ? q->netns : "", who);
	sbuf_printf(out, "{\"ok\":true}");
}

int capture_answer_ok(const char *reply, const char **why)
{
	if (reply && strstr(reply, "\"ok\":true"))
		return 0;
	return why_fmt(why, "a worker: %s", reply ? reply : "no answer");
}

/* A worker's part of a request ({"ok": true} or {"error": ...} into out). */
static void worker_answer(struct ctx *p, struct listeners *ls, const struct ctl_capture *q,
			  struct sbuf *out)
{
	const char *why = "";

	if (!capture_worker_op(p, ls, q, &why)) {
		sbuf_printf(out, "{\"ok\":true}");
		return;
	}
	sbuf_printf(out, "{\"error\":");
	sbuf_json_str(out, why);
	sbuf_printf(out, "}");
}

/* A lone worker is its own tree: it asks itself what a parent asks its workers. */
struct self {
	struct ctx *p;
	struct listeners *ls;
};

static void self_answer(void *arg, const struct ctl_capture *q, const char *who, struct sbuf *out);

static int self_ask(void *arg, const char *line, const char **why)
{
	struct ctl_backend b = { .capture = self_answer, .arg = arg };
	struct sbuf r = { 0 };
	int rc;

	ctl_answer(&b, line, "the daemon", &r);
	rc = r.failed ? -ENOMEM : capture_answer_ok(r.p, why);
	sbuf_free(&r);
	return rc;
}

static void self_answer(void *arg, const struct ctl_capture *q, const char *who, struct sbuf *out)
{
	struct self *s = arg;

	if (!strcmp(q->op, "listen") || !strcmp(q->op, "unlisten"))
		worker_answer(s->p, s->ls, q, out);
	else
		capture_command(s->p->cap, &(struct capture_workers){ self_ask, s }, q, who, out);
}

void capture_worker_ctl(struct ctx *p, struct listeners *ls, const struct ctl_capture *q,
			const char *who, struct sbuf *out)
{
	struct self s = { p, ls };

	self_answer(&s, q, who, out);
}

void capture_publish(struct ctx *p)
{
	struct capture_counts cc;

	capture_counts(p->cap, &cc);
	p->ctr->captured_tcp = cc.tcp;
	p->ctr->captured_udp = cc.udp;
	p->ctr->capture_direct = cc.direct;
	p->ctr->capture_refused = cc.refused;
}
