// SPDX-License-Identifier: MIT
/*
 * ssctl: the operator tool. conns, stats, top and kill talk to a daemon's
 * control socket; cleanup removes steering left by a crashed sslocal redir.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "ctl_client.h"
#include "log.h"
#include "qr.h"
#include "steer.h"

static const char usage[] =
	"usage: ssctl [-s SOCKET | -p PORT] conns [--json] [--stage STAGE] [--target TEXT]\n"
	"       ssctl [-s SOCKET | -p PORT] stats [--json]\n"
	"       ssctl [-s SOCKET | -p PORT] top\n"
	"       ssctl [-s SOCKET | -p PORT] kill ID\n"
	"       ssctl [-s SOCKET | -p PORT] servers [--json]\n"
	"       ssctl [-s SOCKET | -p PORT] url [--qr] [--json]\n"
	"       ssctl [-s SOCKET | -p PORT] upgrade | upgrade --pid PID\n"
	"       ssctl qr TEXT\n"
	"       ssctl [-s SOCKET | -p PORT] capture add --cgroup PATH [--netns PATH]\n"
	"             [--server-url ss://METHOD:PASSWORD@HOST:PORT]\n"
	"       ssctl [-s SOCKET | -p PORT] capture del --cgroup PATH | capture list [--json]\n"
	"       ssctl cleanup [--route-table N]\n"
	"  conns    one row per live connection: id, worker, client, target, stage, tier\n"
	"           per direction, bytes, age, idle time, user (sslocal: server)\n"
	"  stats    counters summed over the workers: connections by stage, bytes by tier,\n"
	"           handshake failures by reason, UDP, replay filter, bytes per port and user\n"
	"  top      a live view refreshed every second, busiest connections first; q quits\n"
	"  kill     closes one connection\n"
	"  servers  sslocal: each server's state, check latency, checks, connections, bytes\n"
	"  url      the ss:// URIs (SIP002) a client needs: ssserver's per port and user,\n"
	"           sslocal's per server; --qr draws each as a QR code for a phone to scan\n"
	"  upgrade  starts the installed binary on the daemon's listening sockets; once it is\n"
	"           ready the old process drains (--drain-timeout) and exits; if it fails,\n"
	"           the old one keeps serving and this says why (exit status 1); --pid: the\n"
	"           daemon whose main process is PID (systemd's ExecReload, $MAINPID)\n"
	"  qr       draws TEXT (an ss:// URI) as a QR code in the terminal\n"
	"  capture  sslocal redir: starts or stops capturing a cgroup v2 directory's TCP and\n"
	"           UDP (its processes in network namespace PATH; through a server of its own),\n"
	"           or lists what is captured\n"
	"  -s       the daemon's control socket (default: the sockets in /run/ssbpf, or\n"
	"           $RUNTIME_DIRECTORY: conns and stats show every daemon, one after another)\n"
	"  -p       the daemon of this port (its socket PROG-PORT.sock)\n"
	"  cleanup  removes what sslocal --mode redir --steer installs and a crash leaves\n"
	"           behind: the nftables table inet " STEER_NFT_TABLE ", the ip rules at\n"
	"           priorities 1461-1463 and the routes of the steering table (default 1461);\n"
	"           it refuses while a live sslocal owns the steering of this namespace\n";

static int cleanup(int argc, char **argv)
{
	unsigned long table = STEER_DEFAULT_TABLE;
	int n, lock, owner;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--route-table") && i + 1 < argc) {
			table = strtoul(argv[++i], &end, 0);
			if (*end || !table || table > 0x7fffffff) {
				fprintf(stderr, "ssctl: --route-table: \"%s\" is not a table number\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "ssctl: unknown argument \"%s\"\n%s", argv[i], usage);
			return 2;
		}
	}
	/* What a live sslocal installed is not a leftover. */
	if ((lock = steer_lock(&owner)) < 0) {
		if (lock == -EBUSY)
			fprintf(stderr, "ssctl: sslocal pid %d is running and owns the steering; stop it "
				"instead (SIGTERM removes its rules)\n", owner);
		else
			fprintf(stderr, "ssctl: cannot take the steering lock: %s (run as root)\n",
				strerror(-lock));
		return 1;
	}
	n = steer_cleanup((uint32_t)table, true);
	close(lock);
	if (n < 0) {
		fprintf(stderr, "ssctl: cleanup failed: %s (run as root)\n", strerror(-n));
		return 1;
	}
	printf("%s\n", n ? "cleanup done" : "nothing to clean up");
	return 0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	int i = 1, port = 0;

	log_init("ssctl", LOG_INFO);
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("ssctl %s\n", SSBPF_VERSION);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "-s")) {
		sock = argv[2];
		i = 3;
	} else if (argc > 2 && !strcmp(argv[1], "-p")) {
		char *end;

		port = (int)strtol(argv[2], &end, 10);
		if (*end || port < 1 || port > 65535) {
			fprintf(stderr, "ssctl: -p: \"%s\" is not a port number 1-65535\n", argv[2]);
			return 2;
		}
		i = 3;
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[i], "cleanup"))
		return cleanup(argc - i, argv + i);
	if (!strcmp(argv[i], "qr")) {
		if (argc - i != 2) {
			fprintf(stderr, "usage: ssctl qr TEXT\n");
			return 2;
		}
		return qr_print(stdout, argv[i + 1]) ? 1 : 0;
	}
	return ctl_client_run(sock, port, argc - i, argv + i);
}
