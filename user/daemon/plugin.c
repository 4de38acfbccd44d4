// SPDX-License-Identifier: MIT
/* SIP003 plugins: start the plugin process, wait for it, stop it. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"
#include "privs.h"

#define PLUGIN_WAIT_MS 5000
#define PLUGIN_GRACE_MS 3000

/* A free port on 127.0.0.1 (the kernel's pick, released at once). */
static int free_loopback_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (!bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool listens_in(const char *path, int port)
{
	FILE *f = fopen(path, "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned lport, st;
		char *colon = strchr(line, ':');

		/* "sl: local_address:port rem_address:port st ..." in hex */
		if (colon && (colon = strchr(colon + 1, ':')) &&
		    sscanf(colon + 1, "%x %*s %x", &lport, &st) == 2)
			found = (int)lport == port && st == 0x0A;
	}
	fclose(f);
	return found;
}

bool plugin_port_listens(int port)
{
	return listens_in("/proc/net/tcp", port) || listens_in("/proc/net/tcp6", port);
}

/* "a|b" of the server addresses, as libev passes several to the plugin. */
static void join_hosts(const struct ss_config *cfg, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < cfg->nservers && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "|" : "", cfg->servers[i]);
}

static void exec_plugin(const struct ss_config *cfg, int port)
{
	char hosts[1024], rport[16], lport[16];
	size_t nargs = 0;
	const char *why = "";
	char **argv;
	sigset_t none;

	/* It does not outlive the daemon, even after SIGKILL, and runs as --user. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (cfg->user && privs_drop(cfg->user, PRIVS_KEEP_NONE, &why)) {
		log_err("plugin: cannot switch to user %s: %s", cfg->user, why);
		_exit(126);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	join_hosts(cfg, hosts, sizeof(hosts));
	snprintf(rport, sizeof(rport), "%d", cfg->server_port);
	snprintf(lport, sizeof(lport), "%d", port);
	setenv("SS_REMOTE_HOST", hosts, 1);
	setenv("SS_REMOTE_PORT", rport, 1);
	setenv("SS_LOCAL_HOST", "127.0.0.1", 1);
	setenv("SS_LOCAL_PORT", lport, 1);
	if (cfg->plugin_opts)
		setenv("SS_PLUGIN_OPTIONS", cfg->plugin_opts, 1);
	else
		unsetenv("SS_PLUGIN_OPTIONS");
	while (cfg->plugin_args && cfg->plugin_args[nargs])
		nargs++;
	argv = calloc(nargs + 2, sizeof(*argv));
	if (argv) {
		argv[0] = cfg->plugin;
		memcpy(argv + 1, cfg->plugin_args, nargs * sizeof(*argv));
		execvp(cfg->plugin, argv);
	}
	log_err("plugin: cannot run %s: %s", cfg->plugin, strerror(errno));
	_exit(127);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

int plugin_start(struct plugin *pl, const struct ss_config *cfg, const char **why)
{
	int listen_port, st;

	pl->pid = -1;
	/* A port given (an upgrade, a restart): the daemon's side listens there already. */
	if (pl->port <= 0 && (pl->port = free_loopback_port()) < 0) {
		*why = "no free loopback port for the plugin";
		return -EADDRINUSE;
	}
	pl->pid = fork();
	if (pl->pid < 0) {
		*why = "cannot fork the plugin";
		return -errno;
	}
	if (pl->pid == 0)
		exec_plugin(cfg, pl->port);
	log_info("plugin: started %s (pid %d) with options \"%s\"; %s", cfg->plugin, (int)pl->pid,
		 cfg->plugin_opts ? cfg->plugin_opts : "",
		 cfg->prog == PROG_SERVER ? "TCP comes in through it; UDP does not" :
		 "TCP goes out through it; UDP does not");
	/* Ready when it listens: the public port (server) or its local one (client). */
	listen_port = cfg->prog == PROG_SERVER ? cfg->server_port : pl->port;
	for (int waited = 0; waited < PLUGIN_WAIT_MS; waited += 20) {
		if (waitpid(pl->pid, &st, WNOHANG) == pl->pid) {
			plugin_log_exit(cfg, pl->pid, st);
			pl->pid = -1;
			*why = "the plugin exited at start";
			return -ECHILD;
		}
		if (plugin_port_listens(listen_port))
			return 0;
		sleep_ms(20);
	}
	log_warn("plugin: %s does not listen on port %d after %d ms; going on", cfg->plugin,
		 listen_port, PLUGIN_WAIT_MS);
	return 0;
}

void plugin_log_exit(const struct ss_config *cfg, pid_t pid, int status)
{
	if (WIFEXITED(status))
		log_err("plugin %s (pid %d) exited with status %d", cfg->plugin, (int)pid,
			WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_err("plugin %s (pid %d) killed by signal %d (%s)", cfg->plugin, (int)pid,
			WTERMSIG(status), strsignal(WTERMSIG(status)));
}

void plugin_stop(struct plugin *pl)
{
	int st;

	if (pl->pid <= 0)
		return;
	kill(pl->pid, SIGTERM);
	for (int waited = 0; waited < PLUGIN_GRACE_MS; waited += 20) {
		if (waitpid(pl->pid, &st, WNOHANG) == pl->pid) {
			pl->pid = -1;
			return;
		}
		sleep_ms(20);
	}
	log_warn("plugin (pid %d) did not stop in %d ms; killing it", (int)pl->pid, PLUGIN_GRACE_MS);
	kill(pl->pid, SIGKILL);
	waitpid(pl->pid, &st, 0);
	pl->pid = -1;
}
