// SPDX-License-Identifier: MIT
/* The ssserver of one ssmanager port: its config file, its command line, its files at remove. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "manager_exec.h"
#include "replay_file.h"
#include "sbuf.h"

/* The server's own config file: the password never shows in the process list. */
int mgr_write_conf(const char *dir, const struct ss_config *cfg, const struct mgr_cmd *c, char *path,
		   size_t cap)
{
	const char *meth = c->method ? c->method : cfg->method;
	struct sbuf b = { 0 };
	ssize_t w;
	int fd, r = 0;

	snprintf(path, cap, "%s/%d.json", dir, c->port);
	if (!meth)
		return -EINVAL;
	/* Limits are keys of a "servers" entry. */
	sbuf_printf(&b, "%s{\"server_port\": %d, \"password\": ",
		    c->rate_limit || c->data_limit ? "{\"servers\": [" : "", c->port);
	sbuf_json_str(&b, c->password);
	sbuf_printf(&b, ", \"method\": ");
	sbuf_json_str(&b, meth);
	if (c->rate_limit || c->data_limit)
		sbuf_printf(&b, ", \"rate_limit\": %llu, \"data_limit\": %llu}]",
			    (unsigned long long)c->rate_limit, (unsigned long long)c->data_limit);
	sbuf_printf(&b, "}\n");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || b.failed || (w = write(fd, b.p, b.len)) != (ssize_t)b.len)
		r = fd < 0 || b.failed ? -ENOMEM : -EIO;
	if (fd >= 0)
		close(fd);
	sbuf_free(&b);
	return r;
}

/* A positive number as text in buf, or NULL. */
static const char *num(char *buf, int v)
{
	if (v <= 0)
		return NULL;
	snprintf(buf, 16, "%d", v);
	return buf;
}

/* ssserver's command line: the port's file, then this manager's own options as defaults. */
void mgr_exec_server(const char *exe, const struct ss_config *cfg, const struct mgr_cmd *c,
		     const char *conf, bool shared)
{
	char *argv[80], tbuf[16], wbuf[16], vflag[16], bufs[4][16], ctl[128], mgr[16];
	int a = 0;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* Its successors (upgrades) set that signal again once the manager is their parent. */
	snprintf(mgr, sizeof(mgr), "%d", (int)getppid());
	setenv("SSBPF_MANAGER_PID", mgr, 1);
	argv[a++] = (char *)exe;
	argv[a++] = "-c";
	argv[a++] = (char *)conf;
	argv[a++] = "--manager-address";
	argv[a++] = cfg->manager_address;
	for (int i = 0; i < cfg->nservers && a < 40; i++) {
		argv[a++] = "-s";
		argv[a++] = cfg->servers[i];
	}
	snprintf(tbuf, sizeof(tbuf), "%d", cfg->timeout);
	argv[a++] = "-t";
	argv[a++] = tbuf;
	if (cfg->workers) {
		snprintf(wbuf, sizeof(wbuf), "%d", cfg->workers);
		argv[a++] = "--workers";
		argv[a++] = wbuf;
	}
	if (c->mode ? strcmp(c->mode, "tcp_only") : cfg->mode != MODE_TCP_ONLY)
		argv[a++] = c->mode && !strcmp(c->mode, "udp_only") ? "-U" :
			    c->mode || cfg->mode == MODE_TCP_AND_UDP ? "-u" : "-U";
	if (cfg->allow_private)
		argv[a++] = "--allow-private";
	if (shared) {
		/* Named for the manager, which asks it to upgrade there (manager_upgrade.c). */
		ctl_default_path(ctl, sizeof(ctl), "ssserver-shared", (int)getppid());
		argv[a++] = "--bpf-ports";
		argv[a++] = "--ctl-socket";
		argv[a++] = ctl;
	}
	if (cfg->fast_open)
		argv[a++] = "--fast-open";
	if (cfg->no_delay)
		argv[a++] = "--no-delay";
	if (cfg->ipv6_first)
		argv[a++] = "-6";
	if (cfg->mptcp)
		argv[a++] = "--mptcp";
	if (cfg->reuse_port)
		argv[a++] = "--reuse-port";
	const char *opt[][2] = { { "--acl", cfg->acl }, { "-a", cfg->user }, { "-d", cfg->nameserver },
				 { "--plugin", c->plugin ? c->plugin : cfg->plugin },
				 { "--plugin-opts", c->plugin_opts ? c->plugin_opts : cfg->plugin_opts },
				 { "-i", cfg->iface },
				 { "--tcp-incoming-sndbuf", num(bufs[0], cfg->in_sndbuf) },
				 { "--tcp-incoming-rcvbuf", num(bufs[1], cfg->in_rcvbuf) },
				 { "--tcp-outgoing-sndbuf", num(bufs[2], cfg->out_sndbuf) },
				 { "--tcp-outgoing-rcvbuf", num(bufs[3], cfg->out_rcvbuf) } };

	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (opt[i][1]) {
			argv[a++] = (char *)opt[i][0];
			argv[a++] = (char *)opt[i][1];
		}
	snprintf(vflag, sizeof(vflag), "-v");
	for (int v = 0; v < cfg->verbose && a < 78; v++)
		argv[a++] = vflag;
	argv[a] = NULL;
	execv(exe, argv);
	log_err("cannot run %s: %s", exe, strerror(errno));
	_exit(127);
}

/* Can the port be bound on every server address (TCP)? */
/*
 * A removed port's replay filter and salt window go with it (its ssserver
 * keeps them in PROG-PORT.replay, named for its file PORT.json).
 */
void mgr_forget_port(int port)
{
	char path[512], conf[32], salts[540];

	snprintf(conf, sizeof(conf), "%d.json", port);
	replay_file_default(path, sizeof(path), "ssserver", port, conf);
	snprintf(salts, sizeof(salts), "%s.sip022", path);
	unlink(path);
	unlink(salts);
}
