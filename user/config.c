// SPDX-License-Identifier: MIT
/*
 * Configuration: shadowsocks-style JSON keys, ss-server/ss-local flags and
 * SIP002 URIs. Unknown keys and bad values are errors that name the key.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "json.h"
#include "steer.h"

#define CONFIG_MAX_FILE (1 << 20)

static int errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int set_mode(struct ss_config *c, const char *v)
{
	if (!strcmp(v, "tcp_only"))
		c->mode = MODE_TCP_ONLY;
	else if (!strcmp(v, "udp_only"))
		c->mode = MODE_UDP_ONLY;
	else if (!strcmp(v, "tcp_and_udp"))
		c->mode = MODE_TCP_AND_UDP;
	else
		return -EINVAL;
	return 0;
}

static int set_bpf(struct ss_config *c, const char *v)
{
	if (!strcmp(v, "auto"))
		c->bpf = BPF_AUTO;
	else if (!strcmp(v, "on") || !strcmp(v, "true"))
		c->bpf = BPF_ON;
	else if (!strcmp(v, "off") || !strcmp(v, "false"))
		c->bpf = BPF_OFF;
	else
		return -EINVAL;
	return 0;
}

static int set_local_mode(struct ss_config *c, const char *v)
{
	if (!strcmp(v, "socks") || !strcmp(v, "socks5"))
		c->local_mode = LOCAL_SOCKS;
	else if (!strcmp(v, "tunnel"))
		c->local_mode = LOCAL_TUNNEL;
	else if (!strcmp(v, "redir"))
		c->local_mode = LOCAL_REDIR;
	else
		return -EINVAL;
	return 0;
}

static int add_server(struct ss_config *c, const char *host)
{
	if (c->nservers >= CFG_MAX_SERVERS)
		return -E2BIG;
	if (!(c->servers[c->nservers] = strdup(host)))
		return -ENOMEM;
	c->nservers++;
	return 0;
}

static void clear_servers(struct ss_config *c)
{
	for (int i = 0; i < c->nservers; i++)
		free(c->servers[i]);
	c->nservers = 0;
}

enum key_kind { K_STR, K_PORT, K_POSINT, K_BOOL, K_SERVER, K_MODE, K_BPF, K_PROTOCOL, K_WORKERS,
		K_FRACTION, K_LIST };

struct key_desc {
	const char *name;
	enum key_kind kind;
	size_t off;
	unsigned progs; /* bit per prog_kind where the key is meaningful */
};

#define BOTH (1u << PROG_SERVER | 1u << PROG_LOCAL)
#define LOCAL (1u << PROG_LOCAL)
#define SERVER (1u << PROG_SERVER)
#define O(f) offsetof(struct ss_config, f)

static const struct key_desc keys[] = {
	{ "server", K_SERVER, 0, BOTH },
	{ "server_port", K_PORT, O(server_port), BOTH },
	{ "password", K_STR, O(password), BOTH },
	{ "method", K_STR, O(method), BOTH },
	{ "timeout", K_POSINT, O(timeout), BOTH },
	{ "local_address", K_STR, O(local_address), LOCAL },
	{ "local_port", K_PORT, O(local_port), LOCAL },
	{ "mode", K_MODE, 0, BOTH },
	{ "fast_open", K_BOOL, O(fast_open), BOTH },
	{ "reuse_port", K_BOOL, O(reuse_port), BOTH },
	{ "no_delay", K_BOOL, O(no_delay), BOTH },
	{ "ipv6_first", K_BOOL, O(ipv6_first), BOTH },
	{ "nameserver", K_STR, O(nameserver), BOTH },
	{ "steer", K_LIST, O(steer), LOCAL },
	{ "steer_ports", K_LIST, O(steer_ports), LOCAL },
	{ "exclude", K_LIST, O(exclude), LOCAL },
	{ "fwmark", K_POSINT, O(fwmark), LOCAL },
	{ "route_table", K_POSINT, O(route_table), LOCAL },
	{ "user", K_STR, O(user), BOTH },
	{ "workers", K_WORKERS, O(workers), BOTH },
	{ "bpf", K_BPF, 0, BOTH },
	{ "protocol", K_PROTOCOL, 0, LOCAL },
	{ "tunnel_address", K_STR, O(tunnel_address), LOCAL },
	{ "socks5_username", K_STR, O(socks_user), LOCAL },
	{ "socks5_password", K_STR, O(socks_pass), LOCAL },
	{ "udp_max_associations", K_POSINT, O(udp_max_associations), BOTH },
	{ "relay", K_BOOL, O(relay), LOCAL },
	{ "allow_private", K_BOOL, O(allow_private), SERVER },
	{ "acl", K_STR, O(acl), SERVER },
	{ "handshake_timeout", K_POSINT, O(handshake_timeout), BOTH },
	{ "max_connections", K_POSINT, O(max_connections), BOTH },
	{ "replay_capacity", K_POSINT, O(replay_capacity), BOTH },
	{ "replay_fp", K_FRACTION, O(replay_fp), BOTH },
};

/* Keys of the shadowsocks family that this build does not implement yet. */
static const char *const unsupported_keys[] = { "plugin", "plugin_opts", "port_password",
						"manager_address" };

static int apply_key(struct ss_config *c, const struct json *v, char *err, size_t err_len)
{
	const struct key_desc *k = NULL;
	char num[32];

	for (size_t i = 0; i < ARRAY_SIZE(unsupported_keys); i++)
		if (!strcmp(v->key, unsupported_keys[i]))
			return errf(err, err_len, "key \"%s\" is not supported yet", v->key);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(v->key, keys[i].name))
			k = &keys[i];
	if (!k || !(k->progs & 1u << c->prog))
		return errf(err, err_len, "unknown key \"%s\"", v->key);

	/* Numbers written as strings ("8388") are accepted, as in libev. */
	const char *sval = v->type == JSON_STRING ? v->string : NULL;
	if (v->type == JSON_NUMBER && k->kind != K_FRACTION) {
		if (v->number != (double)(long)v->number)
			return errf(err, err_len, "key \"%s\" must be an integer", v->key);
		snprintf(num, sizeof(num), "%ld", (long)v->number);
		sval = num;
	}
	int *ip = (int *)((char *)c + k->off);
	switch (k->kind) {
	case K_STR:
		if (v->type != JSON_STRING)
			return errf(err, err_len, "key \"%s\" must be a string, not %s", v->key,
				    json_type_name(v->type));
		return set_str((char **)((char *)c + k->off), v->string);
	case K_PORT:
		if (!sval || parse_int(sval, 1, 65535, ip))
			return errf(err, err_len, "key \"%s\" must be a port number 1-65535",
				    v->key);
		return 0;
	case K_POSINT:
		if (!sval || parse_int(sval, 1, INT_MAX, ip))
			return errf(err, err_len, "key \"%s\" must be a positive integer", v->key);
		return 0;
	case K_WORKERS:
		if (!sval || parse_int(sval, 1, 1024, ip))
			return errf(err, err_len, "key \"%s\" must be an integer 1-1024", v->key);
		return 0;
	case K_LIST: {
		/* "a,b" or ["a", "b"] (ports may be numbers): kept comma-separated. */
		char joined[4096] = "";
		size_t n = 0;

		if (sval)
			return set_str((char **)((char *)c + k->off), sval);
		if (v->type != JSON_ARRAY)
			return errf(err, err_len, "key \"%s\" must be a string or a list", v->key);
		for (const struct json *e = v->child; e; e = e->next) {
			char item[64];

			if (e->type == JSON_NUMBER)
				snprintf(item, sizeof(item), "%ld", (long)e->number);
			else if (e->type != JSON_STRING || strlen(e->string) >= sizeof(item))
				return errf(err, err_len, "key \"%s\" must list strings", v->key);
			else
				strcpy(item, e->string);
			int w = snprintf(joined + n, sizeof(joined) - n, "%s%s", n ? "," : "", item);
			if (w < 0 || (size_t)w >= sizeof(joined) - n)
				return errf(err, err_len, "key \"%s\" is too long", v->key);
			n += (size_t)w;
		}
		return set_str((char **)((char *)c + k->off), joined);
	}
	case K_FRACTION:
		if (v->type != JSON_NUMBER || !(v->number > 0 && v->number < 1))
			return errf(err, err_len, "key \"%s\" must be a number between 0 and 1", v->key);
		*(double *)((char *)c + k->off) = v->number;
		return 0;
	case K_BOOL:
		if (v->type != JSON_BOOL)
			return errf(err, err_len, "key \"%s\" must be true or false", v->key);
		*(bool *)((char *)c + k->off) = v->boolean;
		return 0;
	case K_MODE:
		if (!sval || set_mode(c, sval))
			return errf(err, err_len,
				    "key \"mode\" must be tcp_only, udp_only or tcp_and_udp");
		return 0;
	case K_BPF:
		if (v->type == JSON_BOOL)
			sval = v->boolean ? "on" : "off";
		if (!sval || set_bpf(c, sval))
			return errf(err, err_len, "key \"bpf\" must be auto, on or off");
		return 0;
	case K_PROTOCOL:
		if (!sval || set_local_mode(c, sval))
			return errf(err, err_len, "key \"protocol\" must be socks, tunnel or redir");
		return 0;
	case K_SERVER:
		clear_servers(c);
		if (v->type == JSON_STRING)
			return add_server(c, v->string);
		if (v->type != JSON_ARRAY)
			return errf(err, err_len, "key \"server\" must be a string or a list");
		for (const struct json *e = v->child; e; e = e->next) {
			if (e->type != JSON_STRING)
				return errf(err, err_len, "key \"server\" must list strings");
			if (add_server(c, e->string))
				return errf(err, err_len, "key \"server\" lists more than %d hosts",
					    CFG_MAX_SERVERS);
		}
		return 0;
	}
	return -EINVAL;
}

int config_apply_json(struct ss_config *c, const char *text, size_t len, char *err,
		      size_t err_len)
{
	char perr[200];
	struct json *root = json_parse(text, len, perr, sizeof(perr));
	int r = 0;

	if (!root)
		return errf(err, err_len, "invalid JSON: %s", perr);
	if (root->type != JSON_OBJECT) {
		json_free(root);
		return errf(err, err_len, "the configuration must be a JSON object");
	}
	for (const struct json *v = root->child; v && !r; v = v->next)
		r = apply_key(c, v, err, err_len);
	json_free(root);
	return r;
}

static int load_file(struct ss_config *c, const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	int r;

	if (!f)
		return errf(err, err_len, "cannot open config file %s: %s", path, strerror(errno));
	buf = malloc(CONFIG_MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_MAX_FILE + 1, f);
	fclose(f);
	if (n > CONFIG_MAX_FILE) {
		free(buf);
		return errf(err, err_len, "config file %s is larger than 1 MiB", path);
	}
	char inner[400];
	r = config_apply_json(c, buf, n, inner, sizeof(inner));
	if (r)
		errf(err, err_len, "%s: %s", path, inner);
	free(buf);
	return r;
}

int config_split_hostport(const char *s, char *host, size_t host_len, int *port)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= host_len || parse_int(colon + 1, 1, 65535, port))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	return 0;
}

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-' || ch == '+')
		return 62;
	if (ch == '_' || ch == '/')
		return 63;
	return -1;
}

/* Base64 (URL-safe or standard, padding optional); returns length or -1. */
static int b64_decode(const char *in, size_t len, char *out, size_t cap)
{
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;

	while (len && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	return (int)o;
}

static int pct_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (o >= cap)
			return -1;
		if (in[i] == '%') {
			if (i + 2 >= len + 0 || sscanf(in + i + 1, "%2x", &v) != 1)
				return -1;
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	return (int)o;
}

int config_apply_url(struct ss_config *c, const char *url, char *err, size_t err_len)
{
	char info[512], host[300];
	const char *p, *at, *end;
	int n, port;

	if (strncmp(url, "ss://", 5))
		return errf(err, err_len, "server URL must start with ss://");
	p = url + 5;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (!at)
		return errf(err, err_len, "server URL has no '@' (expected ss://BASE64URL(method:password)@host:port)");
	/* SIP002: userinfo is base64url(method:password), or percent-encoded plain text. */
	if (memchr(p, ':', (size_t)(at - p)))
		n = pct_decode(p, (size_t)(at - p), info, sizeof(info) - 1);
	else
		n = b64_decode(p, (size_t)(at - p), info, sizeof(info) - 1);
	if (n < 0)
		return errf(err, err_len, "server URL userinfo is not valid base64url");
	info[n] = 0;
	char *colon = strchr(info, ':');
	if (!colon || memchr(info, 0, (size_t)n))
		return errf(err, err_len, "server URL userinfo must decode to method:password");
	*colon = 0;
	if ((size_t)(end - at - 1) >= sizeof(host))
		return errf(err, err_len, "server URL host is too long");
	char hp[300];
	memcpy(hp, at + 1, (size_t)(end - at - 1));
	hp[end - at - 1] = 0;
	if (config_split_hostport(hp, host, sizeof(host), &port))
		return errf(err, err_len, "server URL must end in host:port, got \"%s\"", hp);
	const char *q = strchr(end, '?');
	if (q && strstr(q, "plugin="))
		return errf(err, err_len, "server URL asks for a plugin; plugins are not supported yet");
	if (set_str(&c->method, info) || set_str(&c->password, colon + 1))
		return -ENOMEM;
	clear_servers(c);
	c->server_port = port;
	return add_server(c, host);
}

const char *config_usage(enum prog_kind prog)
{
	if (prog == PROG_SERVER)
		return "usage: ssserver [-c config.json] [-s host] -p port -k password -m method\n"
		       "       [-t timeout] [-d nameserver] [-a user] [-u|-U] [-6] [-v]\n"
		       "       [--fast-open] [--reuse-port] [--no-delay] [--bpf auto|on|off]\n"
		       "       [--workers N] [--server-url ss://...] [--udp-max-associations N]\n"
		       "       [--tier user|splice|sockmap] [--allow-private] [--acl FILE]\n"
		       "       [--handshake-timeout S] [--max-connections N]\n"
		       "       [--replay-capacity N] [--replay-fp P]\n";
	return "usage: sslocal [-c config.json] -s host -p port -k password -m method\n"
	       "       [-b local_address] [-l local_port] [-t timeout] [-L host:port]\n"
	       "       [--mode socks|tunnel|redir] [-d nameserver] [-a user] [-u|-U] [-6] [-v]\n"
	       "       [--fast-open] [--reuse-port] [--no-delay] [--bpf auto|on|off]\n"
	       "       [--workers N] [--server-url ss://...]\n"
	       "       [--socks5-username U --socks5-password P] [--udp-max-associations N]\n"
	       "       [--relay -L upstream:port] [--tier user|splice|sockmap]\n"
	       "       [--handshake-timeout S] [--max-connections N]\n"
	       "       redir: [--steer CIDR,...] [--steer-ports P,P-Q,...] [--exclude CIDR,...]\n"
	       "              [--fwmark N] [--route-table N]\n";
}

enum {
	OPT_FAST_OPEN = 256, OPT_REUSE_PORT, OPT_NO_DELAY, OPT_BPF, OPT_WORKERS,
	OPT_SERVER_URL, OPT_MODE, OPT_SOCKS_USER, OPT_SOCKS_PASS, OPT_PLUGIN,
	OPT_PLUGIN_OPTS, OPT_MANAGER, OPT_UDP_MAX, OPT_RELAY, OPT_TIER, OPT_ALLOW_PRIVATE,
	OPT_ACL, OPT_HS_TIMEOUT, OPT_MAX_CONNS, OPT_REPLAY_CAP, OPT_REPLAY_FP,
	OPT_STEER, OPT_STEER_PORTS, OPT_EXCLUDE, OPT_FWMARK, OPT_ROUTE_TABLE,
};

static const struct option long_opts[] = {
	{ "fast-open", no_argument, NULL, OPT_FAST_OPEN },
	{ "reuse-port", no_argument, NULL, OPT_REUSE_PORT },
	{ "no-delay", no_argument, NULL, OPT_NO_DELAY },
	{ "bpf", required_argument, NULL, OPT_BPF },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "server-url", required_argument, NULL, OPT_SERVER_URL },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "socks5-username", required_argument, NULL, OPT_SOCKS_USER },
	{ "socks5-password", required_argument, NULL, OPT_SOCKS_PASS },
	{ "plugin", required_argument, NULL, OPT_PLUGIN },
	{ "plugin-opts", required_argument, NULL, OPT_PLUGIN_OPTS },
	{ "manager-address", required_argument, NULL, OPT_MANAGER },
	{ "udp-max-associations", required_argument, NULL, OPT_UDP_MAX },
	{ "relay", no_argument, NULL, OPT_RELAY },
	{ "allow-private", no_argument, NULL, OPT_ALLOW_PRIVATE },
	{ "acl", required_argument, NULL, OPT_ACL },
	{ "handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "replay-capacity", required_argument, NULL, OPT_REPLAY_CAP },
	{ "replay-fp", required_argument, NULL, OPT_REPLAY_FP },
	{ "tier", required_argument, NULL, OPT_TIER },
	{ "steer", required_argument, NULL, OPT_STEER },
	{ "steer-ports", required_argument, NULL, OPT_STEER_PORTS },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "fwmark", required_argument, NULL, OPT_FWMARK },
	{ "route-table", required_argument, NULL, OPT_ROUTE_TABLE },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};
static const char short_opts[] = ":c:s:p:k:m:l:b:t:L:d:a:uU6vh";

static int validate(struct ss_config *c, char *err, size_t err_len)
{
	const char *why;
	const struct ss_method *m;

	if (c->relay) {
		/* A transit node holds no key: bytes pass unchanged to -L. */
		if (!c->tunnel_address)
			return errf(err, err_len, "--relay needs -L host:port (the upstream ssserver)");
		if (c->mode != MODE_TCP_ONLY)
			return errf(err, err_len, "--relay relays TCP only");
		if (set_str(&c->method, "none") || (!c->password && set_str(&c->password, "")))
			return -ENOMEM;
	}
	if (!c->method)
		return errf(err, err_len, "no method given (-m or \"method\")");
	if (!(m = crypto_method_find(c->method, &why)))
		return errf(err, err_len, "method \"%s\": %s", c->method, why);
	if (!c->password && m->id != SS_M_NONE)
		return errf(err, err_len, "no password given (-k or \"password\")");
	if (!c->password && set_str(&c->password, ""))
		return -ENOMEM;
	if (!c->server_port && !c->relay)
		return errf(err, err_len, "no server port given (-p or \"server_port\")");
	if (c->prog == PROG_LOCAL) {
		if (!c->nservers && !c->relay)
			return errf(err, err_len, "no server given (-s or \"server\")");
		if (c->tunnel_address && c->local_mode == LOCAL_SOCKS)
			c->local_mode = LOCAL_TUNNEL;
		if (c->local_mode == LOCAL_TUNNEL) {
			char host[300];
			int port;

			if (!c->tunnel_address)
				return errf(err, err_len, "tunnel mode needs -L host:port");
			if (config_split_hostport(c->tunnel_address, host, sizeof(host), &port))
				return errf(err, err_len, "tunnel address \"%s\" must be host:port",
					    c->tunnel_address);
		}
		if (c->local_mode == LOCAL_REDIR) {
			struct steer_spec spec;
			char serr[200];

			if ((c->steer_ports || c->exclude) && !c->steer)
				return errf(err, err_len, "--steer-ports and --exclude need --steer");
			if (steer_parse(&spec, c->steer ? c->steer : "", c->exclude, c->steer_ports,
					serr, sizeof(serr)))
				return errf(err, err_len, "%s", serr);
			/* TPROXY delivers to the port on any address of the gateway. */
			if (!c->local_address && set_str(&c->local_address, "::"))
				return -ENOMEM;
		} else if (c->steer || c->steer_ports || c->exclude) {
			return errf(err, err_len, "--steer, --steer-ports and --exclude are for redir mode");
		}
		if (!!c->socks_user != !!c->socks_pass)
			return errf(err, err_len,
				    "SOCKS5 authentication needs both a username and a password");
		if (c->socks_user && (strlen(c->socks_user) > 255 || strlen(c->socks_pass) > 255))
			return errf(err, err_len, "SOCKS5 username and password are limited to 255 bytes");
		if (!c->local_address && set_str(&c->local_address, "127.0.0.1"))
			return -ENOMEM;
		if (!c->local_port)
			c->local_port = 1080;
	} else if (!c->nservers && add_server(c, "0.0.0.0")) {
		return -ENOMEM;
	}
	return 0;
}

int config_load(struct ss_config *c, enum prog_kind prog, int argc, char **argv, char *err,
		size_t err_len)
{
	int opt, r;

	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->timeout = 60;
	c->workers = 0; /* one per CPU */
	c->mode = MODE_TCP_ONLY;
	c->udp_max_associations = 4096;
	c->handshake_timeout = 30;
	c->replay_capacity = 1000000;
	c->replay_fp = 1e-6;
	c->fwmark = STEER_DEFAULT_MARK;
	c->route_table = STEER_DEFAULT_TABLE;

	/* First pass: only the config file, so that flags override it. */
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1)
		if (opt == 'c' && set_str(&c->config_path, optarg))
			return -ENOMEM;
	if (c->config_path && (r = load_file(c, c->config_path, err, err_len)))
		return r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'c':
			break;
		case 's':
			clear_servers(c);
			r = add_server(c, optarg);
			break;
		case 'p':
			if (parse_int(optarg, 1, 65535, &c->server_port))
				return errf(err, err_len, "-p: \"%s\" is not a port number", optarg);
			break;
		case 'l':
			if (parse_int(optarg, 1, 65535, &c->local_port))
				return errf(err, err_len, "-l: \"%s\" is not a port number", optarg);
			break;
		case 't':
			if (parse_int(optarg, 1, INT_MAX, &c->timeout))
				return errf(err, err_len, "-t: \"%s\" is not a positive number of seconds",
					    optarg);
			break;
		case 'k': r = set_str(&c->password, optarg); break;
		case 'm': r = set_str(&c->method, optarg); break;
		case 'b': r = set_str(&c->local_address, optarg); break;
		case 'L': r = set_str(&c->tunnel_address, optarg); break;
		case 'd': r = set_str(&c->nameserver, optarg); break;
		case 'a': r = set_str(&c->user, optarg); break;
		case 'u': c->mode = MODE_TCP_AND_UDP; break;
		case 'U': c->mode = MODE_UDP_ONLY; break;
		case '6': c->ipv6_first = true; break;
		case 'v': c->verbose++; break;
		case 'h':
			fputs(config_usage(prog), stdout);
			return 1;
		case OPT_FAST_OPEN: c->fast_open = true; break;
		case OPT_REUSE_PORT: c->reuse_port = true; break;
		case OPT_NO_DELAY: c->no_delay = true; break;
		case OPT_BPF:
			if (set_bpf(c, optarg))
				return errf(err, err_len, "--bpf: \"%s\" is not auto, on or off", optarg);
			break;
		case OPT_WORKERS:
			if (parse_int(optarg, 1, 1024, &c->workers))
				return errf(err, err_len, "--workers: \"%s\" is not 1-1024", optarg);
			break;
		case OPT_SERVER_URL:
			if ((r = config_apply_url(c, optarg, err, err_len)))
				return r;
			break;
		case OPT_MODE:
			if (prog != PROG_LOCAL || set_local_mode(c, optarg))
				return errf(err, err_len, "--mode: \"%s\" is not socks, tunnel or redir",
					    optarg);
			break;
		case OPT_UDP_MAX:
			if (parse_int(optarg, 1, 1 << 20, &c->udp_max_associations))
				return errf(err, err_len, "--udp-max-associations: \"%s\" is not 1-1048576",
					    optarg);
			break;
		case OPT_RELAY:
			if (prog != PROG_LOCAL)
				return errf(err, err_len, "--relay is an sslocal option");
			c->relay = true;
			break;
		case OPT_ALLOW_PRIVATE:
		case OPT_ACL:
			if (prog != PROG_SERVER)
				return errf(err, err_len, "--allow-private and --acl are ssserver options");
			if (opt == OPT_ALLOW_PRIVATE)
				c->allow_private = true;
			else
				r = set_str(&c->acl, optarg);
			break;
		case OPT_HS_TIMEOUT:
			if (parse_int(optarg, 1, 86400, &c->handshake_timeout))
				return errf(err, err_len, "--handshake-timeout: \"%s\" is not 1-86400 seconds",
					    optarg);
			break;
		case OPT_MAX_CONNS:
			if (parse_int(optarg, 1, 1 << 24, &c->max_connections))
				return errf(err, err_len, "--max-connections: \"%s\" is not a positive number",
					    optarg);
			break;
		case OPT_REPLAY_CAP:
			if (parse_int(optarg, 16, 1 << 28, &c->replay_capacity))
				return errf(err, err_len, "--replay-capacity: \"%s\" is not 16-268435456",
					    optarg);
			break;
		case OPT_REPLAY_FP: {
			char *end;

			c->replay_fp = strtod(optarg, &end);
			if (*end || !(c->replay_fp > 0 && c->replay_fp < 1))
				return errf(err, err_len, "--replay-fp: \"%s\" is not between 0 and 1", optarg);
			break;
		}
		case OPT_TIER:
			if (!strcmp(optarg, "user"))
				c->tier = TIER_USER;
			else if (!strcmp(optarg, "splice"))
				c->tier = TIER_SPLICE;
			else if (!strcmp(optarg, "sockmap"))
				c->tier = TIER_SOCKMAP;
			else
				return errf(err, err_len, "--tier: \"%s\" is not user, splice or sockmap",
					    optarg);
			break;
		case OPT_STEER:
		case OPT_STEER_PORTS:
		case OPT_EXCLUDE:
			if (prog != PROG_LOCAL)
				return errf(err, err_len, "--steer, --steer-ports and --exclude are sslocal options");
			r = set_str(opt == OPT_STEER ? &c->steer :
				    opt == OPT_EXCLUDE ? &c->exclude : &c->steer_ports, optarg);
			break;
		case OPT_FWMARK:
		case OPT_ROUTE_TABLE: {
			char *end;
			long v = strtol(optarg, &end, 0);

			if (*end || v < 1 || v > 0x7fffffff ||
			    (opt == OPT_ROUTE_TABLE && v >= 253 && v <= 255))
				return errf(err, err_len, "%s: \"%s\" is not %s",
					    opt == OPT_FWMARK ? "--fwmark" : "--route-table", optarg,
					    opt == OPT_FWMARK ? "a positive mark" :
					    "a table number (not 253-255)");
			*(opt == OPT_FWMARK ? &c->fwmark : &c->route_table) = (int)v;
			break;
		}
		case OPT_SOCKS_USER: r = set_str(&c->socks_user, optarg); break;
		case OPT_SOCKS_PASS: r = set_str(&c->socks_pass, optarg); break;
		case OPT_PLUGIN:
		case OPT_PLUGIN_OPTS:
			return errf(err, err_len, "SIP003 plugins are not supported yet");
		case OPT_MANAGER:
			return errf(err, err_len, "--manager-address is not supported yet");
		case ':':
			return errf(err, err_len, "option %s needs a value", argv[optind - 1]);
		default:
			return errf(err, err_len, "unknown option %s", argv[optind - 1]);
		}
		if (r)
			return r;
	}
	if (optind < argc)
		return errf(err, err_len, "unexpected argument \"%s\"", argv[optind]);
	return validate(c, err, err_len);
}

void config_free(struct ss_config *c)
{
	clear_servers(c);
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
	free(c->steer);
	free(c->steer_ports);
	free(c->exclude);
	memset(c, 0, sizeof(*c));
}
