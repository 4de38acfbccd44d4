// SPDX-License-Identifier: MIT
/*
 * The config file and the command line agree: every option of the table is
 * fed the same values through a JSON document and through argv, and both
 * must give the same parsed configuration, or both the same error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "options.h"
#include "test.h"

static void put(char *out, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, cap - n, fmt, ap);
	va_end(ap);
}

#define S(x) ((x) ? (x) : "-")

/* Every field of c as text, so that two configurations compare as strings. */
static void describe(const struct ss_config *c, char *out, size_t cap)
{
	out[0] = 0;
	for (int i = 0; i < c->nservers; i++)
		put(out, cap, "server=%s ", c->servers[i]);
	put(out, cap, "port=%d pw=%s m=%s t=%d la=%s lp=%d mode=%d fo=%d rp=%d nd=%d v6=%d ns=%s ",
	    c->server_port, S(c->password), S(c->method), c->timeout, S(c->local_address),
	    c->local_port, c->mode, c->fast_open, c->reuse_port, c->no_delay, c->ipv6_first,
	    S(c->nameserver));
	put(out, cap, "user=%s w=%d bpf=%d v=%d lm=%d ta=%s su=%s sp=%s uma=%d relay=%d ap=%d ",
	    S(c->user), c->workers, c->bpf, c->verbose, c->local_mode, S(c->tunnel_address),
	    S(c->socks_user), S(c->socks_pass), c->udp_max_associations, c->relay,
	    c->allow_private);
	put(out, cap, "cap=%s ", S(c->capture));
	put(out, cap, "acl=%s hs=%d mc=%d rc=%d fp=%g tier=%d steer=%s sport=%s ex=%s mark=%d rt=%d",
	    S(c->acl), c->handshake_timeout, c->max_connections, c->replay_capacity, c->replay_fp,
	    c->tier, S(c->steer), S(c->steer_ports), S(c->exclude), c->fwmark, c->route_table);
	put(out, cap, " q=%d pid=%s log=%s syslog=%d nofile=%d plugin=%s opts=%s ports=%d",
	    c->quiet, S(c->pid_file), S(c->log_file), c->use_syslog, c->nofile, S(c->plugin),
	    S(c->plugin_opts), c->nextra_ports);
}

/* What an error says about the value, without the name of the option. */
static const char *tail(const char *err)
{
	const char *p = strstr(err, " is an ");

	if (p)
		return p;
	p = strstr(err, " must be ");

	if (p)
		return p + strlen(" must be ");
	p = strstr(err, " is not ");
	if (p)
		return p + strlen(" is not ");
	p = strstr(err, ": ");
	return p ? p + 2 : err;
}

static bool numeric(const char *v)
{
	char *end;

	if (!*v)
		return false;
	strtod(v, &end);
	return !*end && !strchr(v, 'x');
}

static const char *const values[] = {
	"0", "1", "2", "16", "253", "254", "1024", "1025", "65535", "65536", "86400", "86401",
	"16777216", "16777217", "268435457", "-1", "0.5", "1.5", "abc", "", "true", "auto", "on",
	"off", "user", "splice", "sockmap", "socks", "socks5", "tunnel", "redir", "tcp_only",
	"udp_only", "tcp_and_udp", "10.0.0.0/8", "80,443", "127.0.0.1:53",
	"ss://YWVzLTI1Ni1nY206eA@h:1",
};

static int shown; /* disagreements printed */

/*
 * The JSON document doc and the command line "prog FLAG [value]" for option
 * o: both must give the same configuration, or errors saying the same.
 */
static bool compare(enum prog_kind prog, const struct option_desc *o, const char *doc,
		    const char *value)
{
	struct ss_config a, b;
	const char *ea = "", *eb = "";
	char flag[64], da[2048], db[2048], ea_kept[512];
	char *argv[4] = { "prog", flag, (char *)value, NULL };
	int ra, rb;
	bool same;

	config_defaults(&a, prog);
	config_defaults(&b, prog);
	if (options_long(o))
		snprintf(flag, sizeof(flag), "--%s", options_long(o));
	else
		snprintf(flag, sizeof(flag), "-%c", options_short(o));
	/* A switch is given twice (-v -v against "verbose": 2). */
	if (!value)
		argv[2] = flag;
	ra = config_apply_json(&a, doc, strlen(doc), &ea);
	snprintf(ea_kept, sizeof(ea_kept), "%s", ea); /* why_fmt's slots are reused */
	ea = ea_kept;
	rb = config_apply_args(&b, 3, argv, &eb);
	describe(&a, da, sizeof(da));
	describe(&b, db, sizeof(db));
	/*
	 * One file serves both programs: the other's keys are ignored there; as
	 * flags they are refused, or warned as meaningless where libev lists them.
	 */
	if (!options_for(o, prog))
		same = !ra && a.ignored && !strcmp(a.ignored, options_key(o)) &&
		       (rb ? strstr(eb, " is an ") != NULL : b.meaningless != NULL);
	else
		same = (ra != 0) == (rb != 0) && (ra ? !strcmp(tail(ea), tail(eb)) : !strcmp(da, db));
	if (!same && shown++ < 10)
		fprintf(stderr, "  %s: file: %s | flag %s %s: %s\n", doc, ra ? ea : da, flag,
			value ? value : "", rb ? eb : db);
	config_free(&a);
	config_free(&b);
	return same;
}

/* One value, as a JSON number (when numeric and not quoted) or string, and as a flag value. */
static bool agree(enum prog_kind prog, const struct option_desc *o, const char *v, bool quoted)
{
	char doc[512];

	snprintf(doc, sizeof(doc), numeric(v) && !quoted ? "{\"%s\": %s}" : "{\"%s\": \"%s\"}",
		 options_key(o), v);
	return compare(prog, o, doc, v);
}

/* A flag without value against true in the file (a count against 2). */
static bool agree_switch(enum prog_kind prog, const struct option_desc *o)
{
	char doc[128];

	snprintf(doc, sizeof(doc), !strcmp(options_key(o), "verbose") || !strcmp(options_key(o), "quiet") ? "{\"%s\": 2}" :
		 "{\"%s\": true}", options_key(o));
	return compare(prog, o, doc, NULL);
}

TEST(config_file_and_command_line_agree_on_every_option)
{
	int checked = 0, bad = 0;

	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *o = options_at(i);

		if (!options_key(o) || (!options_long(o) && !options_short(o)))
			continue;
		for (int prog = PROG_SERVER; prog <= PROG_LOCAL; prog++) {
			if (!options_flag_has_arg(o)) {
				bad += !agree_switch(prog, o);
				checked++;
				continue;
			}
			for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
				bad += !agree(prog, o, values[v], false);
				bad += !agree(prog, o, values[v], true);
				checked += 2;
			}
		}
	}
	CHECK(checked > 1000);
	CHECK_EQ(bad, 0);
}

TEST(config_every_flag_has_a_json_key)
{
	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *o = options_at(i);

		/* -u and -U are spellings of the "mode" key. */
		if (!options_key(o) && options_short(o) != 'u' && options_short(o) != 'U') {
			fprintf(stderr, "  a flag without a JSON key: -%c --%s\n", options_short(o),
				options_long(o) ? options_long(o) : "");
			CHECK(0);
		}
	}
}

TEST(config_rejects_with_the_option_named)
{
	struct ss_config c;
	const char *err = "";
	char *bad_port[] = { "prog", "-p", "70000", NULL };
	char *bad_table[] = { "prog", "--route-table", "254", NULL };
	char *hex_mark[] = { "prog", "--fwmark", "0x10", NULL };

	config_defaults(&c, PROG_LOCAL);
	CHECK(config_apply_args(&c, 3, bad_port, &err) == -EINVAL);
	CHECK(strstr(err, "-p: \"70000\" is not a port number 1-65535") != NULL);
	CHECK(config_apply_json(&c, "{\"handshake_timeout\": 999999}", 29, &err) ==
	      -EINVAL);
	CHECK(strstr(err, "key \"handshake_timeout\" must be an integer 1-86400") != NULL);
	CHECK(config_apply_json(&c, "{\"route_table\": 254}", 20, &err) == -EINVAL);
	CHECK(config_apply_args(&c, 3, bad_table, &err) == -EINVAL);
	CHECK(config_apply_args(&c, 3, hex_mark, &err) == 0);
	CHECK_EQ(c.fwmark, 16);
	CHECK(config_apply_json(&c, "{\"colour\": 1}", 13, &err) == -EINVAL);
	CHECK(strstr(err, "unknown key \"colour\"") != NULL);
	config_free(&c);
}

TEST(config_accepts_the_files_people_have)
{
	struct ss_config c;
	const char *err = "";
	/* Debian's shadowsocks-libev config.json, and the Python original's shared test files. */
	const char *libev = "{\"server\":[\"::1\", \"127.0.0.1\"], \"mode\":\"tcp_and_udp\","
			    "\"server_port\":8388, \"local_port\":1080, \"password\":\"x\","
			    "\"timeout\":86400, \"method\":\"chacha20-ietf-poly1305\"}";
	const char *python = "{\"server\":\"127.0.0.1\", \"server_port\":[8384, 8345],"
			     "\"local_port\":1081, \"password\":\"p\", \"timeout\":60,"
			     "\"method\":\"aes-256-gcm\", \"local_address\":\"127.0.0.1\","
			     "\"fast_open\":false, \"dns_server\": [\"8.8.8.8\",\"8.8.4.4\"],"
			     "\"prefer_ipv6\": true, \"one_time_auth\": false, \"workers\": 4}";

	config_defaults(&c, PROG_SERVER);
	CHECK_EQ(config_apply_json(&c, libev, strlen(libev), &err), 0);
	CHECK(c.ignored && !strcmp(c.ignored, "local_port"));
	CHECK_EQ(c.nservers, 2);
	config_free(&c);
	config_defaults(&c, PROG_SERVER);
	CHECK_EQ(config_apply_json(&c, python, strlen(python), &err), 0);
	CHECK_EQ(c.server_port, 8384);
	CHECK_EQ(c.nextra_ports, 1);
	CHECK_EQ(c.extra_ports[0], 8345);
	CHECK(c.nameserver && !strcmp(c.nameserver, "8.8.8.8,8.8.4.4"));
	CHECK(c.ipv6_first);
	CHECK(c.ignored && strstr(c.ignored, "local_address") && !strstr(c.ignored, "one_time_auth"));
	/* A key with no meaning here at all is said at start, in one warning line. */
	CHECK(c.meaningless && strstr(c.meaningless, "\"one_time_auth\""));
	config_free(&c);
	config_defaults(&c, PROG_LOCAL);
	CHECK_EQ(config_apply_json(&c, libev, strlen(libev), &err), 0);
	CHECK_EQ(c.local_port, 1080);
	CHECK(!c.ignored);
	/* A typo is still an error that names it. */
	CHECK(config_apply_json(&c, "{\"pasword\": \"x\"}", 16, &err) == -EINVAL);
	CHECK(strstr(err, "unknown key \"pasword\"") != NULL);
	config_free(&c);
}

TEST(config_plugin_from_a_sip002_uri)
{
	struct ss_config c;
	const char *err = "";
	char *argv[] = { "prog", "--server-url",
			 "ss://YWVzLTI1Ni1nY206cHc@h:8388/?plugin=obfs-local%3Bobfs%3Dhttp%3Bobfs-host%3Dx.org#n",
			 NULL };

	config_defaults(&c, PROG_LOCAL);
	CHECK_EQ(config_apply_args(&c, 3, argv, &err), 0);
	CHECK(c.plugin && !strcmp(c.plugin, "obfs-local"));
	CHECK(c.plugin_opts && !strcmp(c.plugin_opts, "obfs=http;obfs-host=x.org"));
	CHECK(c.password && !strcmp(c.password, "pw"));
	config_free(&c);
}

/* A JSON "exclude" list of any length (1,001 here; it once hit a 4 KiB buffer). */
TEST(config_exclude_list_of_any_length)
{
	struct ss_config c;
	char *doc = malloc(40000);
	const char *err = "";
	size_t n = 0, commas = 0;

	CHECK(doc != NULL);
	n += (size_t)sprintf(doc + n, "{\"protocol\": \"redir\", \"steer\": \"0.0.0.0/0\", \"exclude\": [");
	for (int i = 0; i < 1001; i++)
		n += (size_t)sprintf(doc + n, "%s\"10.%d.%d.0/24\"", i ? ", " : "", i / 256, i % 256);
	sprintf(doc + n, "]}");
	config_defaults(&c, PROG_LOCAL);
	CHECK_EQ(config_apply_json(&c, doc, strlen(doc), &err), 0);
	CHECK(c.exclude != NULL);
	for (const char *s = c.exclude; s && *s; s++)
		commas += *s == ',';
	CHECK_EQ(commas, 1000);
	config_free(&c);
	free(doc);
}

struct capture_seen {
	int n;
	char text[3][600];
};

static int note_capture(void *arg, const char *cgroup, const char *netns, const char *upstream)
{
	struct capture_seen *s = arg;

	if (s->n < 3)
		snprintf(s->text[s->n], sizeof(s->text[0]), "%s|%s|%s", cgroup, netns ? netns : "-",
			 upstream ? upstream : "-");
	s->n++;
	return 0;
}

/* Capture entries: a path, a path with a namespace, and one with an upstream of its own. */
TEST(config_capture_entries_with_their_own_upstream)
{
	static const char doc[] =
		"{\"protocol\": \"redir\", \"capture\": [\"/cg/a\", {\"cgroup\": \"/cg/b\", "
		"\"netns\": \"/run/netns/b\"}, {\"cgroup\": \"/cg/c\", \"server\": \"fd00::1\", "
		"\"server_port\": 8389, \"method\": \"2022-blake3-aes-128-gcm\", "
		"\"password\": \"AAAAAAAAAAAAAAAAAAAAAA==:AQEBAQEBAQEBAQEBAQEBAQ==\"}]}";
	static const char *const bad[] = {
		"{\"capture\": [{\"cgroup\": \"/cg/a\", \"server\": \"1.2.3.4\"}]}",
		"{\"capture\": [{\"cgroup\": \"/cg/a\", \"color\": \"red\"}]}",
		"{\"capture\": [{\"netns\": \"/run/netns/x\"}]}",
		"{\"capture\": [{\"cgroup\": \"/cg/a,b\"}]}",
	};
	struct capture_seen seen = { 0 };
	struct config_upstream u;
	struct ss_config c;
	const char *err = "";
	char *up;

	config_defaults(&c, PROG_LOCAL);
	CHECK_EQ(config_apply_json(&c, doc, strlen(doc), &err), 0);
	CHECK_EQ(config_capture_each(c.capture, note_capture, &seen, &err), 0);
	CHECK_EQ(seen.n, 3);
	CHECK(!strcmp(seen.text[0], "/cg/a|-|-"));
	CHECK(!strcmp(seen.text[1], "/cg/b|/run/netns/b|-"));
	CHECK(!strncmp(seen.text[2], "/cg/c|-|ss://", 13));
	/* The URI gives back the four keys: the ':' and '=' of the key survive percent-encoding. */
	up = strrchr(seen.text[2], '|') + 1;
	CHECK_EQ(config_upstream(up, &u, &err), 0);
	CHECK(!strcmp(u.host, "fd00::1") && u.port == 8389);
	CHECK(!strcmp(u.password, "AAAAAAAAAAAAAAAAAAAAAA==:AQEBAQEBAQEBAQEBAQEBAQ=="));
	CHECK(!strcmp(u.m->name, "2022-blake3-aes-128-gcm"));
	config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_defaults(&c, PROG_LOCAL);
		CHECK(config_apply_json(&c, bad[i], strlen(bad[i]), &err) != 0);
		config_free(&c);
	}
	/* The flag form: relative paths are refused with the entry named. */
	seen.n = 0;
	CHECK(config_capture_each("cg/a", note_capture, &seen, &err) != 0);
	CHECK(strstr(err, "absolute") != NULL && seen.n == 0);
}
