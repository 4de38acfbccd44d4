// SPDX-License-Identifier: MIT
/*
 * Steering's nftables side: the table inet ssbpf (interval sets of the
 * lists, TPROXY rules), written as one script and run by the nft program in
 * one atomic transaction, which replaces any earlier table of ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbuf.h"
#include "steer_impl.h"

/* Runs "nft -f -" with script on its standard input; 0 or -EIO (output logged). */
static int nft_run(const char *script, bool quiet)
{
	int in[2], st;
	pid_t pid;

	if (pipe(in))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 2);
			dup2(null, 1);
		}
		execlp("nft", "nft", "-f", "-", (char *)NULL);
		fprintf(stderr, "cannot run nft: %s\n", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	size_t len = strlen(script), off = 0;

	while (off < len) {
		ssize_t w = write(in[1], script + off, len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(in[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* A set of one family's prefixes of l (normalized: disjoint, so no auto-merge needed). */
static void nft_set(struct sbuf *b, const char *name, const char *type,
		    const struct steer_list *l, int family)
{
	char a[80];
	bool first = true;

	sbuf_printf(b, "\tset %s { type %s; flags interval; ", name, type);
	for (size_t i = 0; i < l->n; i++) {
		if (l->p[i].family != family)
			continue;
		sbuf_printf(b, "%s%s", first ? "elements = { " : ",\n",
			    steer_prefix_str(&l->p[i], a, sizeof(a)));
		first = false;
	}
	sbuf_printf(b, "%s}\n", first ? "" : " } ");
}

/* The whole table, replacing any earlier one in the same transaction. */
static char *nft_script(const struct steer_params *sp, const struct steer_spec *s)
{
	struct sbuf b = { 0 };

	sbuf_printf(&b, "table inet " STEER_NFT_TABLE "\ndelete table inet " STEER_NFT_TABLE "\n"
		  "table inet " STEER_NFT_TABLE " {\n");
	nft_set(&b, "steer4", "ipv4_addr", &s->steer, AF_INET);
	nft_set(&b, "steer6", "ipv6_addr", &s->steer, AF_INET6);
	nft_set(&b, "exclude4", "ipv4_addr", &s->exclude, AF_INET);
	nft_set(&b, "exclude6", "ipv6_addr", &s->exclude, AF_INET6);
	sbuf_printf(&b, "\tset ports { type inet_service; flags interval; elements = { ");
	if (!s->nports)
		sbuf_printf(&b, "1-65535");
	for (int i = 0; i < s->nports; i++)
		sbuf_printf(&b, "%s%u-%u", i ? ", " : "", s->ports[i].lo, s->ports[i].hi);
	sbuf_printf(&b, " } }\n"
		  "\tchain prerouting {\n"
		  "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
		  "\t\tiif \"lo\" return\n"
		  /* Excluded traffic leaves after one set lookup, before the fib lookup. */
		  "\t\tip daddr @exclude4 return\n"
		  "\t\tip6 daddr @exclude6 return\n");
	if (s->niif) {
		sbuf_printf(&b, "\t\tiifname != { ");
		for (int i = 0; i < s->niif; i++)
			sbuf_printf(&b, "%s\"%s\"", i ? ", " : "", s->iif[i]);
		sbuf_printf(&b, " } return\n");
	}
	sbuf_printf(&b, "\t\tfib daddr type local return\n");
	for (int v6 = 0; v6 < 2; v6++)
		for (int udp = 0; udp < 2; udp++)
			if ((udp ? sp->udp_fd : sp->tcp_fd) >= 0)
				sbuf_printf(&b, "\t\tmeta l4proto %s %s daddr @steer%c th dport @ports "
					  "tproxy %s to :%u meta mark set 0x%x accept\n",
					  udp ? "udp" : "tcp", v6 ? "ip6" : "ip", v6 ? '6' : '4',
					  v6 ? "ip6" : "ip", sp->port, sp->mark);
	sbuf_printf(&b, "\t}\n}\n");
	if (b.failed) {
		sbuf_free(&b);
		return NULL;
	}
	return b.p;
}

int nft_apply(const struct steer_params *sp, const struct steer_spec *s, const char **why)
{
	char *script = nft_script(sp, s);
	int r;

	if (!script) {
		*why = "out of memory for the nft rule set";
		return -ENOMEM;
	}
	r = nft_run(script, false);
	free(script);
	if (r)
		*why = r == -ENOENT ? "the nft program is not installed (Debian: nftables)" :
				      "nft refused the TPROXY rules (see its message above)";
	return r;
}

int nft_remove(void)
{
	static const char probe[] = "list table inet " STEER_NFT_TABLE "\n";
	static const char del[] = "table inet " STEER_NFT_TABLE "\n"
				  "delete table inet " STEER_NFT_TABLE "\n";
	int r = nft_run(probe, true);

	if (r == -EIO)
		return 0;
	return r ? r : nft_run(del, true) ? 0 : 1;
}
