// SPDX-License-Identifier: MIT
/*
 * Configuration: a -c JSON file first, then the command line, both through
 * the one option table (options.c), then one validation that also parses
 * the typed values (method, tunnel address, steering). Unknown keys and bad
 * values are errors that name the key or the flag.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_ports.h"
#include "common.h"
#include "crypto.h"
#include "json.h"
#include "options.h"
#include "steer.h"

#define CONFIG_MAX_FILE (1 << 20)

int config_apply_json(struct ss_config *c, const char *text, size_t len, const char **why)
{
	const char *perr = "";
	char label[80];
	struct json *root = json_parse(text, len, &perr);
	int r = 0;

	if (!root)
		return why_fmt(why, "invalid JSON: %s", perr);
	if (root->type != JSON_OBJECT) {
		json_free(root);
		return why_fmt(why, "the configuration must be a JSON object");
	}
	for (const struct json *v = root->child; v && !r; v = v->next) {
		const struct option_desc *o = options_by_key(v->key);

		snprintf(label, sizeof(label), "key \"%.60s\"", v->key);
		r = o ? options_set(c, o, v, NULL, label, why) :
			why_fmt(why, "unknown key \"%s\"", v->key);
	}
	json_free(root);
	return r;
}

static int load_file(struct ss_config *c, const char *path, const char **why)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	int r;

	if (!f)
		return why_fmt(why, "cannot open config file %s: %s", path, strerror(errno));
	buf = malloc(CONFIG_MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_MAX_FILE + 1, f);
	fclose(f);
	if (n > CONFIG_MAX_FILE) {
		free(buf);
		return why_fmt(why, "config file %s is larger than 1 MiB", path);
	}
	const char *inner = "";

	r = config_apply_json(c, buf, n, &inner);
	if (r)
		why_fmt(why, "%s: %s", path, inner);
	free(buf);
	return r;
}

void config_usage(enum prog_kind prog, FILE *f)
{
	static const char *const names[] = { "ssserver", "sslocal", "ssmanager" };
	static const char *const what[] = {
		"The Shadowsocks server: AEAD from clients, plain TCP and UDP to targets.",
		"The Shadowsocks client: SOCKS5, tunnel or transparent redir in, AEAD to the server.",
		"Runs an ssserver per port that the manager protocol adds (ssserver's options are the defaults).",
	};
	const char *name = names[prog];

	fprintf(f, "usage: %s [-c config.json] [options]\n%s\n\n", name, what[prog]);
	fprintf(f, "  %-30s %s\n", "-c FILE", "A JSON config file (libev's keys); flags override it.");
	options_print_flags(prog, f);
	fprintf(f, "  %-30s %s\n  %-30s %s\n", "-h, --help", "Print this help.", "-V, --version",
		"Print the version.");
	if (prog != PROG_MANAGER)
		fprintf(f, "  %-30s %s\n", "--genkey METHOD",
			"Print a fresh random key for METHOD (the password of a 2022 method).");
	fprintf(f, "\nThe man page %s(1) lists the JSON keys.\n", name);
}

static int validate_ports(struct ss_config *c, const char **why);
static int take_key(struct ss_config *c, const char **why);
static int validate_rest(struct ss_config *c, const char **why);

static int validate(struct ss_config *c, const char **why)
{
	const char *mwhy;

	/* ssmanager: its own address; the rest are defaults for the ports it will run. */
	if (c->prog == PROG_MANAGER) {
		if (!c->manager_address)
			return why_fmt(why, "no manager address given (--manager-address)");
		if (c->method && !(c->m = crypto_method_find(c->method, &mwhy)))
			return why_fmt(why, "method \"%s\": %s", c->method, mwhy);
		if (!c->nservers && config_add_server(c, "0.0.0.0"))
			return -ENOMEM;
		return c->nserver_list || c->nport_password ? config_ports_build(c, why) : 0;
	}
	const struct ss_method *m;
	int r;

	if (c->relay) {
		/* A transit node holds no key: bytes pass unchanged to -L. */
		if (!c->tunnel_address)
			return why_fmt(why, "--relay needs -L host:port (the upstream ssserver)");
		if (c->mode != MODE_TCP_ONLY)
			return why_fmt(why, "--relay relays TCP only");
		if (config_set_str(&c->method, "none") || (!c->password && config_set_str(&c->password, "")))
			return -ENOMEM;
	}
	if (c->prog != PROG_SERVER && c->server_port_hi)
		return why_fmt(why, "a port range (\"server_port\": \"A-B\") is for ssserver");
	/* ssserver: several ports and users, each port with its method (config_ports.c). */
	if (c->prog == PROG_SERVER && (c->nserver_list || c->nport_password || c->nusers))
		return validate_ports(c, why);
	if (c->prog == PROG_LOCAL && (r = config_online_check(c, why)))
		return r;
	/* Only online servers: the first fetch fills in the keys (config_online_adopt). */
	c->online_only = c->prog == PROG_LOCAL && c->online_url && !c->nservers &&
			 !c->nserver_list && !c->relay;
	if (c->online_only)
		return validate_rest(c, why);
	if (c->prog == PROG_LOCAL && c->nserver_list && (r = config_servers_defaults(c, why)))
		return r;
	if (!c->method)
		return why_fmt(why, "no method given (-m or \"method\")");
	if (!(m = crypto_method_find(c->method, &mwhy)))
		return why_fmt(why, "method \"%s\": %s", c->method, mwhy);
	c->m = m;
	if ((r = take_key(c, why)))
		return r;
	if (!c->password && m->id != SS_M_NONE)
		return why_fmt(why, "no password given (-k or \"password\")");
	if (!c->password && config_set_str(&c->password, ""))
		return -ENOMEM;
	if ((r = config_check_key(m, c->password, "", why)))
		return r;
	if (!c->server_port && !c->relay)
		return why_fmt(why, "no server port given (-p or \"server_port\")");
	return validate_rest(c, why);
}

/* --key: the key itself in the password's place (a 2017 method then skips the derivation). */
static int take_key(struct ss_config *c, const char **why)
{
	uint8_t k[SS_MAX_KEY];
	bool bad;

	if (!c->key)
		return 0;
	bad = !c->m->key_len || crypto_psk_decode(c->key, k, c->m->key_len);
	memset(k, 0, sizeof(k));
	if (bad)
		return why_fmt(why, "--key: method %s takes a base64 key of %zu bytes",
				   c->m->name, c->m->key_len);
	free(c->password);
	if (!(c->password = strdup(c->key)))
		return -ENOMEM;
	c->raw_key = !c->m->sip022;
	return 0;
}

/* ssserver with port_password, servers[] or users. */
static int validate_ports(struct ss_config *c, const char **why)
{
	int r;

	if (c->nusers && !c->server_port && !c->nserver_list)
		return why_fmt(why, "\"users\" needs a server_port");
	if ((r = config_ports_build(c, why)))
		return r;
	c->m = c->ports[0].m;
	if (!c->server_port)
		c->server_port = c->ports[0].port;
	return validate_rest(c, why);
}

struct capture_check {
	int n;
	const char **why;
};

static int capture_ok(void *arg, const char *cgroup, const char *netns, const char *upstream)
{
	struct capture_check *k = arg;
	struct config_upstream u;

	(void)netns;
	if (upstream && config_upstream(upstream, &u, k->why))
		return why_fmt(k->why, "capture %s: its upstream: %s", cgroup, *k->why);
	if (upstream)
		explicit_bzero(&u, sizeof(u));
	return ++k->n > 256 ? why_fmt(k->why, "--capture: at most 256 cgroups") : 0; /* CAPTURE_MAX */
}

/* The capture entries are absolute paths (their upstreams valid), at most 256. */
static int check_capture(const char *list, const char **why)
{
	struct capture_check k = { 0, why };

	return config_capture_each(list, capture_ok, &k, why);
}

static int validate_rest(struct ss_config *c, const char **why)
{
	int r;

	/* An empty plugin is none (libev). */
	if (c->plugin && !*c->plugin) {
		free(c->plugin);
		c->plugin = NULL;
	}
	if (c->plugin && (c->nextra_ports || c->nports > 1 || c->relay))
		return why_fmt(why, "a plugin serves one port and needs the key (not --relay)");
	if (c->prog == PROG_LOCAL) {
		/* A shared file may list several server ports: the client uses the first. */
		c->nextra_ports = 0;
		if (!c->nservers && !c->relay && !c->online_only)
			return why_fmt(why, "no server given (-s, \"server\", \"servers\" or an "
				       "online configuration)");
		if (!c->relay && (r = config_servers_build(c, why)))
			return r;
		if (c->tunnel_address && c->local_mode == LOCAL_SOCKS)
			c->local_mode = LOCAL_TUNNEL;
		if (c->local_mode == LOCAL_TUNNEL) {
			char host[300];
			int port;

			if (!c->tunnel_address)
				return why_fmt(why, "tunnel mode needs -L host:port");
			if (config_split_hostport(c->tunnel_address, host, sizeof(host), &port) ||
			    addr_from_host(&c->tunnel, host, (uint16_t)port))
				return why_fmt(why, "tunnel address \"%s\" must be host:port",
					    c->tunnel_address);
		}
		if (c->local_mode == LOCAL_REDIR) {
			struct steer_spec spec;
			struct steer_sources src;

			if ((c->steer_ports || c->steer_iif) && !c->steer)
				return why_fmt(why, "--steer-ports and --steer-iif need --steer");
			if ((c->exclude || c->exclude_file) && !c->steer && !c->capture)
				return why_fmt(why, "--exclude and --exclude-file need --steer or "
					       "--capture");
			if (c->capture && (r = check_capture(c->capture, why)))
				return r;
			if (c->capture)
				c->reuse_port = true; /* a capture listener may share the redir port */
			config_steer_sources(c, &src);
			r = steer_parse(&spec, &src, why);
			steer_spec_free(&spec);
			if (r)
				return r;
			/* TPROXY delivers to the port on any address of the gateway. */
			if (!c->local_address && config_set_str(&c->local_address, "::"))
				return -ENOMEM;
		} else if (c->steer || c->steer_ports || c->exclude || c->exclude_file ||
			   c->steer_iif || c->capture) {
			return why_fmt(why, "--steer, --steer-ports, --steer-iif, --exclude, "
				       "--exclude-file and --capture are for redir mode");
		}
		if (!!c->socks_user != !!c->socks_pass)
			return why_fmt(why, "SOCKS5 authentication needs both a username and a password");
		if (c->socks_user && (strlen(c->socks_user) > 255 || strlen(c->socks_pass) > 255))
			return why_fmt(why, "SOCKS5 username and password are limited to 255 bytes");
		if (!c->local_address && config_set_str(&c->local_address, "127.0.0.1"))
			return -ENOMEM;
		if (!c->local_port)
			c->local_port = 1080;
	} else if (!c->nservers && config_add_server(c, "0.0.0.0")) {
		return -ENOMEM;
	}
	/* -i names an interface that exists. */
	if (c->iface && (strlen(c->iface) >= IFNAMSIZ || !if_nametoindex(c->iface)))
		return why_fmt(why, "interface \"%s\": no such network interface",
				   c->iface);
	if (c->prog == PROG_SERVER && !c->nports)
		return config_ports_build(c, why);
	return 0;
}

void config_defaults(struct ss_config *c, enum prog_kind prog)
{
	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->timeout = 60;
	c->workers = 0; /* one per CPU */
	c->mode = MODE_TCP_ONLY;
	c->udp_max_associations = 4096;
	c->handshake_timeout = 30;
	c->first_data_wait = 50;
	c->replay_capacity = 1000000;
	c->replay_fp = 1e-6;
	c->fwmark = STEER_DEFAULT_MARK;
	c->route_table = STEER_DEFAULT_TABLE;
	c->check_interval = 10;
	c->max_server_rtt = 5000;
}

/* --genkey METHOD: a key from the system's random source, base64 (SIP022 section 2.1). */
static int genkey(const char *method, const char **why)
{
	const struct ss_method *m;
	const char *mwhy;
	char out[64];

	if (!(m = crypto_method_find(method, &mwhy)))
		return why_fmt(why, "--genkey: method \"%s\": %s", method, mwhy);
	if (crypto_psk_new(m, out, sizeof(out)))
		return why_fmt(why, "--genkey: method %s takes no key", m->name);
	printf("%s\n", out);
	return 1;
}

/* One flag of the command line through the table; 0, 1 (help printed) or -errno. */
static int apply_flag(struct ss_config *c, int opt, int argc, char **argv, const char **why)
{
	const struct option_desc *o;
	char label[64], sh[2] = { 0 };

	if (opt == 'c')
		return 0;
	if (opt == 'h') {
		config_usage(c->prog, stdout);
		return 1;
	}
	if (opt == OPT_GENKEY)
		return genkey(optarg, why);
	if (opt == 'V') {
		printf("%s %s\n", c->prog == PROG_SERVER ? "ssserver" : c->prog == PROG_LOCAL ?
		       "sslocal" : "ssmanager", SSBPF_VERSION);
		return 1;
	}
	if (opt == ':' && optopt && optopt < 256)
		return why_fmt(why, "option -%c needs a value", optopt);
	if (opt == ':')
		return why_fmt(why, "option %s needs a value", argv[optind - 1]);
	if (opt >= 256)
		o = options_at((size_t)(opt - 256));
	else if (opt != '?')
		o = options_by_flag(NULL, (char)opt);
	else
		o = NULL;
	/* A bad short option may sit in a bundle (-qq): name it, not the argument before. */
	if (!o && optopt)
		return why_fmt(why, "unknown option -%c", optopt);
	if (!o)
		return why_fmt(why, "unknown option %s",
				   optind - 1 < argc ? argv[optind - 1] : "?");
	sh[0] = options_short(o);
	snprintf(label, sizeof(label), "%s%s", options_long(o) ? "--" : "-",
		 options_long(o) ? options_long(o) : sh);
	return options_set(c, o, NULL, options_flag_has_arg(o) ? optarg : NULL, label, why);
}

/*
 * getopt_long takes any unambiguous prefix of a long option (--server for
 * --server-url); the option just read must have been written whole.
 */
static int whole_name(char **argv, const struct option *lo, const char **why)
{
	const char *t = argv[optind - 1];
	size_t n;

	/* "--name value": the value was the last element read. */
	if (lo->has_arg == required_argument && optarg == argv[optind - 1] && optind >= 2)
		t = argv[optind - 2];
	n = strcspn(t + 2, "=");
	if (strncmp(t, "--", 2) || (n == strlen(lo->name) && !strncmp(t + 2, lo->name, n)))
		return 0;
	return why_fmt(why, "unknown option %.*s (long options are written whole; "
			   "--%s?)", (int)n + 2, t, lo->name);
}

/*
 * Walks argv: with file set, only loads the -c file; otherwise applies
 * every flag. 0, 1 (help printed) or -errno.
 */
static int walk_args(struct ss_config *c, int argc, char **argv, bool file, const char **why)
{
	char short_opts[128];
	struct option long_opts[80];
	int opt, r, li = -1;

	options_getopt(short_opts, sizeof(short_opts), long_opts, ARRAY_SIZE(long_opts));
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, short_opts, long_opts, &li)) != -1) {
		if (file && opt == 'c' && config_set_str(&c->config_path, optarg))
			return -ENOMEM;
		if (!file && li >= 0 && (r = whole_name(argv, &long_opts[li], why)))
			return r;
		if (!file && (r = apply_flag(c, opt, argc, argv, why)))
			return r;
		li = -1;
	}
	if (file)
		return c->config_path ? load_file(c, c->config_path, why) : 0;
	if (optind < argc)
		return why_fmt(why, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

int config_apply_args(struct ss_config *c, int argc, char **argv, const char **why)
{
	return walk_args(c, argc, argv, false, why);
}

int config_load(struct ss_config *c, enum prog_kind prog, int argc, char **argv, const char **why)
{
	int r;

	config_defaults(c, prog);
	c->argc = argc;
	c->argv = argv;
	/* The config file first, so that flags override it. */
	if ((r = walk_args(c, argc, argv, true, why)) ||
	    (r = walk_args(c, argc, argv, false, why)))
		return r;
	return validate(c, why);
}

struct ss_config *config_reload(const struct ss_config *old, const char **why)
{
	struct ss_config *n = calloc(1, sizeof(*n));

	if (!n) {
		why_fmt(why, "out of memory");
		return NULL;
	}
	if (config_load(n, old->prog, old->argc, old->argv, why) ||
	    (!n->replay_file && old->replay_file && config_set_str(&n->replay_file, old->replay_file))) {
		config_free(n);
		free(n);
		return NULL;
	}
	/* What cannot change without a restart stays as it was. */
	n->workers = old->workers;
	n->reuse_port = old->reuse_port;
	n->port_shared = old->port_shared;
	n->plugin_port = old->plugin_port;
	return n;
}

void config_steer_sources(const struct ss_config *c, struct steer_sources *src)
{
	*src = (struct steer_sources){ .steer = c->steer, .exclude = c->exclude,
				       .exclude_files = c->exclude_file, .ports = c->steer_ports,
				       .iif = c->steer_iif, .acl = c->acl };
}

void config_free(struct ss_config *c)
{
	config_clear_servers(c);
	config_servers_free(c);
	free(c->password);
	free(c->method);
	free(c->local_address);
	free(c->nameserver);
	free(c->user);
	free(c->tunnel_address);
	free(c->socks_user);
	free(c->socks_pass);
	free(c->config_path);
	free(c->acl);
	free(c->bpf_cgroup);
	free(c->replay_file);
	free(c->steer);
	free(c->steer_ports);
	free(c->pid_file);
	free(c->log_file);
	free(c->plugin);
	free(c->plugin_opts);
	config_free_args(c->plugin_args);
	free(c->ignored);
	free(c->meaningless);
	free(c->key);
	free(c->iface);
	free(c->executable);
	free(c->workdir);
	free(c->manager_address);
	free(c->manager_allow);
	free(c->manager_plugins);
	free(c->ctl_socket);
	free(c->metrics);
	config_ports_free(c);
	free(c->exclude);
	free(c->exclude_file);
	free(c->steer_iif);
	free(c->capture);
	memset(c, 0, sizeof(*c));
}
