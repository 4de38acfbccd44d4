// SPDX-License-Identifier: MIT
/* ssmanager with BPF: one ssserver tree for every port that needs no process of its own. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "manager_exec.h"
#include "manager_shared.h"
#include "plugin.h"
#include "sbuf.h"

bool mgr_shared_fits(const struct ss_config *cfg, const struct mgr_cmd *c)
{
	static const char *const modes[] = { [MODE_TCP_ONLY] = "tcp_only",
					     [MODE_UDP_ONLY] = "udp_only",
					     [MODE_TCP_AND_UDP] = "tcp_and_udp" };

	if (cfg->bpf == BPF_OFF || c->plugin || cfg->plugin || (!c->method && !cfg->method))
		return false;
	/* The tree runs with the manager's mode. */
	return !c->mode || !strcmp(c->mode, modes[cfg->mode]);
}

bool mgr_shared_serves(const struct ss_config *cfg, int port)
{
	struct sockaddr_storage sa;
	struct timeval tv = { .tv_usec = 200000 };
	const char *why;
	socklen_t sl;
	int fd, ok;

	if (listener_resolve(cfg->nservers ? cfg->servers[0] : NULL, port, SOCK_STREAM, &sa, &sl, &why))
		return false;
	/* No socket listens on the port itself (sk_lookup hands it over): a connection tells. */
	if (sa.ss_family == AF_INET && !((struct sockaddr_in *)&sa)->sin_addr.s_addr)
		((struct sockaddr_in *)&sa)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&sa)->sin6_addr))
		((struct sockaddr_in6 *)&sa)->sin6_addr = in6addr_loopback;
	if ((fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ok = !connect(fd, (struct sockaddr *)&sa, sl);
	close(fd);
	return ok;
}

/* {"servers": [{"server_port", "password", "method", limits}, ...]}, mode 0600. */
static int write_file(const char *path, const struct ss_config *cfg,
		      const struct mgr_cmd *const *cmds, int n)
{
	struct sbuf b = { 0 };
	char tmp[320];
	int fd, r = 0;

	sbuf_printf(&b, "{\"servers\": [");
	for (int i = 0; i < n; i++) {
		const struct mgr_cmd *c = cmds[i];

		sbuf_printf(&b, "%s\n {\"server_port\": %d, \"password\": ", i ? "," : "", c->port);
		sbuf_json_str(&b, c->password);
		sbuf_printf(&b, ", \"method\": ");
		sbuf_json_str(&b, c->method ? c->method : cfg->method);
		sbuf_printf(&b, ", \"rate_limit\": %llu, \"data_limit\": %llu}",
			    (unsigned long long)c->rate_limit, (unsigned long long)c->data_limit);
	}
	sbuf_printf(&b, "]}\n");
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || b.failed || write(fd, b.p, b.len) != (ssize_t)b.len)
		r = fd < 0 || b.failed ? -ENOMEM : -EIO;
	if (fd >= 0)
		close(fd);
	/* Renamed whole: a reload never reads half a file. */
	if (!r && rename(tmp, path))
		r = -errno;
	sbuf_free(&b);
	return r;
}

int mgr_shared_apply(struct mgr_shared *s, const char *exe, const char *dir,
		     const struct ss_config *cfg, const struct mgr_cmd *const *cmds, int n)
{
	const struct mgr_cmd none = { .kind = MGR_ADD };
	int r;

	if (!n) {
		mgr_shared_stop(s);
		return 0;
	}
	if (!*s->conf) {
		int k = snprintf(s->conf, sizeof(s->conf), "%s/shared-%s.json", dir, cfg->manager_address);

		/* The address names the file (and so its replay filter): '/' and ':' are no names. */
		for (int i = (int)strlen(dir) + 1; i < k && s->conf[i]; i++)
			if (s->conf[i] == '/' || s->conf[i] == ':')
				s->conf[i] = '_';
	}
	if ((r = write_file(s->conf, cfg, cmds, n)))
		return r;
	if (s->pid > 0)
		return kill(s->pid, SIGHUP) ? -errno : 0;
	if ((s->pid = fork()) == 0)
		mgr_exec_server(exe, cfg, &none, s->conf, true);
	if (s->pid < 0)
		return -errno;
	log_info("shared ssserver started (pid %d) for %d ports", (int)s->pid, n);
	return 0;
}

void mgr_shared_stop(struct mgr_shared *s)
{
	struct plugin pl = { .pid = s->pid };

	if (s->pid > 0)
		plugin_stop(&pl); /* SIGTERM, then SIGKILL after a grace period; reaped */
	s->pid = -1;
	if (*s->conf)
		unlink(s->conf);
}
