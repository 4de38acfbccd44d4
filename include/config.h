/* SPDX-License-Identifier: MIT */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "addr.h"

struct ss_method;

/* ssmanager takes ssserver's options (it passes them to the servers it runs). */
enum prog_kind { PROG_SERVER, PROG_LOCAL, PROG_MANAGER };
enum ss_mode { MODE_TCP_ONLY, MODE_UDP_ONLY, MODE_TCP_AND_UDP };
enum bpf_mode { BPF_AUTO, BPF_ON, BPF_OFF };
enum local_mode { LOCAL_SOCKS, LOCAL_TUNNEL, LOCAL_REDIR };
/* STREAM-stage tier for legs that carry the same bytes (README.md, "STREAM tiers"). */
enum conn_tier { TIER_AUTO, TIER_USER, TIER_SPLICE, TIER_SOCKMAP };

#define CFG_MAX_SERVERS 8
#define CFG_MAX_PORTS 64

/* A user of a port (ssserver "users"). */
struct cfg_user {
	char *name;
	char *password;
	uint32_t rate_limit; /* bytes/s each way (SO_MAX_PACING_RATE), or 0: the port's */
	uint64_t data_limit; /* bytes up plus down, kept across restarts; 0: the port's */
	int slot; /* its traffic counters (traffic.h), set by the supervisor */
};

/* sslocal: one of its servers (servers[], repeated -s or --server-url): config_servers.c. */
struct cfg_server {
	char *host;
	int port;
	char *method, *password;
	bool raw_key; /* the password is --key: the key itself (a 2017 method) */
	bool online;  /* from the online configuration (SIP008) */
	const struct ss_method *m;
};

/* How sslocal chooses among its servers (README "Several servers"). */
enum balance_mode {
	BALANCE_BEST,     /* the healthy server with the lowest check latency */
	BALANCE_FALLBACK, /* the first healthy server of the list */
	BALANCE_ROUND,    /* healthy servers in turn (Clash's load-balance) */
};

/* A balance mode by name ("best", "fallback", "load-balance"); 0 or -EINVAL. */
int config_balance_mode(const char *name, enum balance_mode *out);
const char *config_balance_name(enum balance_mode m);

/* One port ssserver serves, with its key(s): built by config_ports_build. */
struct cfg_port {
	int port;
	int port_hi;           /* a range "A-B": its last port (port is A); else 0 */
	uint32_t rate_limit;   /* bytes/s each way for each connection, or 0: none */
	uint64_t data_limit;   /* bytes up plus down, all its users together; 0: none */
	char *server;          /* its own listen address (servers[]), or NULL: "server" */
	char *password;        /* one password, or NULL with users */
	bool disabled;         /* sslocal: "disabled": true (shadowsocks-rust) */
	bool has_plugin;       /* a plugin of its own */
	bool raw_key;          /* the password is --key: the key itself, base64 */
	char *method;          /* its own method, or NULL: "method" */
	struct cfg_user *users;
	int nusers;
	const struct ss_method *m;
	int slot; /* its traffic counters (traffic.h), set by the supervisor */
};

/* Everything a binary is told by its JSON file, its flags or an ss:// URI. */
struct ss_config {
	enum prog_kind prog;
	char *servers[CFG_MAX_SERVERS];
	int nservers;
	bool servers_from_flags; /* -s seen: a second -s adds to the list */
	int server_port;
	int server_port_hi;                 /* ssserver: "server_port": "A-B", its last port; or 0 */
	int extra_ports[CFG_MAX_PORTS - 1]; /* ssserver: "server_port": [a, b, ...] after a */
	int extra_ports_hi[CFG_MAX_PORTS - 1];
	int nextra_ports;
	char *password;
	char *method;
	int timeout; /* seconds of idleness before a connection is closed */
	char *local_address;
	int local_port;
	enum ss_mode mode;
	bool fast_open, reuse_port, no_delay, ipv6_first;
	bool port_shared; /* --reuse-port itself: other processes may join our ports */
	char *nameserver;
	char *user;
	int workers;
	enum bpf_mode bpf;
	int verbose, quiet;
	char *pid_file;        /* -f: run in the background, write the pid here */
	char *log_file;        /* append the log here instead of stderr */
	bool use_syslog;       /* --syslog */
	int nofile;            /* -n: the open file limit; 0: the hard limit */
	char *plugin;          /* SIP003 plugin program, or NULL */
	char *plugin_opts;     /* its SS_PLUGIN_OPTIONS */
	char **plugin_args;    /* extra arguments, NULL-terminated (JSON plugin_args) */
	char *ignored;         /* keys of the file that mean nothing here, for a -v note */
	char *meaningless;     /* libev's options that do nothing here: one warning at start */
	int plugin_port;       /* set at start: the loopback port to or from the plugin */

	/* ssserver: the ports as the file gave them, then as built (config_ports.h). */
	struct cfg_port *port_password; /* "port_password" entries */
	int nport_password;
	struct cfg_port *server_list;   /* "servers" entries */
	int nserver_list;
	struct cfg_user *users;         /* "users" of server_port */
	int nusers;
	struct cfg_port *ports;         /* what ssserver listens on, each with its keys */
	int nports;
	char *manager_address;          /* ssserver: send "stat:" to this manager */
	char *manager_allow;            /* ssmanager: users and addresses that may send commands */
	char *manager_plugins;          /* ssmanager: plugins an add may name */
	char *ctl_socket;               /* the control socket's path, "off", or NULL: the default */
	char *metrics;                  /* HOST:PORT of /metrics, or NULL */
	enum local_mode local_mode;
	char *tunnel_address; /* host:port for tunnel mode */
	char *socks_user, *socks_pass; /* RFC 1929, optional */
	char *config_path;
	int argc;              /* the command line, kept for a reload */
	char **argv;
	int udp_max_associations;
	bool relay;            /* sslocal --relay: forward ciphertext unchanged to -L */
	bool allow_private;    /* ssserver: lift the default target policy */
	bool bpf_ports;        /* ssserver: ports through sk_lookup even with one (ssmanager's shared tree) */
	char *acl;             /* ssserver: "allow CIDR" / "deny CIDR" file */
	char *bpf_cgroup;      /* the local shortcut: a cgroup v2 directory, or NULL */
	int handshake_timeout; /* seconds from accept to a complete request */
	int drain_timeout;     /* seconds an old process keeps its connections (0: timeout) */
	int first_data_wait;   /* sslocal: ms the header waits for the client's first data */
	int max_connections;   /* 0: only the fd limit */
	int replay_capacity;   /* salts remembered by the replay filter */
	double replay_fp;      /* its false-positive rate */
	char *replay_file;     /* where it outlives restarts; "off", or NULL: the default */
	enum conn_tier tier;   /* --tier: force a tier (tests, benchmarks) */
	char *key;             /* --key: the key itself, base64, in the password's place */
	bool raw_key;          /* password holds that key (a 2017 method: no derivation) */
	char *iface;           /* -i: outbound sockets bound to this interface */
	bool mptcp;            /* Multipath TCP on listeners and outbound connections */
	bool tcp_tproxy;       /* redir -T: always accepted (TPROXY and REDIRECT both work) */
	int in_sndbuf, in_rcvbuf, out_sndbuf, out_rcvbuf; /* SO_SNDBUF/SO_RCVBUF; 0: the kernel's */
	char *executable;      /* ssmanager: the ssserver it runs */
	char *workdir;         /* ssmanager -D: where the ports' files go */

	/* sslocal redir: what the daemon steers to itself (NULL: the user's own rules) */
	char *steer;           /* destination prefixes, comma-separated */
	char *steer_ports;     /* destination ports and ranges, comma-separated */
	char *exclude;         /* prefixes never steered */
	char *exclude_file;    /* files of such prefixes, comma-separated */
	char *steer_iif;       /* steer only packets from these interfaces, comma-separated */
	char *capture;         /* cgroups captured, "CGROUP[@NETNS]" comma-separated */
	int fwmark;            /* nft fallback: the mark of TPROXY'd packets */
	int route_table;       /* the local-delivery routing table */

	/* sslocal: its servers, built by validation, and how one is chosen. */
	struct cfg_server *upstreams;
	int nupstreams;
	char **server_urls;    /* every --server-url / "server_url" given, in order */
	int nserver_urls;
	enum balance_mode balance;
	int check_interval;    /* seconds between checks of every server (balancer.check_interval) */
	int max_server_rtt;    /* ms a check may take (balancer.max_server_rtt, seconds in JSON) */
	char *check_target;    /* host:port a check asks for through each server */
	/* sslocal: SIP008 online configuration (online_config.config_url, update_interval) */
	char *online_url;      /* https:// or file:// */
	int online_interval;   /* seconds between fetches */
	char *ca_file;         /* certificates that verify online_url's server, or NULL: the system's */
	bool online_only;      /* no server but the online ones: the first fetch completes it */

	/* Typed values, parsed once by validation. */
	const struct ss_method *m; /* the method named by method */
	struct ss_addr tunnel;     /* sslocal tunnel and relay: -L host:port */
};

/*
 * Fills c from argv (a -c file first, flags override it). On a problem
 * returns -EINVAL with one line naming it in *why; returns 1 when help was
 * printed. The caller exits with status 2 on error.
 */
int config_load(struct ss_config *c, enum prog_kind prog, int argc, char **argv, const char **why);
/* The defaults of ss-server / ss-local. */
void config_defaults(struct ss_config *c, enum prog_kind prog);
/* Applies the flags of argv (not the -c file), without validation; for tests. */
int config_apply_args(struct ss_config *c, int argc, char **argv, const char **why);
/* Applies a JSON document; used by config_load and by tests. */
int config_apply_json(struct ss_config *c, const char *text, size_t len, const char **why);
/* Splits "host:port" / "[v6]:port" into host (NUL-terminated) and port. */
/* sslocal redir: where the steering lists come from (steer.h). */
struct steer_sources;
void config_steer_sources(const struct ss_config *c, struct steer_sources *src);
/*
 * Calls fn for each capture entry of list (cfg->capture: "CGROUP[@NETNS][=URI]",
 * comma-separated; netns NULL: the daemon's own; upstream: a SIP002 URI of the
 * entry's own server, or NULL) until one returns non-zero; that value, or
 * -EINVAL with *why for an entry that is not absolute paths.
 */
int config_capture_each(const char *list, int (*fn)(void *arg, const char *cgroup,
						    const char *netns, const char *upstream),
			void *arg, const char **why);
/* An upstream of its own (a capture entry's): a SIP002 URI's parts. */
struct config_upstream {
	char host[256];
	int port;
	const struct ss_method *m;
	char password[512];
};
/* Parses uri into u; 0 or -EINVAL with *why. */
int config_upstream(const char *uri, struct config_upstream *u, const char **why);
int config_split_hostport(const char *s, char *host, size_t host_len, int *port);
/*
 * SIGHUP: the command line and file of old read again into a new
 * configuration (freed with config_free and free), keeping what cannot
 * change without a restart (workers, reuse_port, the plugin's port, the
 * replay file). NULL with one line in *why on a problem.
 */
struct ss_config *config_reload(const struct ss_config *old, const char **why);
void config_free(struct ss_config *c);
/* Shared by the option table and the URI parser. */
/*
 * Is password a usable key for method m? SIP022 methods take a base64 key
 * of their exact key length; the error says how to make one. who names
 * the key in the message ("", or "port 8388: ").
 */
int config_check_key(const struct ss_method *m, const char *password, const char *who, const char **why);
int config_set_str(char **dst, const char *v);
int config_add_server(struct ss_config *c, const char *host);
void config_server_list_free(struct cfg_server *list, int n);
/*
 * A SIP008 document (sip008.c): its servers, each checked (those with a
 * plugin left out and counted in skipped). The whole document or -EINVAL
 * with why.
 */
int sip008_parse(const char *text, size_t len, struct cfg_server **out, int *n, int *skipped,
		 const char **why);
/* The servers of the first online document join cfg's (and stand in for its keys when online_only). */
int config_online_adopt(struct ss_config *c, const struct cfg_server *list, int n,
			const char **why);
void config_clear_servers(struct ss_config *c);
void config_free_args(char **v);
/* Prints the usage and every flag of prog, from the option table. */
void config_usage(enum prog_kind prog, FILE *f);

/* config_ports.c */
/*
 * A port "N" (hi 0) or a range "A-B" (A < B, hi B) of 1-65535; 0 or -EINVAL.
 * A port's label in the log and the counters: "N" or "A-B".
 */
int config_port_range(const char *t, int *lo, int *hi);
/* The last port of p: its range's end, or the port itself. */
static inline int config_port_last(const struct cfg_port *p)
{
	return p->port_hi ? p->port_hi : p->port;
}
const char *config_port_label(const struct cfg_port *p, char *buf, size_t len);
/* Does cfg (a const struct ss_config *) serve port? (sockpool_prune's keep) */
bool config_serves_port(int port, void *cfg);

#endif
