// SPDX-License-Identifier: MIT
/* ssmanager: the protocol socket, the table of ports and their ssserver processes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "listener.h"
#include "procstat.h"
#include "replay_file.h"
#include "log.h"
#include "loop.h"
#include "manager.h"
#include "manager_auth.h"
#include "manager_cmd.h"
#include "manager_exec.h"
#include "manager_shared.h"
#include "manager_state.h"
#include "manager_upgrade.h"
#include "metrics.h"
#include "plugin.h"
#include "sbuf.h"

#define START_WAIT_MS 3000
#define REPLY_MAX 65000

static struct port_entry *find(struct manager *m, int port)
{
	for (int i = 0; i < m->n; i++)
		if (m->ports[i].port == port)
			return &m->ports[i];
	return NULL;
}

/* Held by another process? A TIME-WAIT socket of a port just stopped does not count. */
static bool port_free(const struct manager *m, int port)
{
	for (int i = 0; i < m->cfg->nservers; i++)
		if (listener_addr_taken(m->cfg->servers[i], port, SOCK_STREAM, false))
			return false;
	return true;
}

/* The shared tree serves exactly the shared entries; 0 or -errno. */
static int shared_sync(struct manager *m)
{
	const struct mgr_cmd *cmds[MGR_PORTS];
	int n = 0;

	for (int i = 0; i < m->n; i++)
		if (m->ports[i].shared)
			cmds[n++] = &m->ports[i].cmd;
	return m->stopping ? 0 : mgr_shared_apply(&m->shared, m->exe, m->dir, m->cfg, cmds, n);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * libev's add of a known port replaces it. When only the key changes, the
 * running ssserver reloads its file (SIGHUP): the port never closes, and its
 * live connections keep their old key.
 */
static bool rekey(struct manager *m, struct port_entry *e, struct mgr_cmd *c,
		  const struct mgr_caller *who)
{
	char conf[128];

	if (e->shared) {
		if (!mgr_shared_fits(m->cfg, c))
			return false;
		mgr_cmd_free(&e->cmd);
		e->cmd = *c;
		e->owner = *who;
		memset(c, 0, sizeof(*c));
		log_info("port %d re-keyed in place (the shared ssserver reloads)", e->port);
		return !shared_sync(m);
	}
	if (e->pid <= 0 || !same_str(e->cmd.mode, c->mode) || !same_str(e->cmd.plugin, c->plugin) ||
	    !same_str(e->cmd.plugin_opts, c->plugin_opts) || mgr_write_conf(m->dir, m->cfg, c, conf, sizeof(conf)) ||
	    kill(e->pid, SIGHUP))
		return false;
	mgr_cmd_free(&e->cmd);
	e->cmd = *c;
	e->owner = *who;
	memset(c, 0, sizeof(*c)); /* the entry owns the strings now */
	log_info("port %d re-keyed in place (pid %d reloads)", e->port, (int)e->pid);
	return true;
}

static void stop_entry(struct manager *m, struct port_entry *e)
{
	struct plugin pl = { .pid = e->pid };
	char path[128];

	if (e->shared) {
		mgr_cmd_free(&e->cmd);
		*e = m->ports[--m->n];
		shared_sync(m);
		return;
	}
	plugin_stop(&pl); /* SIGTERM, then SIGKILL after a grace period; reaped */
	snprintf(path, sizeof(path), "%s/%d.json", m->dir, e->port);
	unlink(path);
	mgr_cmd_free(&e->cmd);
	*e = m->ports[--m->n];
}

/* A caller names a program ssserver will run: only the operator's choices. */
static bool plugin_allowed(const struct manager *m, const char *plugin)
{
	const char *l = m->cfg->manager_plugins;
	size_t n = strlen(plugin);

	if (m->cfg->plugin && !strcmp(m->cfg->plugin, plugin))
		return true;
	for (; l && *l; l += strcspn(l, ",")) {
		l += strspn(l, ", ");
		if (strcspn(l, ",") == n && !strncmp(l, plugin, n))
			return true;
	}
	return false;
}

/* The shared tree has exited (or was killed): none of its ports is served now. */
static bool shared_gone(struct manager *m, pid_t pid, int st)
{
	if (pid != m->shared.pid || pid <= 0)
		return false;
	log_warn("the shared ssserver (pid %d) exited (%s %d); its ports are no longer served",
		 (int)pid, WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	m->shared.pid = -1;
	for (int i = m->n - 1; i >= 0; i--)
		if (m->ports[i].shared) {
			mgr_cmd_free(&m->ports[i].cmd);
			m->ports[i] = m->ports[--m->n];
		}
	return true;
}

/* add of a port that fits the shared tree: it reloads with the port (or starts), and serves it. */
static int add_shared(struct manager *m, struct mgr_cmd *c, const struct mgr_caller *who,
		      const char **why)
{
	int port = c->port, r, st;
	struct port_entry *e = &m->ports[m->n++];

	*e = (struct port_entry){ .port = port, .cmd = *c, .owner = *who, .shared = true, .pid = -1 };
	memset(c, 0, sizeof(*c)); /* the entry owns the strings now */
	if ((r = shared_sync(m))) {
		stop_entry(m, e);
		return why_fmt(why, "cannot run the shared ssserver: %s", strerror(-r));
	}
	for (int waited = 0; waited < START_WAIT_MS; waited += 20) {
		pid_t pid = waitpid(m->shared.pid, &st, WNOHANG);

		if (pid > 0 && shared_gone(m, pid, st))
			return why_fmt(why, "the shared ssserver exited (see the log)");
		if ((e->cmd.mode && !strcmp(e->cmd.mode, "udp_only")) || mgr_shared_serves(m->cfg, port)) {
			log_info("port %d added (shared ssserver, pid %d)", port, (int)m->shared.pid);
			return 0;
		}
		usleep(20000);
	}
	stop_entry(m, find(m, port));
	return why_fmt(why, "the shared ssserver did not take port %d (see the log)", port);
}

/* add: the port's ssserver runs and listens, or the reply says why not. */
static int add(struct manager *m, struct mgr_cmd *c, const struct mgr_caller *who, const char **why)
{
	struct port_entry *e = find(m, c->port);
	int port = c->port, r, st;
	char conf[128];

	if (!c->method && !m->cfg->method)
		return why_fmt(why, "no method (give one in the command or -m)");
	if (c->plugin && !plugin_allowed(m, c->plugin))
		return why_fmt(why, "plugin \"%.100s\" is not allowed (ssmanager "
				   "--manager-plugins lists the plugins an add may name)", c->plugin);
	if (e && rekey(m, e, c, who))
		return 0;
	if (e)
		stop_entry(m, e);
	if (m->n == MGR_PORTS)
		return why_fmt(why, "too many ports");
	if (!port_free(m, c->port))
		return why_fmt(why, "port %d is in use", c->port);
	if (mgr_shared_fits(m->cfg, c))
		return add_shared(m, c, who, why);
	if ((r = mgr_write_conf(m->dir, m->cfg, c, conf, sizeof(conf))))
		return why_fmt(why, "cannot write the port's config: %s", strerror(-r));
	e = &m->ports[m->n];
	*e = (struct port_entry){ .port = c->port, .cmd = *c, .owner = *who };
	if ((e->pid = fork()) == 0)
		mgr_exec_server(m->exe, m->cfg, c, conf, false);
	memset(c, 0, sizeof(*c)); /* the entry owns the strings now */
	m->n++;
	if (e->pid < 0) {
		stop_entry(m, e);
		return why_fmt(why, "fork: %s", strerror(errno));
	}
	/* Served within the wait: listening in every worker (SO_REUSEPORT), or gone. */
	for (int waited = 0; waited < START_WAIT_MS; waited += 20) {
		if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
			e->pid = -1;
			stop_entry(m, e);
			return why_fmt(why, "ssserver for port %d exited at start (see the log)",
					   port);
		}
		if ((e->cmd.mode && !strcmp(e->cmd.mode, "udp_only")) || plugin_port_listens(e->port))
			break;
		usleep(20000);
	}
	log_info("port %d added (pid %d)", e->port, (int)e->pid);
	return 0;
}

/*
 * "stat: {\"8381\":123,\"8382\":0}" for ping; "[{...}]" for list, with a
 * port's password only for the caller that added it.
 */
static void describe(struct manager *m, bool list, const struct mgr_caller *who,
		     struct sbuf *out)
{
	sbuf_printf(out, list ? "[" : "stat: {");
	for (int i = 0; i < m->n; i++) {
		const struct port_entry *e = &m->ports[i];

		if (!list) {
			sbuf_printf(out, "%s\"%d\":%llu", i ? "," : "", e->port,
				    (unsigned long long)e->bytes);
			continue;
		}
		sbuf_printf(out, "%s\n\t{\"server_port\":\"%d\",", i ? "," : "", e->port);
		if (mgr_caller_same(who, &e->owner)) {
			sbuf_printf(out, "\"password\":");
			sbuf_json_str(out, e->cmd.password);
			sbuf_printf(out, ",");
		}
		sbuf_printf(out, "\"method\":");
		sbuf_json_str(out, e->cmd.method ? e->cmd.method : m->cfg->method);
		if (e->cmd.rate_limit)
			sbuf_printf(out, ",\"rate_limit\":%llu", (unsigned long long)e->cmd.rate_limit);
		if (e->cmd.data_limit)
			sbuf_printf(out, ",\"data_limit\":%llu", (unsigned long long)e->cmd.data_limit);
		sbuf_printf(out, "}");
	}
	sbuf_printf(out, list ? "\n]" : "}");
}

/* One command of an allowed caller; the reply goes to text (len bytes) or out. */
static const char *run_command(struct manager *m, struct mgr_cmd *c, const struct mgr_caller *who,
			       char *text, size_t len, struct sbuf *out)
{
	struct port_entry *e = find(m, c->port);
	const char *why = "";

	if (c->kind == MGR_LIST || c->kind == MGR_PING) {
		describe(m, c->kind == MGR_LIST, who, out);
		return out->failed || !out->p ? "err: out of memory" : out->p;
	}
	if (c->kind == MGR_REMOVE) {
		if (!e) {
			snprintf(text, len, "err: no such port %d", c->port);
			return text;
		}
		log_info("port %d removed", c->port);
		stop_entry(m, e);
		mgr_forget_port(c->port);
	} else if (add(m, c, who, &why)) {
		snprintf(text, len, "err: %s", why);
		log_info("manager: add refused: %s", why);
		return text;
	}
	return "ok";
}

/* A datagram with its sender's credentials (SO_PASSCRED on a unix socket). */
static ssize_t receive(int fd, char *buf, size_t cap, struct sockaddr_storage *from,
		       struct mgr_caller *who)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = { .msg_name = from, .msg_namelen = sizeof(*from), .msg_iov = &iov,
			      .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
	ssize_t n;

	memset(from, 0, sizeof(*from));
	n = recvmsg(fd, &msg, MSG_DONTWAIT);
	if (n >= 0)
		mgr_caller_of(who, &msg, msg.msg_namelen);
	return n;
}

static void on_datagram(struct handler *h, uint32_t events)
{
	struct manager *m = container_of(h, struct manager, sock);
	struct sockaddr_storage from;
	char buf[4097], text[300], name[80];
	const char *reply = text, *why = "";
	struct sbuf out = { 0 };
	struct mgr_caller who;
	struct mgr_cmd c;
	enum mgr_right right;
	ssize_t n = receive(h->fd, buf, sizeof(buf), &from, &who);

	(void)events;
	if (n < 0)
		return;
	right = mgr_auth_check(&m->auth, &who);
	if (right == MGR_DENY) {
		log_warn("manager: refused a datagram from %s: not allowed (--manager-allow)",
			 mgr_caller_str(&who, name, sizeof(name)));
		reply = "err: not allowed";
	} else if (mgr_cmd_parse(buf, (size_t)n, &c, &why)) {
		snprintf(text, sizeof(text), "err: %s", why);
		log_info("manager: refused a command: %s", why);
	} else if (c.kind == MGR_STAT || right == MGR_STAT_ONLY) {
		struct port_entry *e = find(m, c.port);

		if (c.kind == MGR_STAT && e)
			e->bytes = c.bytes;
		reply = c.kind == MGR_STAT ? NULL : "err: not allowed";
		mgr_cmd_free(&c);
	} else {
		reply = run_command(m, &c, &who, text, sizeof(text), &out);
		mgr_cmd_free(&c);
	}
	/* A report from one of our servers gets no answer. */
	if (reply && who.addr_len > sizeof(sa_family_t) &&
	    sendto(h->fd, reply, MIN(strlen(reply), (size_t)REPLY_MAX), 0,
		   (struct sockaddr *)&from, who.addr_len) < 0)
		log_debug("manager: reply: %s", strerror(errno));
	sbuf_free(&out);
}

/* ssctl against ssmanager: its ports; the connections live in each port's ssserver. */
static void m_conns(void *arg, struct sbuf *rows)
{
	(void)arg;
	(void)rows;
}

static void m_stats(void *arg, struct sbuf *out)
{
	struct manager *m = arg;

	sbuf_printf(out, "{\"program\":\"ssmanager\",\"workers\":0,\"traffic\":{");
	for (int i = 0; i < m->n; i++)
		sbuf_printf(out, "%s\"%d\":%llu", i ? "," : "", m->ports[i].port,
			    (unsigned long long)m->ports[i].bytes);
	sbuf_printf(out, "}}");
}

static void m_metrics(void *arg, struct sbuf *out)
{
	struct manager *m = arg;

	sbuf_printf(out, "# HELP ssbpf_port_bytes_total Bytes up and down per port, as its ssserver "
		    "reported them.\n# TYPE ssbpf_port_bytes_total counter\n");
	for (int i = 0; i < m->n; i++)
		sbuf_printf(out, "ssbpf_port_bytes_total{port=\"%d\"} %llu\n", m->ports[i].port,
			    (unsigned long long)m->ports[i].bytes);
	procstat_prometheus(out, NULL, 0);
}

static int m_kill(void *arg, uint64_t id, const char *who)
{
	(void)arg;
	(void)id;
	(void)who;
	return -ENOENT;
}

/* UDP HOST:PORT, or a unix datagram socket at a path (a stale one is replaced). */
static int open_socket(const char *addr, const char **why)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_storage sa;
	char host[300];
	socklen_t sl;
	int port, fd;

	if (strchr(addr, '/') || config_split_hostport(addr, host, sizeof(host), &port)) {
		if (strlen(addr) >= sizeof(un.sun_path)) {
			*why = "socket path too long";
			return -1;
		}
		memcpy(un.sun_path, addr, strlen(addr));
		unlink(addr);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		/* Mode 0600 from the start; each sender's credentials come with its datagram. */
		mode_t old = umask(0177);
		int ok = fd >= 0 && !bind(fd, (struct sockaddr *)&un, sizeof(un)) &&
			 !setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int));

		umask(old);
		if (!ok) {
			*why = strerror(errno);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	if (listener_resolve(host, port, SOCK_DGRAM, &sa, &sl, why)) {
		*why = "cannot resolve the address";
		return -1;
	}
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sl)) {
		*why = strerror(errno);
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A server that exits by itself leaves the table, with a line saying how. */
static void on_tick(void *arg)
{
	struct manager *m = arg;
	pid_t pid;
	int st;

	metrics_tick(m->metrics, loop_now(m->loop));
	mgr_upgrade_tick(m);
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (shared_gone(m, pid, st))
			continue;
		for (int i = 0; i < m->n; i++) {
			if (m->ports[i].pid != pid)
				continue;
			log_warn("ssserver of port %d (pid %d) exited (%s %d); the port is no longer served",
				 m->ports[i].port, (int)pid, WIFEXITED(st) ? "status" : "signal",
				 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			m->ports[i].pid = -1;
			stop_entry(m, &m->ports[i]);
			break;
		}
	}
}

static void on_signal(void *arg, int signo)
{
	struct manager *m = arg;

	if (signo == SIGUSR1 || signo == SIGHUP) {
		log_info("%d ports", m->n);
		return;
	}
	log_info("%s: stopping %d servers", strsignal(signo), m->n);
	loop_stop(m->loop);
}

static void on_batch_end(void *arg)
{
	(void)arg;
}

/* Ports of the config file (port_password or servers[]) start at once. */
static void start_config_ports(struct manager *m)
{
	const char *err = "";

	for (int i = 0; i < m->cfg->nports; i++) {
		const struct cfg_port *p = &m->cfg->ports[i];
		struct mgr_cmd c = { .kind = MGR_ADD, .port = p->port };

		if (!p->password || !(c.password = strdup(p->password)) ||
		    (p->method && !(c.method = strdup(p->method)))) {
			log_err("port %d: no password (users are for ssserver itself)", p->port);
			mgr_cmd_free(&c);
			continue;
		}
		if (add(m, &c, &m->self, &err))
			log_err("port %d: %s", p->port, err);
		mgr_cmd_free(&c);
	}
}

static int setup(struct manager *m, const char **why)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		*why = "cannot find this program's folder";
		return -1;
	}
	self[n] = 0;
	snprintf(m->exe, sizeof(m->exe), "%s", m->cfg->executable ? m->cfg->executable : "");
	if (!m->cfg->executable)
		snprintf(m->exe, sizeof(m->exe), "%s/ssserver", dirname(self));
	if (m->cfg->workdir) {
		snprintf(m->dir, sizeof(m->dir), "%s", m->cfg->workdir);
		if (mkdir(m->dir, 0700) && errno != EEXIST) {
			*why = "cannot make the -D directory";
			return -1;
		}
	} else if (snprintf(m->dir, sizeof(m->dir), "/tmp/ssmanager.XXXXXX"), !mkdtemp(m->dir)) {
		*why = "cannot make its folder in /tmp";
		return -1;
	}
	if ((m->sock.fd = open_socket(m->cfg->manager_address, why)) < 0)
		return -1;
	/* Room for every port's "stat:" of one report, with commands between them. */
	if (setsockopt(m->sock.fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){ 8 << 20 }, sizeof(int)))
		setsockopt(m->sock.fd, SOL_SOCKET, SO_RCVBUF, &(int){ 8 << 20 }, sizeof(int));
	m->sock.on_event = on_datagram;
	if (!(m->loop = loop_new(100, on_signal, on_tick, on_batch_end, m)) ||
	    loop_watch(m->loop, &m->sock, EPOLLIN)) {
		*why = "cannot set up the event loop";
		return -1;
	}
	log_info("ssmanager on %s, running %s", m->cfg->manager_address, m->exe);
	ctl_start(m->cfg, "ssmanager", m->loop, &m->backend, m_metrics, &m->ctl, &m->metrics);
	return 0;
}

/* --log-file, --syslog and -f, as ssserver takes them; 0 or the exit status. */
static int log_and_background(const struct ss_config *cfg)
{
	const char *err = "";
	int r;

	if ((r = log_open(cfg->log_file, cfg->use_syslog))) {
		fprintf(stderr, "ssmanager: cannot open log file %s: %s\n", cfg->log_file, strerror(-r));
		return 2;
	}
	if (cfg->pid_file && daemon_start(cfg->pid_file, cfg->log_file, &err)) {
		log_err("%s", err);
		return 1;
	}
	daemon_set_main_pid();
	return 0;
}

int manager_main(int argc, char **argv)
{
	struct manager *m = calloc(1, sizeof(*m));
	struct ss_config cfg;
	const char *why = "";
	const char *err = "";
	int r, status = 0;

	if (!m)
		return 1;
	if ((r = config_load(&cfg, PROG_MANAGER, argc, argv, &err))) {
		if (r < 0)
			fprintf(stderr, "ssmanager: %s\nRun 'ssmanager --help' for the options.\n", err);
		config_free(&cfg);
		free(m);
		return r > 0 ? 0 : 2;
	}
	if (mgr_auth_init(&m->auth, cfg.manager_allow, cfg.user, &err)) {
		fprintf(stderr, "ssmanager: %s\n", err);
		config_free(&cfg);
		free(m);
		return 2;
	}
	m->self = (struct mgr_caller){ .local = true, .uid = geteuid() };
	m->cfg = &cfg;
	m->sock.fd = -1;
	m->shared.pid = -1;
	m->backend = (struct ctl_backend){ .conns = m_conns, .stats = m_stats, .kill = m_kill,
					   .upgrader = mgr_upgrade_ctl, .arg = m };
	/* An upgraded server's successor becomes this process's child once its predecessor exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	log_init("ssmanager", LOG_INFO + cfg.verbose - cfg.quiet);
	signal(SIGPIPE, SIG_IGN);
	if ((status = log_and_background(&cfg))) {
		(void)0;
	} else if (setup(m, &why)) {
		log_err("%s: %s", cfg.manager_address, why);
		status = 1;
	} else {
		start_config_ports(m);
		daemon_notify_ready();
		if (loop_run(m->loop))
			status = 1;
	}
	ctl_close(m->ctl);
	metrics_close(m->metrics);
	m->stopping = true;
	mgr_shared_stop(&m->shared);
	while (m->n)
		stop_entry(m, &m->ports[m->n - 1]);
	if (m->loop)
		loop_free(m->loop);
	if (m->sock.fd >= 0)
		close(m->sock.fd);
	if (strchr(cfg.manager_address ? cfg.manager_address : "", '/'))
		unlink(cfg.manager_address);
	if (m->dir[0] && !cfg.workdir)
		rmdir(m->dir);
	mgr_auth_free(&m->auth);
	daemon_remove_pid(cfg.pid_file);
	config_free(&cfg);
	free(m);
	return status;
}
