// SPDX-License-Identifier: MIT
/* One worker: configuration, listeners, signals, the tick; shared by both binaries. */
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf_relay.h"
#include "conn.h"
#include "dns.h"
#include "log.h"
#include "proxy.h"
#include "steer.h"
#include "udp.h"

#define TICK_MS 100
#define ACCEPT_BATCH 64

void *proxy_buf_get(struct proxy *p)
{
	void **b = p->pool;

	if (b) {
		p->pool = *b;
		p->pool_len--;
		return b;
	}
	return malloc(PROXY_BUF_CAP);
}

void proxy_buf_put(struct proxy *p, void *buf)
{
	if (p->pool_len >= PROXY_POOL_MAX) {
		free(buf);
		return;
	}
	*(void **)buf = p->pool;
	p->pool = buf;
	p->pool_len++;
}

static void pool_free(struct proxy *p)
{
	while (p->pool)
		free(proxy_buf_get(p));
	while (p->npipes) {
		p->npipes--;
		close(p->pipes[p->npipes][0]);
		close(p->pipes[p->npipes][1]);
	}
	free(p->pipes);
}

int proxy_pipe_get(struct proxy *p, int fds[2])
{
	if (p->npipes) {
		p->npipes--;
		if (p->npipes < p->pipes_low)
			p->pipes_low = p->npipes;
		fds[0] = p->pipes[p->npipes][0];
		fds[1] = p->pipes[p->npipes][1];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	/* A larger pipe moves more per splice call; the default 64 KiB is kept if refused. */
	fcntl(fds[1], F_SETPIPE_SZ, PROXY_PIPE_SIZE);
	return 0;
}

void proxy_pipe_put(struct proxy *p, int fds[2], bool empty)
{
	if (!p->pipes)
		p->pipes = calloc(PROXY_PIPE_POOL_MAX, sizeof(*p->pipes));
	if (empty && p->pipes && p->npipes < PROXY_PIPE_POOL_MAX) {
		p->pipes[p->npipes][0] = fds[0];
		p->pipes[p->npipes][1] = fds[1];
		p->npipes++;
	} else {
		close(fds[0]);
		close(fds[1]);
	}
	fds[0] = fds[1] = -1;
}

/*
 * Closes the pooled pipes that no connection took since the last tick, but
 * PROXY_PIPE_IDLE: after a crowd the fds go back within a tick or two.
 */
static void pipe_trim(struct proxy *p)
{
	unsigned idle = p->pipes_low > PROXY_PIPE_IDLE ? p->pipes_low - PROXY_PIPE_IDLE : 0;

	while (idle-- && p->npipes) {
		p->npipes--;
		close(p->pipes[p->npipes][0]);
		close(p->pipes[p->npipes][1]);
	}
	p->pipes_low = p->npipes;
}

/* sockmap bookkeeping (FIN after drain, flow-control hand-over) every 2 ms while needed. */
#define POLL_NS 2000000

static void poll_arm(struct proxy *p, bool on)
{
	struct itimerspec its = { 0 };

	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = POLL_NS;
	timerfd_settime(p->poll.fd, 0, &its, NULL);
}

int proxy_transparent(int fd)
{
	int v4 = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &(int){ 1 }, sizeof(int));
	int v6 = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &(int){ 1 }, sizeof(int));

	return v4 && v6 ? -errno : 0;
}

void proxy_poll_add(struct proxy *p, struct conn *c)
{
	if (c->polling)
		return;
	if (!p->polls)
		poll_arm(p, true);
	c->polling = true;
	c->poll_next = p->polls;
	p->polls = c;
}

static void on_poll(struct handler *h, uint32_t events)
{
	struct proxy *p = (struct proxy *)((char *)h - offsetof(struct proxy, poll));
	struct conn **pp = &p->polls;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) != sizeof(n))
		return;
	while (*pp) {
		struct conn *c = *pp;

		/* conn_poll may destroy c, which unlinks it from this list itself. */
		if (conn_poll(c)) {
			pp = &c->poll_next;
		} else if (*pp == c) {
			*pp = c->poll_next;
			c->polling = false;
		}
	}
	if (!p->polls)
		poll_arm(p, false);
}

static enum conn_role listener_role(const struct proxy *p)
{
	if (p->cfg->prog == PROG_SERVER)
		return ROLE_SERVER;
	if (p->cfg->relay)
		return ROLE_RELAY;
	if (p->cfg->local_mode == LOCAL_REDIR)
		return ROLE_REDIR;
	return p->cfg->local_mode == LOCAL_TUNNEL ? ROLE_TUNNEL : ROLE_SOCKS;
}

static void destroy_all(struct proxy *p, const char *why)
{
	while (p->hs_head)
		conn_destroy(p->hs_head, why);
	while (p->lru_head)
		conn_destroy(p->lru_head, why);
}

/* At max_connections the listeners stop accepting (the kernel backlog waits). */
static void set_full(struct proxy *p, bool full)
{
	if (full == p->full)
		return;
	p->full = full;
	if (full)
		log_warn("%u connections: the max_connections limit; accepting again below it",
			 p->nconns);
	for (struct listener *ls = p->listeners; ls; ls = ls->next)
		if (!ls->paused)
			loop_watch(p->loop, &ls->h, full ? 0 : EPOLLIN);
}

static void on_accept(struct handler *h, uint32_t events)
{
	struct listener *ls = (struct listener *)h;
	struct proxy *p = ls->p;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (p->cfg->max_connections && p->nconns >= (unsigned)p->cfg->max_connections) {
			set_full(p, true);
			return;
		}
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of fds: stop accepting until the next tick, never spin. */
				log_warn("accept: %s; pausing new connections", strerror(errno));
				loop_watch(p->loop, h, 0);
				ls->paused = true;
			}
			return;
		}
		conn_accept(p, fd, listener_role(p));
	}
}

static int listen_on(struct proxy *p, const char *host, int port, bool v6only, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res;
	char ports[8], where[300];
	int fd, r;

	snprintf(ports, sizeof(ports), "%d", port);
	if ((r = getaddrinfo(host, ports, &hints, &res))) {
		*why = gai_strerror(r);
		return -EINVAL;
	}
	sockaddr_str(res->ai_addr, where, sizeof(where));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (p->cfg->reuse_port)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int));
	if (res->ai_family == AF_INET6 && v6only)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 }, sizeof(int));
	if (listener_role(p) == ROLE_REDIR && proxy_transparent(fd))
		log_warn("redir: IP_TRANSPARENT on %s: %s; only NAT REDIRECT will reach it",
			 where, strerror(errno));
	if (p->cfg->fast_open &&
	    setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &(int){ 256 }, sizeof(int)))
		log_warn("TCP Fast Open unavailable on %s: %s", where, strerror(errno));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1024))
		goto err_close;
	freeaddrinfo(res);

	struct listener *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		close(fd);
		*why = "out of memory";
		return -ENOMEM;
	}
	ls->h.fd = fd;
	ls->h.on_event = on_accept;
	ls->p = p;
	ls->next = p->listeners;
	p->listeners = ls;
	loop_watch(p->loop, &ls->h, EPOLLIN);
	log_info("listening on %s", where);
	return 0;

err_close:
	r = -errno;
	close(fd);
	freeaddrinfo(res);
	log_err("cannot listen on %s: %s", where, strerror(-r));
	*why = strerror(-r);
	return r;
err:
	r = -errno;
	freeaddrinfo(res);
	*why = strerror(-r);
	return r;
}

static void close_listeners(struct proxy *p)
{
	while (p->listeners) {
		struct listener *ls = p->listeners;

		p->listeners = ls->next;
		loop_forget(p->loop, &ls->h);
		close(ls->h.fd);
		free(ls);
	}
}

static void log_stats(const struct proxy *p)
{
	struct udp_stats u;

	log_info("%u TCP connections live; pairs handed to sockmap %llu, to splice %llu, "
		 "moved out of sockmap by flow control %llu; %u pipe pairs pooled", p->nconns,
		 (unsigned long long)p->to_sockmap, (unsigned long long)p->to_splice,
		 (unsigned long long)p->left_sockmap, p->npipes);
	if (p->bpf) {
		unsigned socks = 0, peers = 0;

		bpf_relay_count(p->bpf, &socks, &peers);
		log_info("sockmap: %u socket entries, %u peer entries", socks, peers);
	}
	if (!p->udp)
		return;
	udp_stats(p, &u);
	log_info("udp: relayed %llu in, %llu out; dropped: %llu bad crypto, %llu bad header, "
		 "%llu fragmented, %llu oversize, %llu without association, %llu unresolved, "
		 "%llu send failures; %llu associations evicted; %llu replayed, %llu refused by policy",
		 (unsigned long long)u.in, (unsigned long long)u.out,
		 (unsigned long long)u.bad_crypto, (unsigned long long)u.bad_header,
		 (unsigned long long)u.fragmented, (unsigned long long)u.oversize,
		 (unsigned long long)u.no_assoc, (unsigned long long)u.unresolved,
		 (unsigned long long)u.send_failed, (unsigned long long)u.evicted,
		 (unsigned long long)u.replayed, (unsigned long long)u.refused);
}

static void on_signal(void *arg, int signo)
{
	struct proxy *p = arg;

	if (signo == SIGQUIT) {
		if (p->draining)
			return;
		log_info("SIGQUIT: no new connections; draining %u live ones (at most %d s)",
			 p->nconns, p->cfg->timeout);
		p->draining = true;
		p->drain_deadline = loop_now(p->loop) + (uint64_t)p->cfg->timeout * 1000;
		close_listeners(p);
		udp_close_all(p);
		if (!p->nconns)
			loop_stop(p->loop);
		return;
	}
	if (signo == SIGHUP || signo == SIGUSR1) {
		log_stats(p);
		return;
	}
	log_info("%s: exiting", strsignal(signo));
	loop_stop(p->loop);
}

/*
 * After a crowd of connections has gone, give the memory back: keep a few
 * pooled buffers and return freed heap pages to the kernel.
 */
static void trim_memory(struct proxy *p)
{
	if (p->nconns > p->peak)
		p->peak = p->nconns;
	/* After a crowd: at each quarter of the peak, and once more when all are gone. */
	if (!(p->peak >= 256 && p->nconns <= p->peak / 4) && !(p->peak >= 64 && !p->nconns))
		return;
	while (p->pool_len > 16)
		free(proxy_buf_get(p));
	malloc_trim(0);
	p->peak = p->nconns;
}

static void on_tick(void *arg)
{
	struct proxy *p = arg;
	uint64_t now = loop_now(p->loop);

	trim_memory(p);
	pipe_trim(p);
	dns_tick(p->dns);
	conn_sweep(p, now, (uint64_t)p->cfg->timeout * 1000,
		   (uint64_t)p->cfg->handshake_timeout * 1000);
	udp_sweep(p, now, (uint64_t)p->cfg->timeout * 1000);
	for (struct listener *ls = p->listeners; ls; ls = ls->next) {
		if (ls->paused) {
			ls->paused = false;
			if (!p->full)
				loop_watch(p->loop, &ls->h, EPOLLIN);
		}
	}
	if (p->draining && now >= p->drain_deadline) {
		destroy_all(p, "drain deadline");
	}
}

static void on_batch_end(void *arg)
{
	struct proxy *p = arg;

	conn_reap(p);
	udp_reap(p);
	/* After every batch, the tick's included: closed connections free slots. */
	if (p->full && p->nconns < (unsigned)p->cfg->max_connections)
		set_full(p, false);
	if (p->draining && !p->nconns)
		loop_stop(p->loop);
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		log_err("user \"%s\" does not exist", user);
		return -ENOENT;
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_err("cannot switch to user %s: %s", user, strerror(errno));
		return -errno;
	}
	log_info("running as %s", user);
	return 0;
}

static const char *const tier_names[] = {
	[TIER_AUTO] = "auto", [TIER_USER] = "userspace read/write",
	[TIER_SPLICE] = "splice (kernel pipe copy)",
	[TIER_SOCKMAP] = ("sockmap (kernel redirect; a pair whose kernel queue passes 4 MiB "
			  "moves to splice)"),
};

/*
 * Picks the STREAM tier of pass-through pairs (method none, --relay) and
 * says once which tier serves which leg, and why.
 */
static int choose_tier(struct proxy *p, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	bool pass = cfg->relay || p->method->id == SS_M_NONE;
	bool want_bpf = cfg->tier == TIER_SOCKMAP || cfg->bpf == BPF_ON ||
			(cfg->bpf == BPF_AUTO && cfg->tier == TIER_AUTO && pass);
	const char *bpf_why = "--bpf off";
	int r;

	if (want_bpf && (r = bpf_relay_open(&p->bpf, &bpf_why))) {
		if (cfg->bpf == BPF_ON || cfg->tier == TIER_SOCKMAP) {
			*why = bpf_why;
			return r;
		}
		log_info("sockmap tier unavailable: %s; falling back to splice", bpf_why);
	}
	if (cfg->tier != TIER_AUTO)
		p->pass_tier = cfg->tier;
	else
		p->pass_tier = p->bpf ? TIER_SOCKMAP : TIER_SPLICE;
	if (pass)
		log_info("STREAM tiers: %s -> %s legs carry the same bytes: %s%s",
			 cfg->prog == PROG_SERVER ? "client" : "application",
			 cfg->prog == PROG_SERVER ? "target" : (cfg->relay ? "upstream" : "server"),
			 tier_names[p->pass_tier],
			 cfg->tier != TIER_AUTO ? " (forced by --tier)" :
			 p->bpf ? "" : cfg->bpf == BPF_OFF ? " (--bpf off)" : " (BPF unavailable)");
	else
		log_info("STREAM tiers: userspace for both legs (method %s encrypts one leg: "
			 "the bytes differ, so the kernel cannot move them)%s",
			 p->method->name, p->bpf ? "; BPF loaded but unused" : "");
	return 0;
}

static void over_limit(void *ctx, uint64_t cookie)
{
	conn_over_limit(ctx, cookie);
}

static void on_bpf_events(struct handler *h, uint32_t events)
{
	struct proxy *p = (struct proxy *)((char *)h - offsetof(struct proxy, bpf_events));

	(void)events;
	bpf_relay_events(p->bpf, over_limit, p);
}

static void on_steer_watch(struct handler *h, uint32_t events)
{
	struct proxy *p = (struct proxy *)((char *)h - offsetof(struct proxy, steer_watch));

	(void)events;
	steer_watch_read(p->steer);
}

/*
 * redir --steer: the first worker installs the steering (the others share
 * its ports through SO_REUSEPORT, and sk_lookup's pick is spread over them).
 * --bpf auto falls back to nftables TPROXY with one line saying why.
 */
static int steer_setup(struct proxy *p, bool tcp, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	struct steer_spec spec;
	struct steer_params sp = {
		.spec = &spec, .bpf = cfg->bpf != BPF_OFF,
		.port = (uint16_t)cfg->local_port, .tcp_fd = tcp ? p->listeners->h.fd : -1,
		.udp_fd = udp_redir_fd(p), .mark = (uint32_t)cfg->fwmark,
		.table = (uint32_t)cfg->route_table,
	};
	char err[200];
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV }, *res, *ai;
	char port[8];
	int r;

	if (steer_parse(&spec, cfg->steer, cfg->exclude, cfg->steer_ports, err, sizeof(err))) {
		*why = "bad steering configuration";
		return -EINVAL;
	}
	/* The way to ssserver itself is never steered. */
	snprintf(port, sizeof(port), "%d", cfg->server_port);
	if (!getaddrinfo(cfg->servers[0], port, &hints, &res)) {
		for (ai = res; ai; ai = ai->ai_next)
			steer_exclude_addr(&spec, ai->ai_addr);
		freeaddrinfo(res);
	}
	r = steer_install(&p->steer, &sp, why);
	if (r && sp.bpf && cfg->bpf == BPF_AUTO) {
		log_warn("steering: sk_lookup unavailable (%s); using nftables TPROXY instead", *why);
		sp.bpf = false;
		r = steer_install(&p->steer, &sp, why);
	}
	if (!r && (p->steer_watch.fd = steer_watch_fd(p->steer)) >= 0) {
		p->steer_watch.on_event = on_steer_watch;
		loop_watch(p->loop, &p->steer_watch, EPOLLIN);
	}
	return r;
}

static int setup(struct proxy *p, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	int r;

	if ((r = choose_tier(p, why)))
		return r;
	log_info("replay filter: %d salts at false-positive rate %g, %zu KiB", cfg->replay_capacity,
		 cfg->replay_fp, replay_bytes(&p->replay) / 1024);
	if (cfg->prog == PROG_SERVER) {
		static char perr[300];

		if ((r = policy_init(&p->policy, cfg->allow_private, cfg->acl, perr, sizeof(perr)))) {
			*why = perr;
			return r;
		}
		log_info("target policy: %s%s%s", cfg->allow_private ? "private and loopback targets allowed" :
			 "loopback, private, link-local, CGNAT, unique-local ranges and this host refused",
			 cfg->acl ? "; ACL " : "", cfg->acl ? cfg->acl : "");
	}
	if (p->bpf) {
		p->bpf_events.fd = bpf_relay_events_fd(p->bpf);
		p->bpf_events.on_event = on_bpf_events;
		loop_watch(p->loop, &p->bpf_events, EPOLLIN);
	}
	p->poll.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	p->poll.on_event = on_poll;
	if (p->poll.fd < 0 || loop_watch(p->loop, &p->poll, EPOLLIN)) {
		*why = "cannot create the poll timer";
		return -EIO;
	}
	if ((r = dns_new(&p->dns, p->loop, cfg->nameserver, cfg->ipv6_first, why)))
		return r;
	bool tcp = cfg->mode != MODE_UDP_ONLY, udp = cfg->mode != MODE_TCP_ONLY;

	p->udp_max = (unsigned)cfg->udp_max_associations;
	if (cfg->prog == PROG_SERVER) {
		for (int i = 0; i < cfg->nservers; i++) {
			if (tcp && (r = listen_on(p, cfg->servers[i], cfg->server_port,
						  cfg->nservers > 1, why)))
				return r;
			if (udp && (r = udp_listen(p, UDP_SERVER, cfg->servers[i],
						   cfg->server_port, why)))
				return r;
		}
	} else {
		p->server_port = (uint16_t)cfg->server_port;
		if (cfg->local_mode == LOCAL_TUNNEL) {
			char host[300];
			int port;

			config_split_hostport(cfg->tunnel_address, host, sizeof(host), &port);
			if (addr_from_host(&p->tunnel, host, (uint16_t)port)) {
				*why = "bad tunnel address";
				return -EINVAL;
			}
		}
		bool socks = cfg->local_mode == LOCAL_SOCKS;
		enum udp_role ur = socks ? UDP_SOCKS :
				   cfg->local_mode == LOCAL_REDIR ? UDP_REDIR : UDP_TUNNEL;

		/* SOCKS5 UDP needs the TCP control connection even in udp_only. */
		if ((tcp || socks) &&
		    (r = listen_on(p, cfg->local_address, cfg->local_port, false, why)))
			return r;
		if (udp && (r = udp_listen(p, ur, cfg->local_address, cfg->local_port, why)))
			return r;
		if (cfg->steer && p->index == 0 && (r = steer_setup(p, tcp, why)))
			return r;
	}
	if (cfg->user && (r = drop_privileges(cfg->user))) {
		*why = "cannot drop privileges";
		return r;
	}
	return 0;
}

/* Each relayed pair needs 2 sockets (6 fds with splice pipes): use the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* One worker: its own loop, listeners (SO_REUSEPORT when there are several) and state. */
static int run_worker(struct ss_config *cfg, const struct replay *replay, const char *name,
		      int index)
{
	struct proxy p = { 0 };
	const char *why = "";
	int r, status = 0;

	p.poll.fd = -1;
	p.index = index;
	p.cfg = cfg;
	p.replay = *replay;
	p.method = crypto_method_find(cfg->method, &why);
	crypto_master_key(cfg->password, p.master, p.method->key_len);
	p.scratch = malloc(PROXY_BUF_CAP);
	p.loop = loop_new(TICK_MS, on_signal, on_tick, on_batch_end, &p);
	if (!p.scratch || !p.loop) {
		log_err("out of memory");
		status = 1;
		goto out;
	}
	if ((r = setup(&p, &why))) {
		log_err("start-up failed: %s", why);
		status = 1;
		goto out;
	}
	log_info("%s ready: method %s, timeout %d s", name, p.method->name, cfg->timeout);
	if (loop_run(p.loop))
		status = 1;

out:
	if (p.udp)
		log_stats(&p);
	if (steer_watch_fd(p.steer) >= 0)
		loop_forget(p.loop, &p.steer_watch);
	steer_remove(p.steer);
	close_listeners(&p);
	udp_close_all(&p);
	destroy_all(&p, NULL);
	conn_reap(&p);
	udp_reap(&p);
	if (p.poll.fd >= 0) {
		loop_forget(p.loop, &p.poll);
		close(p.poll.fd);
	}
	if (p.bpf)
		loop_forget(p.loop, &p.bpf_events);
	bpf_relay_close(p.bpf);
	policy_free(&p.policy);
	dns_free(p.dns);
	loop_free(p.loop);
	pool_free(&p);
	free(p.scratch);
	return status;
}

/* Starts worker i in a child process; its pid, or -1. */
static pid_t spawn_worker(struct ss_config *cfg, const struct replay *replay, const char *name,
			  int i)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		int st;

		/* Workers do not outlive the parent (SIGKILL, a crash). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		st = run_worker(cfg, replay, name, i);

		config_free(cfg);
		_exit(st);
	}
	if (pid < 0)
		log_err("fork: %s", strerror(errno));
	return pid;
}

/* A worker killed by a signal is restarted at most this often per window. */
#define RESTART_MAX 5
#define RESTART_WINDOW_S 60

/*
 * --workers N: N processes, each a full worker on SO_REUSEPORT listeners (the
 * kernel spreads connections and UDP flows over them; no locks on the data
 * path). The parent forwards signals, reaps, and restarts a worker that a
 * signal killed (a crash, the OOM killer) unless it is stopping; a worker
 * that exits on its own is not restarted. It exits with the first failing
 * worker's status once all are gone.
 */
static int run_workers(struct ss_config *cfg, const struct replay *replay, const char *name)
{
	struct slot {
		pid_t pid;
		int restarts;
		time_t window;
	} *w = calloc((size_t)cfg->workers, sizeof(*w));
	sigset_t mask;
	int live = 0, status = 0;
	bool stopping = false;

	if (!w)
		return 1;
	loop_signal_set(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (int i = 0; i < cfg->workers; i++) {
		if ((w[i].pid = spawn_worker(cfg, replay, name, i)) < 0) {
			status = 1;
			break;
		}
		live++;
	}
	log_info("%d workers started", live);
	while (live > 0) {
		siginfo_t si;
		int sig = sigwaitinfo(&mask, &si), st, i;
		pid_t pid;

		if (sig != SIGCHLD) {
			if (sig <= 0)
				continue;
			stopping |= sig != SIGUSR1 && sig != SIGHUP;
			for (i = 0; i < cfg->workers; i++)
				if (w[i].pid > 0)
					kill(w[i].pid, sig);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			time_t now = time(NULL);

			for (i = 0; i < cfg->workers && w[i].pid != pid; i++)
				;
			if (i == cfg->workers)
				continue;
			w[i].pid = -1;
			live--;
			if (!stopping && WIFSIGNALED(st)) {
				if (now - w[i].window >= RESTART_WINDOW_S) {
					w[i].window = now;
					w[i].restarts = 0;
				}
				if (++w[i].restarts <= RESTART_MAX) {
					log_warn("worker %d (pid %d) killed by signal %d (%s); restarting it",
						 i, (int)pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
					if ((w[i].pid = spawn_worker(cfg, replay, name, i)) > 0) {
						live++;
						continue;
					}
				} else {
					log_err("worker %d died %d times in %d s; not restarting it",
						i, RESTART_MAX + 1, RESTART_WINDOW_S);
				}
			}
			if (!status && (!WIFEXITED(st) || WEXITSTATUS(st)))
				status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
		}
	}
	free(w);
	return status;
}

int proxy_main(enum prog_kind prog, int argc, char **argv)
{
	const char *name = prog == PROG_SERVER ? "ssserver" : "sslocal";
	struct ss_config cfg;
	struct replay replay;
	char err[512];
	int r, status;

	r = config_load(&cfg, prog, argc, argv, err, sizeof(err));
	if (r) {
		if (r < 0)
			fprintf(stderr, "%s: %s\n%s", name, err, config_usage(prog));
		config_free(&cfg);
		return r > 0 ? 0 : 2;
	}
	log_init(name, LOG_INFO + cfg.verbose);
	raise_fd_limit();
	if (crypto_init()) {
		fprintf(stderr, "%s: libsodium initialisation failed\n", name);
		config_free(&cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg.workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg.workers = n > 0 ? (int)MIN(n, 1024) : 1;
	}
	if (cfg.workers > 1)
		cfg.reuse_port = true;
	/* Created before any fork: all workers share one replay filter. */
	if ((r = replay_init(&replay, (size_t)cfg.replay_capacity, cfg.replay_fp))) {
		log_err("cannot allocate the replay filter: %s", strerror(-r));
		config_free(&cfg);
		return 1;
	}
	status = cfg.workers > 1 ? run_workers(&cfg, &replay, name) : run_worker(&cfg, &replay, name, 0);
	replay_free(&replay);
	config_free(&cfg);
	return status;
}
