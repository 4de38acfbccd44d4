// SPDX-License-Identifier: MIT
/*
 * The process tree: configuration, the shared replay filter, and one worker
 * or --workers N worker processes that it restarts and forwards signals to.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "counters.h"
#include "crypto.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "plugin.h"
#include "privs.h"
#include "replay_file.h"
#include "salt_window.h"
#include "server_ports.h"
#include "sockpool.h"
#include "upgrade.h"
#include "loop.h"
#include "serve.h"
#include "shortcut.h"
#include "capture.h"
#include "capture_setup.h"
#include "supervisor.h"
#include "traffic.h"
#include "upstream.h"
#include "online.h"
#include "tree.h"
#include "worker.h"

#define PORT_WAIT_MS 3000

/*
 * Each relayed pair needs 2 sockets (6 fds with splice pipes): use the hard
 * limit, or -n N (raising the hard limit needs CAP_SYS_RESOURCE).
 */
static void set_fd_limit(int nofile)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (!nofile) {
		rl.rlim_cur = rl.rlim_max;
	} else {
		rl.rlim_cur = (rlim_t)nofile;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("cannot set the open file limit to %llu: %s", (unsigned long long)rl.rlim_cur,
			 strerror(errno));
}

/* --replay-file's default (PROG-NAME or PROG-PORT) in the state folder, which is ours to make. */
static int replay_default_path(struct ss_config *cfg, const char *name)
{
	char path[512];

	replay_file_default(path, sizeof(path), name,
			    cfg->prog == PROG_SERVER ? cfg->server_port : cfg->local_port,
			    cfg->config_path);
	*strrchr(path, '/') = 0;
	mkdir(path, 0700);
	path[strlen(path)] = '/';
	return config_set_str(&cfg->replay_file, path);
}

/* The filter in memory (a memfd an upgrade's successor maps too); 0 or -errno. */
static int replay_in_memory(const struct ss_config *cfg, struct replay *r)
{
	int ret = replay_mem_open(r, (size_t)cfg->replay_capacity, cfg->replay_fp);

	if (ret == 1)
		log_info("replay filter: kept from the process this one replaced (in memory)");
	return ret < 0 ? ret : 0;
}

/*
 * The replay filter, made before the workers fork: in its file
 * (replay_file.h), so that it outlives restarts and crashes, or in memory
 * when the method has no salts, with "off", or when the file cannot be used.
 */
static int replay_setup(struct ss_config *cfg, struct replay *r, const char *name)
{
	const char *why = NULL;
	int ret;

	if (!cfg->m->key_len || (cfg->replay_file && !strcmp(cfg->replay_file, "off")))
		return replay_in_memory(cfg, r);
	if (!cfg->replay_file && replay_default_path(cfg, name))
		return -ENOMEM;
	ret = replay_file_open(r, (size_t)cfg->replay_capacity, cfg->replay_fp, cfg->replay_file,
			       &why);
	if (ret == 1)
		log_info("replay filter: kept from %s", cfg->replay_file);
	else if (!ret && why)
		log_warn("replay filter: %s held something else (%s); starting empty in it",
			 cfg->replay_file, why);
	else if (!ret)
		log_info("replay filter: starting empty in %s", cfg->replay_file);
	if (ret >= 0)
		return 0;
	log_warn("replay filter: cannot use %s: %s; keeping it in memory only (a restart forgets it)",
		 cfg->replay_file, strerror(-ret));
	if (config_set_str(&cfg->replay_file, "off"))
		return -ENOMEM;
	return replay_in_memory(cfg, r);
}

/* Does any port take a 2022 method (whose request salts the salt window keeps)? */
static bool uses_sip022(const struct ss_config *cfg)
{
	if (cfg->m && cfg->m->sip022)
		return true;
	for (int i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].m && cfg->ports[i].m->sip022)
			return true;
	return false;
}

/*
 * ssserver's SIP022 salt window: next to the replay filter's file
 * (PATH.sip022), so that recorded requests stay refused after a restart or a
 * crash; in memory with --replay-file off or when the file cannot be used.
 */
static int salts_setup(const struct ss_config *cfg, struct salt_window **sp)
{
	char path[4096];
	const char *why = NULL;
	int ret = -ENOENT;

	if (uses_sip022(cfg) && cfg->replay_file && strcmp(cfg->replay_file, "off")) {
		snprintf(path, sizeof(path), "%s.sip022", cfg->replay_file);
		ret = salt_file_open(sp, path, &why);
		if (ret == 1)
			log_info("SIP022 salt window: kept from %s", path);
		else if (!ret)
			log_info("SIP022 salt window: starting empty in %s%s%s", path,
				 why ? ", replacing what was there: " : "", why ? why : "");
		else
			log_warn("SIP022 salt window: cannot use %s: %s; keeping it in memory only "
				 "(a restart forgets it)", path, strerror(-ret));
		if (ret >= 0)
			return 0;
	}
	if ((ret = salt_mem_open(sp)) < 0) {
		log_err("cannot allocate the SIP022 salt window: %s", strerror(-ret));
		return ret;
	}
	if (ret == 1)
		log_info("SIP022 salt window: kept from the process this one replaced (in memory)");
	return 0;
}

/* Is host an address of the loopback network (127.0.0.0/8, ::1, or their names)? */
static bool loopback_only(const char *host)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM }, *res, *ai;
	bool lo = true;

	if (getaddrinfo(host, NULL, &hints, &res))
		return false;
	for (ai = res; ai; ai = ai->ai_next) {
		const struct sockaddr_in6 *s6 = (const void *)ai->ai_addr;

		if (ai->ai_family == AF_INET)
			lo &= (ntohl(((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
		else
			lo &= IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
			      (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
	}
	freeaddrinfo(res);
	return lo;
}

/*
 * A SOCKS5 listener that others can reach, without authentication, relays
 * for anyone (TCP and UDP ASSOCIATE): say so once, at start.
 */
static void warn_open_proxy(const struct ss_config *cfg)
{
	if (cfg->prog != PROG_LOCAL || cfg->local_mode != LOCAL_SOCKS || cfg->relay ||
	    cfg->socks_user || loopback_only(cfg->local_address))
		return;
	log_warn("SOCKS5 on %s port %d without authentication is an open proxy for anyone who "
		 "can reach it (TCP and UDP); listen on 127.0.0.1 (-b) or require "
		 "--socks5-username and --socks5-password", cfg->local_address, cfg->local_port);
}

/* --manager-address: a datagram socket connected to the manager (UDP host:port or a unix path). */
static int manager_socket(const char *addr)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	char host[300];
	int port, fd = -1;

	if (strchr(addr, '/') || config_split_hostport(addr, host, sizeof(host), &port)) {
		if (strlen(addr) >= sizeof(un.sun_path))
			return -1;
		memcpy(un.sun_path, addr, strlen(addr));
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)))
			log_warn("manager %s: %s; will retry", addr, strerror(errno));
		return fd;
	}
	char ports[8];

	snprintf(ports, sizeof(ports), "%d", port);
	if (getaddrinfo(host, ports, &hints, &res))
		return -1;
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Workers share their ports through SO_REUSEPORT, which would let them join
 * another process's group as well: a second instance started by mistake
 * would silently take half the clients. Unless --reuse-port asks for that,
 * an address held already stops the start, as libev's bind error does.
 */
static int ports_held(const struct ss_config *cfg, bool say)
{
	bool tcp = cfg->mode != MODE_UDP_ONLY, udp = cfg->mode != MODE_TCP_ONLY;

	if (cfg->prog == PROG_SERVER)
		return server_ports_taken(cfg, NULL, NULL, say);
	return listener_taken_log(cfg->local_address, cfg->local_port,
				  tcp || cfg->local_mode == LOCAL_SOCKS, udp, false, say);
}

/*
 * A process that was just told to stop (a restart script, libev's
 * ss-manager re-adding a port) lets go of its ports within moments: they
 * are given PORT_WAIT_MS before the start fails.
 */
static int ports_taken(const struct ss_config *cfg)
{
	for (int waited = 0; waited < PORT_WAIT_MS && ports_held(cfg, false); waited += 50)
		usleep(50 * 1000);
	return ports_held(cfg, true);
}

/* --fast-open: said once when net.ipv4.tcp_fastopen lacks a bit this program needs. */
static void warn_fast_open(const struct ss_config *cfg)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");
	int v = -1, need = cfg->prog == PROG_SERVER ? 2 : 1;

	if (!cfg->fast_open || !f) {
		if (f)
			fclose(f);
		return;
	}
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	if (v >= 0 && !(v & need))
		log_warn("--fast-open: net.ipv4.tcp_fastopen is %d, so the kernel will not use Fast "
			 "Open %s; set it to 3 (sysctl -w net.ipv4.tcp_fastopen=3)", v,
			 need == 2 ? "for connections it accepts" : "for connections it makes");
}

/* sockpool_prune's keep: a port the configuration listens on. */
static bool listens_on(int port, void *arg)
{
	const struct ss_config *cfg = arg;

	if (cfg->plugin_port && port == cfg->plugin_port)
		return true;
	return cfg->prog == PROG_SERVER ? config_serves_port(port, arg) : port == cfg->local_port;
}

/* Configuration, logging and the background fork; 0, or the exit status (+1) on a problem. */
static int start(struct ss_config *cfg, enum prog_kind prog, int argc, char **argv,
		 const char *name)
{
	sigset_t stop_mask;
	const char *err = "";
	int r = config_load(cfg, prog, argc, argv, &err);

	if (r) {
		if (r < 0) {
			fprintf(stderr, "%s: %s\nRun '%s --help' for the options.\n", name, err, name);
			daemon_upgrade_status(err);
		}
		return r > 0 ? 1 : 3;
	}
	log_init(name, LOG_INFO + cfg->verbose - cfg->quiet);
	if ((r = log_open(cfg->log_file, cfg->use_syslog))) {
		fprintf(stderr, "%s: cannot open log file %s: %s\n", name, cfg->log_file, strerror(-r));
		return 2;
	}
	/* A stop signal during start-up waits for the loop instead of killing half a daemon. */
	loop_signal_set(&stop_mask);
	sigaddset(&stop_mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &stop_mask, NULL);
	if (cfg->pid_file && daemon_start(cfg->pid_file, cfg->log_file, &err)) {
		log_err("%s", err);
		return 2;
	}
	daemon_set_main_pid();
	if (cfg->ignored)
		log_debug("config: ignoring keys that mean nothing to %s: %s", name, cfg->ignored);
	if (cfg->meaningless)
		log_warn("ignored (libev's, with no meaning in %s): %s", name, cfg->meaningless);
	warn_open_proxy(cfg);
	warn_fast_open(cfg);
	set_fd_limit(cfg->nofile);
	if (crypto_init()) {
		log_err("libsodium initialisation failed");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n > 0 ? (int)MIN(n, 1024) : 1;
	}
	cfg->port_shared = cfg->reuse_port;
	if (cfg->workers > 1)
		cfg->reuse_port = true;
	/* Sockets passed by systemd or by the process this one replaces are ours to share. */
	if ((r = sockpool_inherit(cfg->workers, &err)) < 0) {
		log_err("LISTEN_FDS: %s", err);
		return 2;
	}
	if (r > 0)
		log_info("%d listening sockets inherited (%s)", r,
			 daemon_upgraded_from() ? "upgrade" : "socket activation");
	/*
	 * The addresses of inherited sockets are this process's; the others are
	 * checked (a socket unit for one port of several). A successor checks
	 * none: its predecessor still holds every port until it is ready.
	 */
	if (cfg->reuse_port && !cfg->port_shared && !daemon_upgraded_from() && ports_taken(cfg))
		return 2;
	return 0;
}

/*
 * SIP022 UDP with several workers: a datagram socketpair per worker, over
 * which the others hand it datagrams of the sessions it holds (udp_sessions.c).
 */
static int hand_over_sockets(struct tree *t)
{
	int n = t->cfg->workers;

	if (!(t->s22_fwd = calloc((size_t)n, sizeof(*t->s22_fwd))))
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		t->s22_fwd[i][0] = t->s22_fwd[i][1] = -1;
	for (int i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, t->s22_fwd[i])) {
			log_err("socketpair: %s", strerror(errno));
			return -errno;
		}
		setsockopt(t->s22_fwd[i][0], SOL_SOCKET, SO_RCVBUF, &(int){ 1 << 20 }, sizeof(int));
	}
	return 0;
}

/* --bpf-cgroup: the local shortcut, one for the tree; -errno when it must work and does not. */
static int shortcut_up(struct tree *t)
{
	const struct ss_config *cfg = t->cfg;
	const char *why = "";
	int r;

	if (cfg->bpf == BPF_OFF) {
		log_info("shortcut: off (--bpf off); --bpf-cgroup %s is not used", cfg->bpf_cgroup);
		return 0;
	}
	if (!(r = shortcut_open(&t->sc, cfg->bpf_cgroup, &why)))
		return 0;
	if (cfg->bpf == BPF_ON) {
		log_err("shortcut (--bpf on, --bpf-cgroup %s): %s", cfg->bpf_cgroup, why);
		return r;
	}
	log_warn("shortcut unavailable: %s; local connections keep loopback TCP", why);
	return 0;
}

/*
 * ssserver --bpf with several ports: one sk_lookup program hands them all to
 * one socket per address and worker; --bpf auto falls back to a socket per
 * port with one line saying why.
 */
static int serve_up(struct tree *t)
{
	const struct ss_config *cfg = t->cfg;
	const char *why = "";
	int r;

	if (!(r = serve_open(&t->serve, cfg, &why))) {
		log_info("ports: served through sk_lookup, one socket per address, protocol and worker");
		return 0;
	}
	if (cfg->bpf == BPF_ON) {
		log_err("ports (--bpf on): %s", why);
		return r;
	}
	log_warn("ports: sk_lookup unavailable (%s); a socket per port instead", why);
	return 0;
}

/* What the workers share, made before any fork; 0 or -errno. */
static int shared_state(struct tree *t)
{
	struct ss_config *cfg = t->cfg;
	char path[PATH_MAX];
	const char *why = "";
	int r;

	if ((r = replay_setup(cfg, &t->replay, t->name))) {
		log_err("cannot allocate the replay filter: %s", strerror(-r));
		return r;
	}
	if (cfg->prog == PROG_SERVER && (r = salts_setup(cfg, &t->salts)))
		return r;
	if (cfg->prog == PROG_SERVER && cfg->workers > 1 && (r = hand_over_sockets(t)))
		return r;
	if (cfg->bpf_cgroup && (r = shortcut_up(t)))
		return r;
	if (cfg->capture && (r = capture_up(&t->cap, cfg)))
		return r;
	if (cfg->prog == PROG_SERVER && serve_wanted(cfg) && (r = serve_up(t)))
		return r;
	if (cfg->nupstreams && (r = upstream_pool_open(&t->servers, cfg, &why))) {
		log_err("servers: %s", why);
		return r;
	}
	if (!(t->ctr = counters_shared((size_t)cfg->workers))) {
		log_err("cannot allocate the counters: %s", strerror(errno));
		return -ENOMEM;
	}
	if (cfg->prog == PROG_SERVER) {
		if ((r = traffic_shared(&t->traffic, (size_t)cfg->workers))) {
			log_err("cannot allocate the traffic counters: %s", strerror(-r));
			return r;
		}
		traffic_assign(&t->traffic, cfg, true);
		if (traffic_path(cfg, path, sizeof(path))) {
			traffic_load(&t->traffic, path, false);
			traffic_take_added(&t->traffic, path);
		}
	}
	if (cfg->manager_address && (t->manager_fd = manager_socket(cfg->manager_address)) < 0)
		log_warn("manager %s: cannot reach it; traffic will not be reported",
			 cfg->manager_address);
	return 0;
}

int supervisor_main(enum prog_kind prog, int argc, char **argv)
{
	const char *name = prog == PROG_SERVER ? "ssserver" : "sslocal";
	struct tree t = { .name = name, .pl = { .pid = -1 }, .manager_fd = -1 };
	int r, status = 1;

	if (!(t.cfg = calloc(1, sizeof(*t.cfg))))
		return 1;
	upgrade_remember(argc, argv);
	/* A successor of an upgrade: its start-up errors go to the process it would replace. */
	if (daemon_take_upgrade()) {
		log_set_err_hook(daemon_upgrade_status);
		replay_locks_in_use();
	}
	if ((r = start(t.cfg, prog, argc, argv, name))) {
		daemon_remove_pid(t.cfg->pid_file);
		config_free(t.cfg);
		free(t.cfg);
		return r - 1;
	}
	if ((t.cfg->online_url && online_first(t.cfg)) || shared_state(&t))
		goto out;
	/* With a plugin or a manager the parent has its own work: the worker runs in a child. */
	if (t.cfg->plugin && t.cfg->mode != MODE_UDP_ONLY) {
		const char *why = "";

		upgrade_plugin_take(&t.pl);
		if (plugin_start(&t.pl, t.cfg, &why)) {
			log_err("plugin: %s", why);
			goto out;
		}
		t.cfg->plugin_port = t.pl.port;
	}
	/* Inherited sockets of ports this configuration does not serve close now. */
	if (sockpool_count())
		sockpool_prune(listens_on, t.cfg);
	/* The online configuration is fetched again by the parent too. */
	bool forked = t.cfg->workers > 1 || t.pl.pid > 0 || t.manager_fd >= 0 || t.cfg->online_url;
	struct worker_args wa = { .cfg = t.cfg, .replay = &t.replay, .salts = t.salts, .sc = t.sc, .cap = t.cap,
				  .serve = t.serve,
				  .servers = t.servers,
				  .ctr = t.ctr,
				  .traffic = t.traffic.names ? &t.traffic : NULL, .name = name,
				  .ctl_fd = -1, .pool_fd = -1 };

	status = forked ? tree_run(&t) : worker_run(&wa);
	plugin_stop(&t.pl);
out:
	if (t.ctr)
		counters_free(t.ctr, (size_t)t.cfg->workers);
	if (!upgrade_handed_over())
		tree_take_added(&t);
	tree_save_spent(&t); /* after an upgrade: what this process counted since, for the successor */
	traffic_free(&t.traffic);
	if (t.manager_fd >= 0)
		close(t.manager_fd);
	replay_file_sync(t.cfg, &t.replay, t.salts);
	replay_free(&t.replay);
	salt_window_free(t.salts);
	shortcut_close(t.sc);
	capture_close(t.cap);
	serve_close(t.serve);
	upstream_pool_close(t.servers);
	for (int i = 0; t.s22_fwd && i < t.cfg->workers; i++)
		for (int e = 0; e < 2; e++)
			if (t.s22_fwd[i][e] >= 0)
				close(t.s22_fwd[i][e]);
	free(t.s22_fwd);
	daemon_remove_pid(t.cfg->pid_file);
	config_free(t.cfg);
	free(t.cfg);
	return status;
}
