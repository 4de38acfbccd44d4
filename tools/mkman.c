// SPDX-License-Identifier: MIT
/*
 * Writes the man page of ssserver, sslocal or ssctl to stdout. The options
 * and JSON keys come from the one option table, so the pages cannot drift
 * from what the binaries accept.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "options.h"

/* troff text: backslashes and hyphens escaped, no line starting with a dot. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

static void flag_item(const struct option_desc *o)
{
	char sh = options_short(o);

	puts(".TP");
	if (sh)
		printf("\\fB\\-%c\\fR%s", sh, options_long(o) ? ", " : "");
	if (options_long(o)) {
		fputs("\\fB\\-\\-", stdout);
		roff(options_long(o));
		fputs("\\fR", stdout);
	}
	if (options_arg(o)) {
		fputs(" \\fI", stdout);
		roff(options_arg(o));
		fputs("\\fR", stdout);
	}
	putchar('\n');
	roff(options_help(o));
	putchar('\n');
}

static void key_item(const struct option_desc *o, const struct option_desc *same)
{
	printf(".TP\n.B ");
	roff(options_key(o));
	putchar('\n');
	if (!options_help(o)) {
		fputs("Same as ", stdout);
		roff(options_key(same));
		puts(" (another spelling of it).");
	} else if (!options_long(o) && !options_short(o)) {
		roff(options_help(o));
		putchar('\n');
	} else {
		fputs("As ", stdout);
		if (options_long(o)) {
			fputs("\\fB\\-\\-", stdout);
			roff(options_long(o));
		} else {
			printf("\\fB\\-%c", options_short(o));
		}
		puts("\\fR.");
	}
}

/* The first row with a help line that sets the same field as o (for synonyms). */
static const struct option_desc *first_of(const struct option_desc *o)
{
	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *r = options_at(i);

		if (options_help(r) && options_key(r) && options_same_field(r, o))
			return r;
	}
	return o;
}

/* What each signal does, as worker.c, tree.c and manager.c handle it. */
static void signals_section(enum prog_kind prog)
{
	puts(".SH SIGNALS\n.TP\n.B SIGTERM, SIGINT");
	if (prog == PROG_MANAGER) {
		puts("Stop: every ssserver it runs is stopped, the socket removed.\n.TP\n"
		     ".B SIGUSR1, SIGHUP\nLog how many ports it runs.");
		return;
	}
	puts("Stop at once: listeners close, connections end, the plugin is stopped, the pid "
	     "file removed.\n.TP\n.B SIGQUIT\nDrain: stop accepting, let live connections "
	     "finish, exit when the last one closes (or after the timeout).\n.TP\n.B SIGUSR1\n"
	     "Log the traffic totals of every worker and their sum.\n.TP\n.B SIGHUP");
	if (prog == PROG_SERVER)
		puts("Reload: read the config file again; ports and users are added, removed or "
		     "re-keyed without a restart (live connections keep their keys). A file with an "
		     "error, or a new port another process holds, is refused with one log line and "
		     "the old configuration keeps serving.");
	else
		puts("Log the traffic totals, as SIGUSR1; in redir mode read the steering lists "
		     "again; with an online configuration, fetch its document again at once.");
}

static void daemon_page(enum prog_kind prog)
{
	static const char *const names[] = { "ssserver", "sslocal", "ssmanager" };
	static const char *const upper[] = { "SSSERVER", "SSLOCAL", "SSMANAGER" };
	static const char *const what[] = {
		"the Shadowsocks server of ssbpf", "the Shadowsocks client of ssbpf (SOCKS5, tunnel, redir)",
		"runs an ssserver per port for the Shadowsocks manager protocol",
	};
	const char *name = names[prog];

	printf(".TH %s 1 \"\" \"ssbpf %s\" \"User Commands\"\n.SH NAME\n%s \\- %s\n", upper[prog],
	       SSBPF_VERSION, name, what[prog]);
	printf(".SH SYNOPSIS\n.B %s\n[\\fB\\-c\\fR \\fIconfig.json\\fR] [\\fIoptions\\fR]\n", name);
	puts(".SH DESCRIPTION");
	if (prog == PROG_SERVER)
		puts("Accepts Shadowsocks AEAD connections and UDP datagrams from clients and relays "
		     "them to their targets. STREAM\\-stage bytes move in the kernel (sockmap, splice) "
		     "where the method allows it.");
	else if (prog == PROG_MANAGER)
		puts("Listens for the manager protocol of shadowsocks\\-libev on \\fB\\-\\-manager\\-address\\fR "
		     "(UDP HOST:PORT or a unix datagram socket path): \\fBadd: {\"server_port\": N, "
		     "\"password\": \"...\", \"method\": \"...\"}\\fR starts an \\fBssserver\\fR for the "
		     "port (its other options are this program's), \\fBremove: {\"server_port\": N}\\fR "
		     "stops it and its connections, \\fBlist\\fR answers the ports as a JSON array, "
		     "\\fBping\\fR answers \\fBstat: {\"N\": bytes, ...}\\fR from the servers' reports. "
		     "Anything malformed is answered with a line that begins with \\fBerr\\fR and changes "
		     "nothing. Ports in the config file (port_password, servers) start at once.");
	else
		puts("Accepts SOCKS5 (or tunnel, or transparently redirected) connections and "
		     "datagrams and relays them, encrypted, to a Shadowsocks server.");
	puts("Flags override the config file. Options and keys follow shadowsocks\\-libev.");
	puts(".SH OPTIONS\n.TP\n\\fB\\-c\\fR \\fIFILE\\fR\nA JSON config file; see "
	     "CONFIGURATION FILE.");
	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *o = options_at(i);

		if (options_help(o) && (options_long(o) || options_short(o)) && options_for(o, prog))
			flag_item(o);
	}
	puts(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nPrints the options and exits.");
	puts(".TP\n\\fB\\-V\\fR, \\fB\\-\\-version\\fR\nPrints the version and exits.");
	if (prog != PROG_MANAGER)
		puts(".TP\n\\fB\\-\\-genkey\\fR \\fIMETHOD\\fR\nPrints a fresh random key for METHOD "
		     "and exits: the password of a 2022 method (base64 of its key length).");
	puts(".SH CONFIGURATION FILE\nA JSON object. One file may serve ssserver and sslocal: "
	     "keys of the other program are accepted and noted with \\fB\\-v\\fR; keys of "
	     "shadowsocks\\-libev and the Python original that mean nothing here (auth, mtu, "
	     "dscp, one_time_auth, ...) are accepted and named in one warning at start; any other "
	     "key is an error that names it. The keys of this program:");
	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *o = options_at(i);

		if (options_key(o) && options_for(o, prog) && options_documented(o))
			key_item(o, first_of(o));
	}
	signals_section(prog);
	printf(".SH FILES\n.TP\n.I /etc/ssbpf/NAME.json\nThe config of the unit "
	       "\\fB%s@NAME.service\\fR.\n.TP\n.I /var/lib/ssbpf/\nThe replay filter's files.\n",
	       prog != PROG_LOCAL ? "ssbpf\\-server" : "ssbpf\\-local");
	printf(".SH SEE ALSO\n.BR %s (1),\n.BR ssctl (1)\n", prog == PROG_LOCAL ? "ssserver" : "sslocal");
}

static void ssctl_page(void)
{
	printf(".TH SSCTL 1 \"\" \"ssbpf %s\" \"User Commands\"\n.SH NAME\nssctl \\- the operator "
	       "tool of ssbpf\n.SH SYNOPSIS\n.B ssctl\n[\\fB\\-s\\fR \\fISOCKET\\fR] "
	       "\\fBconns\\fR|\\fBstats\\fR|\\fBtop\\fR|\\fBkill\\fR \\fIID\\fR\n.br\n"
	       ".B ssctl cleanup\n[\\fB\\-\\-route\\-table\\fR \\fIN\\fR]\n", SSBPF_VERSION);
	puts(".SH DESCRIPTION\nTalks to the control socket of a running ssserver, sslocal or "
	     "ssmanager (a unix socket, mode 0600: root and the daemon's user only): "
	     "\\fB\\-s\\fR names it, otherwise the one socket in /run/ssbpf (or "
	     "$RUNTIME_DIRECTORY) is used.");
	puts(".SH COMMANDS\n.TP\n\\fBconns\\fR [\\fB\\-\\-json\\fR] [\\fB\\-\\-stage\\fR "
	     "\\fISTAGE\\fR] [\\fB\\-\\-target\\fR \\fITEXT\\fR]\nOne row per live connection: "
	     "id, worker, client, target, stage (INIT, ADDR, DNS, CONNECTING, STREAM, UDP_ASSOC), "
	     "tier per direction (userspace, splice, sockmap), bytes up and down, age, idle time, "
	     "user.");
	puts(".TP\n\\fBstats\\fR [\\fB\\-\\-json\\fR]\nThe counters summed over the workers: "
	     "connections by stage, bytes by direction and tier, handshake failures by reason, UDP "
	     "datagrams and drops, kernel hand\\-offs, the replay filter's fill, bytes per port "
	     "and user.");
	puts(".TP\n.B top\nA live view refreshed every second, the busiest connections first, "
	     "with the connections by stage on top; \\fBq\\fR quits.");
	puts(".TP\n\\fBkill\\fR \\fIID\\fR\nCloses one connection; the daemon logs who asked.");
	puts(".TP\n.B cleanup\nRemoves what \\fBsslocal \\-\\-mode redir \\-\\-steer\\fR "
	     "installs and a crash leaves behind: the nftables table, the policy routing rules and "
	     "the routes of the steering table (default 1461). It refuses while a live sslocal owns "
	     "the steering of this network namespace.");
	puts(".SH EXIT STATUS\n0 on success; 1 when the socket is missing, refuses the caller, "
	     "does not answer within 2 s, or the request fails; 2 on a usage error.");
	puts(".SH SEE ALSO\n.BR ssserver (1),\n.BR sslocal (1),\n.BR ssmanager (1)");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: mkman ssserver|sslocal|ssmanager|ssctl\n", stderr);
		return 2;
	}
	if (!strcmp(argv[1], "ssserver"))
		daemon_page(PROG_SERVER);
	else if (!strcmp(argv[1], "sslocal"))
		daemon_page(PROG_LOCAL);
	else if (!strcmp(argv[1], "ssmanager"))
		daemon_page(PROG_MANAGER);
	else if (!strcmp(argv[1], "ssctl"))
		ssctl_page();
	else
		return 2;
	return 0;
}
