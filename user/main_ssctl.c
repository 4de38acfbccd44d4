// SPDX-License-Identifier: MIT
/* ssctl: the operator tool. "ssctl cleanup" removes steering left by a crashed sslocal redir. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "steer.h"

static const char usage[] =
	"usage: ssctl cleanup [--route-table N]\n"
	"  cleanup  removes what sslocal --mode redir --steer installs and a crash leaves\n"
	"           behind: the nftables table inet " STEER_NFT_TABLE ", the ip rules at\n"
	"           priorities 1461-1463 and the routes of the steering table (default 1461);\n"
	"           it refuses while a live sslocal owns the steering of this namespace\n";

int main(int argc, char **argv)
{
	unsigned long table = STEER_DEFAULT_TABLE;
	int n, lock, owner;

	log_init("ssctl", LOG_INFO);
	if (argc < 2 || strcmp(argv[1], "cleanup")) {
		fputs(usage, argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ?
		      stdout : stderr);
		return argc < 2 || strcmp(argv[1], "-h") ? 2 : 0;
	}
	for (int i = 2; i < argc; i++) {
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
