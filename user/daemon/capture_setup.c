// SPDX-License-Identifier: MIT
/*
 * Capture by cgroup, set up: the programs and cgroup links for the tree,
 * and each worker's listeners inside the captured network namespaces
 * (sockets made there with setns keep that namespace; accepted ones too).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "capture_setup.h"
#include "ctx.h"
#include "listener.h"
#include "log.h"
#include "steer.h"
#include "udp.h"

static int attach_one(void *arg, const char *cgroup, const char *netns)
{
	const char *why = "";
	int r = capture_attach(arg, cgroup, &why);

	if (r == -EEXIST)
		return 0;
	if (r)
		log_err("capture: %s", why);
	else
		log_info("capture: cgroup %s, listener in %s", cgroup,
			 netns ? netns : "the daemon's network namespace");
	return r;
}

int capture_up(struct capture **out, const struct ss_config *cfg)
{
	struct steer_sources src = { .exclude = cfg->exclude, .exclude_files = cfg->exclude_file };
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
	bool tcp, udp;
};

static int listen_here(void *arg, const char **why)
{
	struct listen_here *a = arg;
	struct listen_opts o = { .reuse_port = true };
	int port = a->p->cfg->local_port, r;

	if (a->tcp && (r = listener_open(a->ls, "::", port, &o, why)))
		return r;
	return a->udp ? udp_listen(a->p, UDP_REDIR, "::", port, NULL, why) : 0;
}

/* The namespaces already served: their inodes. */
struct served {
	struct listen_here here;
	ino_t ino[CAPTURE_MAX + 1];
	int n;
	bool own_done;
	const char **why;
};

static bool is_wildcard(const char *host)
{
	return !host || !strcmp(host, "::") || !strcmp(host, "0.0.0.0");
}

static int listen_one(void *arg, const char *cgroup, const char *netns)
{
	struct served *s = arg;
	struct stat st;
	bool own;

	(void)cgroup;
	if (stat(netns ? netns : "/proc/self/ns/net", &st))
		return why_fmt(s->why, "network namespace %s: %s", netns, strerror(errno));
	if ((own = st.st_ino == s->ino[0])) {
		if (s->own_done)
			return 0;
		s->own_done = true;
		if (is_wildcard(s->here.p->cfg->local_address))
			return 0; /* the redir listener takes the slot addresses of its namespace */
	} else {
		for (int i = 1; i < s->n; i++)
			if (s->ino[i] == st.st_ino)
				return 0;
		s->ino[s->n++] = st.st_ino;
	}
	return capture_in_netns(own ? NULL : netns, listen_here, &s->here, s->why);
}

int capture_listen(struct ctx *p, struct listeners *ls, bool tcp, bool udp, const char **why)
{
	struct served *s = calloc(1, sizeof(*s));
	struct stat own;
	int r;

	if (!s)
		return -ENOMEM;
	*s = (struct served){ .here = { p, ls, tcp, udp }, .why = why };
	/* The daemon's own namespace is ino[0], so that a path naming it is not served twice. */
	if (stat("/proc/self/ns/net", &own)) {
		free(s);
		return -errno;
	}
	s->ino[0] = own.st_ino;
	s->n = 1;
	r = config_capture_each(p->cfg->capture, listen_one, s, why);
	free(s);
	return r;
}
