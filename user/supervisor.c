// SPDX-License-Identifier: MIT
/*
 * The process tree: configuration, the shared replay filter, and one worker
 * or --workers N worker processes that it restarts and forwards signals to.
 */
#include <errno.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "counters.h"
#include "crypto.h"
#include "daemon.h"
#include "log.h"
#include "plugin.h"
#include "privs.h"
#include "replay_file.h"
#include "loop.h"
#include "supervisor.h"
#include "worker.h"

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

/* Starts worker i in a child process; its pid, or -1. */
static pid_t spawn_worker(const struct ss_config *cfg, const struct replay *replay,
			  struct counters *ctr, const char *name,
			  int i)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		int st;

		/* Workers do not outlive the parent (SIGKILL, a crash). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		st = worker_run(cfg, replay, &ctr[i], name, i);
		_exit(st);
	}
	if (pid < 0)
		log_err("fork: %s", strerror(errno));
	return pid;
}

/*
 * The replay filter outlives restarts (replay_file.h): loaded before the
 * workers start, saved every REPLAY_SAVE_S and at exit. Methods without a
 * key have no salts; "off" turns it off.
 */
static void replay_restore(struct ss_config *cfg, struct replay *r, const char *name)
{
	char path[512];
	const char *why = "";
	int ret;

	if (!cfg->m->key_len || (cfg->replay_file && !strcmp(cfg->replay_file, "off")))
		return;
	if (!cfg->replay_file) {
		replay_file_default(path, sizeof(path), name,
				    cfg->prog == PROG_SERVER ? cfg->server_port : cfg->local_port);
		/* The default folder is ours to make. */
		*strrchr(path, '/') = 0;
		mkdir(path, 0700);
		path[strlen(path)] = '/';
		if (config_set_str(&cfg->replay_file, path))
			return;
	}
	ret = replay_file_load(r, cfg->replay_file, &why);
	if (!ret)
		log_info("replay filter: loaded from %s", cfg->replay_file);
	else if (ret == -ENOENT)
		log_info("replay filter: %s does not exist yet; starting empty", cfg->replay_file);
	else if (ret == -EINVAL)
		log_warn("replay filter: %s is unusable (%s); starting empty, it will be replaced",
			 cfg->replay_file, why);
	else
		log_warn("replay filter: cannot read %s: %s; starting empty", cfg->replay_file,
			 strerror(-ret));
}

/* The sum of every worker's counters, read from shared memory. */
static void log_totals(const struct counters *ctr, size_t n)
{
	struct counters t;
	uint64_t live = 0, up = 0, down = 0, fails = 0;

	counters_sum(ctr, n, &t);
	for (int s = 0; s < ST_DESTROYED; s++)
		live += t.live[s];
	for (int i = 0; i < CTR_TIERS; i++) {
		up += t.bytes_up[i];
		down += t.bytes_down[i];
	}
	for (int f = 0; f < FAIL_REASONS; f++)
		fails += t.fail[f];
	log_info("all %zu workers: %llu connections accepted, %llu live, %llu failed before "
		 "STREAM; %llu bytes up, %llu down; UDP %llu in, %llu out", n,
		 (unsigned long long)t.accepted, (unsigned long long)live,
		 (unsigned long long)fails, (unsigned long long)up, (unsigned long long)down,
		 (unsigned long long)t.udp.in, (unsigned long long)t.udp.out);
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
static int run_workers(const struct ss_config *cfg, const struct replay *replay,
		       struct counters *ctr, const char *name, struct plugin *pl)
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
		if ((w[i].pid = spawn_worker(cfg, replay, ctr, name, i)) < 0) {
			status = 1;
			break;
		}
		live++;
	}
	log_info("%d workers started", live);
	while (live > 0) {
		siginfo_t si;
		struct timespec period = { .tv_sec = REPLAY_SAVE_S };
		int sig = sigtimedwait(&mask, &si, &period), st, i;

		if (sig < 0 && errno == EAGAIN) {
			replay_file_persist(cfg, replay);
			continue;
		}
		pid_t pid;

		if (sig != SIGCHLD) {
			if (sig <= 0)
				continue;
			stopping |= sig != SIGUSR1 && sig != SIGHUP;
			if (sig == SIGUSR1 || sig == SIGHUP)
				log_totals(ctr, (size_t)cfg->workers);
			for (i = 0; i < cfg->workers; i++)
				if (w[i].pid > 0)
					kill(w[i].pid, sig);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			time_t now = time(NULL);

			/* SIP003: without its plugin the daemon cannot serve; it exits non-zero. */
			if (pid == pl->pid) {
				plugin_log_exit(cfg, pid, st);
				pl->pid = -1;
				status = status ? status : 1;
				stopping = true;
				for (i = 0; i < cfg->workers; i++)
					if (w[i].pid > 0)
						kill(w[i].pid, SIGTERM);
				continue;
			}
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
					/* Its connections died with it. */
					memset(ctr[i].live, 0, sizeof(ctr[i].live));
					if ((w[i].pid = spawn_worker(cfg, replay, ctr, name, i)) > 0) {
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

int supervisor_main(enum prog_kind prog, int argc, char **argv)
{
	const char *name = prog == PROG_SERVER ? "ssserver" : "sslocal";
	struct ss_config cfg;
	struct replay replay;
	struct counters *ctr;
	struct plugin pl = { .pid = -1 };
	sigset_t stop_mask;
	char err[512];
	int r, status;

	r = config_load(&cfg, prog, argc, argv, err, sizeof(err));
	if (r) {
		if (r < 0)
			fprintf(stderr, "%s: %s\nRun '%s --help' for the options.\n", name, err, name);
		config_free(&cfg);
		return r > 0 ? 0 : 2;
	}
	log_init(name, LOG_INFO + cfg.verbose - cfg.quiet);
	if ((r = log_open(cfg.log_file, cfg.use_syslog))) {
		fprintf(stderr, "%s: cannot open log file %s: %s\n", name, cfg.log_file, strerror(-r));
		config_free(&cfg);
		return 1;
	}
	/* A stop signal during start-up waits for the loop instead of killing half a daemon. */
	loop_signal_set(&stop_mask);
	sigaddset(&stop_mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &stop_mask, NULL);
	if (cfg.pid_file && daemon_start(cfg.pid_file, cfg.log_file, err, sizeof(err))) {
		log_err("%s", err);
		config_free(&cfg);
		return 1;
	}
	daemon_set_main_pid();
	if (cfg.ignored)
		log_debug("config: ignoring keys that mean nothing to %s: %s", name, cfg.ignored);
	warn_open_proxy(&cfg);
	set_fd_limit(cfg.nofile);
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
	replay_restore(&cfg, &replay, name);
	/* Created before any fork, like the replay filter: the workers write, this process sums. */
	if (!(ctr = counters_shared((size_t)cfg.workers))) {
		log_err("cannot allocate the counters: %s", strerror(errno));
		replay_free(&replay);
		config_free(&cfg);
		return 1;
	}
	/* With a plugin the parent watches it: the worker runs in a child even alone. */
	if (cfg.plugin && cfg.mode != MODE_UDP_ONLY) {
		const char *why = "";

		if (plugin_start(&pl, &cfg, &why)) {
			log_err("plugin: %s", why);
			status = 1;
			goto out;
		}
		cfg.plugin_port = pl.port;
	}
	/*
	 * --user: every process runs as the user. The parent keeps its
	 * capabilities (it restarts workers, which bind and load BPF, and saves
	 * the replay file); each worker drops them once it is set up.
	 */
	if (cfg.user && (cfg.workers > 1 || pl.pid > 0)) {
		const char *why = "";

		if ((r = privs_drop(cfg.user, true, &why))) {
			log_err("cannot switch to user %s: %s (%s)", cfg.user, why, strerror(-r));
			status = 1;
			goto out;
		}
	}
	status = cfg.workers > 1 || pl.pid > 0 ? run_workers(&cfg, &replay, ctr, name, &pl) :
						 worker_run(&cfg, &replay, ctr, name, 0);
	plugin_stop(&pl);
out:
	counters_free(ctr, (size_t)cfg.workers);
	replay_file_persist(&cfg, &replay);
	replay_free(&replay);
	daemon_remove_pid(cfg.pid_file);
	config_free(&cfg);
	return status;
}
