// SPDX-License-Identifier: MIT
/*
 * shadowsocks-libev 3.3.5's flags and keys, as `ss-server -h`, `ss-local -h`,
 * `ss-redir -h`, `ss-tunnel -h` and `ss-manager -h` list them: each is
 * accepted by the program that takes its place (working, or named in the
 * start-up warning as meaningless here); an abbreviated long option is not.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "test.h"

#define KEY32 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

/* The options every libev program's -h lists (-c and -h are not settings). */
static const char *const common[] = {
	"-s 127.0.0.1", "-p 8388", "-l 1080", "-k pw", "-m aes-256-gcm", "-a nobody",
	"-f /tmp/x.pid", "-t 60", "-n 1024", "-b 127.0.0.1", "-u", "-U", "--reuse-port",
	"--mtu 1400", "--mptcp", "--plugin obfs-server", "--plugin-opts obfs=http", "-v",
};
static const char *const server[] = {
	"-i lo", "-6", "-d 127.0.0.1", "--fast-open", "--acl /tmp/a.acl",
	"--manager-address /tmp/m.sock", "--no-delay", "--key " KEY32, "--password pw",
	"--tcp-incoming-sndbuf 65536", "--tcp-incoming-rcvbuf 65536",
	"--tcp-outgoing-sndbuf 65536", "--tcp-outgoing-rcvbuf 65536",
};
static const char *const local[] = {
	"-i lo", "--fast-open", "--acl /tmp/a.acl", "--no-delay", "--key " KEY32,
	"--password pw", "-T", "-L 127.0.0.1:53",
};
static const char *const manager[] = {
	"-i lo", "--manager-address /tmp/m.sock", "--executable /usr/bin/ssserver", "-D /tmp/w",
};

/* "FLAG [VALUE]" applied alone; 0 or the error. */
static int apply(enum prog_kind prog, const char *opt, struct ss_config *c, const char **why)
{
	char buf[256], *argv[4] = { "prog", buf, NULL, NULL };
	char *sp;
	int argc = 2;

	snprintf(buf, sizeof(buf), "%s", opt);
	if ((sp = strchr(buf, ' '))) {
		*sp = 0;
		argv[argc++] = sp + 1;
	}
	config_defaults(c, prog);
	return config_apply_args(c, argc, argv, why);
}

static int walk(enum prog_kind prog, const char *const *opts, size_t n)
{
	struct ss_config c;
	const char *err = "";
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (apply(prog, opts[i], &c, &err)) {
			fprintf(stderr, "  %s refused by prog %d: %s\n", opts[i], prog, err);
			bad++;
		}
		config_free(&c);
	}
	return bad;
}

#define WALK(prog, list) walk(prog, list, sizeof(list) / sizeof(list[0]))

TEST(libev_every_listed_flag_is_taken)
{
	for (int prog = PROG_SERVER; prog <= PROG_MANAGER; prog++)
		CHECK_EQ(WALK((enum prog_kind)prog, common), 0);
	CHECK_EQ(WALK(PROG_SERVER, server), 0);
	CHECK_EQ(WALK(PROG_LOCAL, local), 0);
	CHECK_EQ(WALK(PROG_MANAGER, manager), 0);
}

TEST(libev_flags_without_meaning_here_are_named)
{
	struct ss_config c;
	const char *err = "";

	CHECK_EQ(apply(PROG_SERVER, "-l 1080", &c, &err), 0);
	CHECK(c.meaningless && strstr(c.meaningless, "-l"));
	config_free(&c);
	CHECK_EQ(apply(PROG_LOCAL, "--mtu 1400", &c, &err), 0);
	CHECK(c.meaningless && strstr(c.meaningless, "--mtu"));
	config_free(&c);
	/* What works is not in the warning. */
	CHECK_EQ(apply(PROG_SERVER, "--mptcp", &c, &err), 0);
	CHECK(c.mptcp && !c.meaningless);
	config_free(&c);
	CHECK_EQ(apply(PROG_SERVER, "--tcp-outgoing-rcvbuf 65536", &c, &err), 0);
	CHECK_EQ(c.out_rcvbuf, 65536);
	config_free(&c);
}

TEST(libev_keys_are_taken)
{
	const char *doc = "{\"key\": \"" KEY32 "\", \"interface\": \"lo\", \"mptcp\": true,"
			  "\"tcp_incoming_sndbuf\": 65536, \"tcp_incoming_rcvbuf\": 65536,"
			  "\"tcp_outgoing_sndbuf\": 65536, \"tcp_outgoing_rcvbuf\": 65536,"
			  "\"auth\": false, \"tcp_tproxy\": true, \"mtu\": 1400}";
	struct ss_config c;
	const char *err = "";

	config_defaults(&c, PROG_LOCAL);
	CHECK_EQ(config_apply_json(&c, doc, strlen(doc), &err), 0);
	CHECK(c.key && c.iface && !strcmp(c.iface, "lo") && c.mptcp && c.tcp_tproxy);
	CHECK_EQ(c.in_sndbuf, 65536);
	CHECK(c.meaningless && strstr(c.meaningless, "\"auth\"") && strstr(c.meaningless, "\"mtu\""));
	config_free(&c);
}

TEST(libev_abbreviated_long_options_are_refused)
{
	static const char *const cut[] = { "--server 127.0.0.1", "--fast", "--reuse", "--plug x" };
	struct ss_config c;
	const char *err = "";

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		CHECK_EQ(apply(PROG_LOCAL, cut[i], &c, &err), -EINVAL);
		CHECK(strstr(err, "unknown option") != NULL);
		config_free(&c);
	}
	/* --name=value is whole too. */
	CHECK_EQ(apply(PROG_LOCAL, "--plugin=obfs-local", &c, &err), 0);
	config_free(&c);
}
