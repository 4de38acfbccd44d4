// SPDX-License-Identifier: MIT
/*
 * The one option table: JSON key, long flag, short flag, type, range,
 * programs, and the words help and the man pages print. Keys and flags
 * follow shadowsocks-libev, then shadowsocks-rust, then the Python original.
 */
#include <limits.h>

#include "common.h"
#include "config.h"
#include "options_rows.h"

/* The last field (libev) is written only in the rows it applies to. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define BOTH (1u << PROG_SERVER | 1u << PROG_LOCAL)
#define LOCAL (1u << PROG_LOCAL)
#define SERVER (1u << PROG_SERVER)
#define MANAGER (1u << PROG_MANAGER)
#define O(f) offsetof(struct ss_config, f)
#define PORT "a port number 1-65535"
#define TF "true or false"

static const struct enum_name mode_names[] = {
	{ "tcp_only", MODE_TCP_ONLY }, { "udp_only", MODE_UDP_ONLY },
	{ "tcp_and_udp", MODE_TCP_AND_UDP }, { 0 } };
const struct enum_name option_bpf_names[] = {
	{ "auto", BPF_AUTO }, { "on", BPF_ON }, { "true", BPF_ON }, { "off", BPF_OFF },
	{ "false", BPF_OFF }, { 0 } };
static const struct enum_name balance_names[] = {
	{ "best", BALANCE_BEST }, { "fallback", BALANCE_FALLBACK }, { "load-balance", BALANCE_ROUND },
	{ NULL, 0 },
};

static const struct enum_name protocol_names[] = {
	{ "socks", LOCAL_SOCKS }, { "socks5", LOCAL_SOCKS }, { "http", LOCAL_SOCKS }, { "tunnel", LOCAL_TUNNEL },
	{ "redir", LOCAL_REDIR }, { 0 } };
static const struct enum_name tier_names[] = {
	{ "user", TIER_USER }, { "splice", TIER_SPLICE }, { "sockmap", TIER_SOCKMAP }, { 0 } };

const struct option_desc option_rows[] = {
	{ "server", NULL, 's', OT_SERVERS, 0, 0, 0, BOTH, "a host or a list of hosts", NULL,
	  "HOST", "ssserver: the address to listen on (a list in JSON; default 0.0.0.0). "
	  "sslocal: the server to connect to." },
	{ "server_port", NULL, 'p', OT_PORTS, 1, 65535, O(server_port), BOTH,
	  "a port number 1-65535 (ssserver: or a range A-B)", NULL, "PORT",
	  "The server's port (a list in JSON: ssserver listens on each, one password). ssserver "
	  "also takes a range \"A-B\": every port of it, one password." },
	{ "password", "password", 'k', OT_STR, 0, 0, O(password), BOTH, "a string", NULL, "PASSWORD",
	  "The password the key is derived from; for a 2022 method the key itself, base64 "
	  "(see --genkey), or IDENTITY-KEY:USER-KEY for a user of a multi-user port." },
	{ "method", NULL, 'm', OT_STR, 0, 0, O(method), BOTH, "a string", NULL, "METHOD",
	  "The cipher: aes-128-gcm, aes-192-gcm, aes-256-gcm, chacha20-ietf-poly1305, "
	  "xchacha20-ietf-poly1305, 2022-blake3-aes-128-gcm, 2022-blake3-aes-256-gcm, "
	  "2022-blake3-chacha20-poly1305 (or none)." },
	{ "timeout", NULL, 't', OT_INT, 1, INT_MAX, O(timeout), BOTH, "a positive integer", NULL,
	  "SECONDS", "Seconds of idleness before a connection is closed (default 60)." },
	{ "local_address", NULL, 'b', OT_STR, 0, 0, O(local_address), LOCAL, "a string", NULL,
	  "ADDRESS", "The address sslocal listens on (default 127.0.0.1; :: in redir mode).",
	  SERVER | MANAGER },
	{ "local_port", NULL, 'l', OT_INT, 1, 65535, O(local_port), LOCAL, PORT, NULL, "PORT",
	  "The port sslocal listens on (default 1080).", SERVER | MANAGER },
	{ "key", "key", 0, OT_STR, 0, 0, O(key), BOTH, "a base64 key", NULL, "BASE64",
	  "The key itself (base64) instead of a password it is derived from (libev --key)." },
	{ "interface", "interface", 'i', OT_STR, 0, 0, O(iface), BOTH, "a network interface", NULL,
	  "IFACE", "Send connections and datagrams to targets (sslocal: to the server) through "
	  "this interface (SO_BINDTODEVICE)." },
	{ "mptcp", "mptcp", 0, OT_BOOL, 0, 0, O(mptcp), BOTH, TF, NULL, NULL,
	  "Multipath TCP on listeners and outbound connections where the kernel has it "
	  "(net.mptcp.enabled); plain TCP otherwise, with one log line." },
	{ "tcp_tproxy", NULL, 'T', OT_BOOL, 0, 0, O(tcp_tproxy), LOCAL, TF, NULL, NULL,
	  "Redir: TCP arrives by TPROXY (libev -T); always accepted here, as REDIRECT is." },
	{ "tcp_incoming_sndbuf", "tcp-incoming-sndbuf", 0, OT_INT, 1024, 1 << 30, O(in_sndbuf),
	  BOTH, "a size 1024-1073741824", NULL, "BYTES",
	  "SO_SNDBUF of accepted connections (default: the kernel's autotuning)." },
	{ "tcp_incoming_rcvbuf", "tcp-incoming-rcvbuf", 0, OT_INT, 1024, 1 << 30, O(in_rcvbuf),
	  BOTH, "a size 1024-1073741824", NULL, "BYTES", "SO_RCVBUF of accepted connections." },
	{ "tcp_outgoing_sndbuf", "tcp-outgoing-sndbuf", 0, OT_INT, 1024, 1 << 30, O(out_sndbuf),
	  BOTH, "a size 1024-1073741824", NULL, "BYTES", "SO_SNDBUF of outbound connections." },
	{ "tcp_outgoing_rcvbuf", "tcp-outgoing-rcvbuf", 0, OT_INT, 1024, 1 << 30, O(out_rcvbuf),
	  BOTH, "a size 1024-1073741824", NULL, "BYTES", "SO_RCVBUF of outbound connections." },
	{ "tunnel_address", NULL, 'L', OT_STR, 0, 0, O(tunnel_address), LOCAL, "host:port", NULL,
	  "HOST:PORT", "Tunnel mode: the target every connection goes to; with --relay, the "
	  "upstream ssserver." },
	{ "nameserver", NULL, 'd', OT_LIST, 0, 0, O(nameserver), BOTH, "a string or a list", NULL,
	  "IP[:PORT],...", "DNS servers to use instead of /etc/resolv.conf." },
	{ "dns_server", NULL, 0, OT_LIST, 0, 0, O(nameserver), BOTH, "a string or a list", NULL,
	  NULL, NULL },
	{ "user", "user", 'a', OT_STR, 0, 0, O(user), BOTH, "a user name", NULL, "USER",
	  "Run as this user once every privileged step is done." },
	{ "mode", NULL, 0, OT_ENUM, 0, 0, O(mode), BOTH, "tcp_only, udp_only or tcp_and_udp",
	  mode_names, "MODE", "tcp_only (default), udp_only or tcp_and_udp." },
	{ NULL, NULL, 'u', OT_CONST, MODE_TCP_AND_UDP, 0, O(mode), BOTH, "", NULL, NULL,
	  "Relay TCP and UDP (mode tcp_and_udp)." },
	{ NULL, NULL, 'U', OT_CONST, MODE_UDP_ONLY, 0, O(mode), BOTH, "", NULL, NULL,
	  "Relay UDP only (mode udp_only)." },
	{ "ipv6_first", NULL, '6', OT_BOOL, 0, 0, O(ipv6_first), BOTH, TF, NULL, NULL,
	  "Prefer IPv6 addresses of a resolved name." },
	{ "prefer_ipv6", NULL, 0, OT_BOOL, 0, 0, O(ipv6_first), BOTH, TF, NULL, NULL, NULL },
	{ "verbose", NULL, 'v', OT_COUNT, 0, 10, O(verbose), BOTH, "an integer 0-10", NULL, NULL,
	  "Log more (twice: every connection's stages)." },
	{ "quiet", NULL, 'q', OT_COUNT, 0, 10, O(quiet), BOTH, "an integer 0-10", NULL, NULL,
	  "Log less: warnings and errors (twice: errors only)." },
	{ "pid_file", "pid-file", 'f', OT_STR, 0, 0, O(pid_file), BOTH, "a file name", NULL,
	  "FILE", "Run in the background and write the pid to FILE." },
	{ "log_file", "log-file", 0, OT_STR, 0, 0, O(log_file), BOTH, "a file name", NULL, "FILE",
	  "Append the log to FILE instead of standard error." },
	{ "use_syslog", "syslog", 0, OT_BOOL, 0, 0, O(use_syslog), BOTH, TF, NULL, NULL,
	  "Send the log to syslog." },
	{ "nofile", NULL, 'n', OT_INT, 1, 1 << 24, O(nofile), BOTH, "an integer 1-16777216", NULL,
	  "N", "Set the open file limit to N (default: the hard limit)." },
	{ "fast_open", "fast-open", 0, OT_BOOL, 0, 0, O(fast_open), BOTH, TF, NULL, NULL,
	  "Use TCP Fast Open (RFC 7413)." },
	{ "reuse_port", "reuse-port", 0, OT_BOOL, 0, 0, O(reuse_port), BOTH, TF, NULL, NULL,
	  "Let other processes share our ports (SO_REUSEPORT with them); without it a port "
	  "another process holds stops the start (our own workers always share)." },
	{ "no_delay", "no-delay", 0, OT_BOOL, 0, 0, O(no_delay), BOTH, TF, NULL, NULL,
	  "Set TCP_NODELAY on every socket." },
	{ "bpf", "bpf", 0, OT_ENUM, 0, 0, O(bpf), BOTH, "auto, on or off", option_bpf_names,
	  "auto|on|off", "Kernel offload: auto falls back with a log line, on fails instead." },
	{ "bpf_cgroup", "bpf-cgroup", 0, OT_STR, 0, 0, O(bpf_cgroup), BOTH, "a directory", NULL,
	  "PATH", "Local shortcut: sockets of this cgroup v2 and the daemon skip loopback TCP." },
	{ "workers", "workers", 0, OT_INT, 1, 1024, O(workers), BOTH, "an integer 1-1024", NULL,
	  "N", "Worker processes (default: one per CPU)." },
	{ "server_url", "server-url", 0, OT_URL, 0, 0, 0, BOTH, "an ss:// URI", NULL, "URI",
	  "An ss:// URI (SIP002) giving method, password, server, port and plugin." },
	{ "protocol", "mode", 0, OT_ENUM, 0, 0, O(local_mode), LOCAL, "socks, http, tunnel or redir",
	  protocol_names, "socks|http|tunnel|redir",
	  "What sslocal serves (default socks: SOCKS5, SOCKS4/4a and HTTP on one port; http is the same)." },
	{ "socks5_username", "socks5-username", 0, OT_STR, 0, 0, O(socks_user), LOCAL, "a string",
	  NULL, "NAME", "Require this SOCKS5 user name (RFC 1929)." },
	{ "socks5_password", "socks5-password", 0, OT_STR, 0, 0, O(socks_pass), LOCAL, "a string",
	  NULL, "PASSWORD", "Require this SOCKS5 password (RFC 1929)." },
	{ "udp_max_associations", "udp-max-associations", 0, OT_INT, 1, 1 << 20,
	  O(udp_max_associations), BOTH, "an integer 1-1048576", NULL, "N",
	  "UDP associations kept per worker (default 4096)." },
	{ "relay", "relay", 0, OT_BOOL, 0, 0, O(relay), LOCAL, TF, NULL, NULL,
	  "Forward ciphertext unchanged to -L (a transit node without the key)." },
	{ "tier", "tier", 0, OT_ENUM, 0, 0, O(tier), BOTH, "user, splice or sockmap", tier_names,
	  "user|splice|sockmap", "Force one STREAM tier (tests, benchmarks)." },
	{ "allow_private", "allow-private", 0, OT_BOOL, 0, 0, O(allow_private), SERVER, TF, NULL,
	  NULL, "Let clients reach loopback, private and link-local targets." },
	{ "bpf_ports", "bpf-ports", 0, OT_BOOL, 0, 0, O(bpf_ports), SERVER, TF, NULL, NULL,
	  "Serve the ports through one sk_lookup program even with a single port, so that a "
	  "reload adding ports opens no socket (ssmanager's shared server runs with it)." },
	{ "acl", "acl", 0, OT_STR, 0, 0, O(acl), BOTH, "a file name", NULL, "FILE",
	  "An access control list in libev's format (sslocal: targets to bypass; ssserver: "
	  "clients to refuse and targets to block), or allow/deny CIDR lines (ssserver)." },
	{ "handshake_timeout", "handshake-timeout", 0, OT_INT, 1, 86400, O(handshake_timeout),
	  BOTH, "an integer 1-86400 (seconds)", NULL, "SECONDS",
	  "Seconds from accept to a complete request (default 30)." },
	{ "drain_timeout", "drain-timeout", 0, OT_INT, 1, 86400, O(drain_timeout), BOTH,
	  "an integer 1-86400 (seconds)", NULL, "SECONDS",
	  "After an upgrade or SIGQUIT, seconds the old process keeps its live connections "
	  "(default: the timeout)." },
	{ "first_data_wait", "first-data-wait", 0, OT_INT, 0, 10000, O(first_data_wait), LOCAL,
	  "an integer 0-10000 (milliseconds)", NULL, "MS",
	  "Milliseconds the request header waits for the client's first data (default 50)." },
	{ "max_connections", "max-connections", 0, OT_INT, 1, 1 << 24, O(max_connections), BOTH,
	  "an integer 1-16777216", NULL, "N", "Connections per worker (default: the fd limit)." },
	{ "replay_capacity", "replay-capacity", 0, OT_INT, 16, 1 << 28, O(replay_capacity), BOTH,
	  "an integer 16-268435456", NULL, "N", "Salts the replay filter remembers (default 1000000)." },
	{ "replay_fp", "replay-fp", 0, OT_FRACTION, 0, 0, O(replay_fp), BOTH,
	  "a number between 0 and 1", NULL, "P",
	  "The replay filter's false-positive rate (default 1e-6)." },
	{ "replay_file", "replay-file", 0, OT_STR, 0, 0, O(replay_file), BOTH,
	  "a file name, or off", NULL, "FILE|off",
	  "Where the replay filter outlives restarts (default /var/lib/ssbpf/PROG-NAME.replay for "
	  "a config file NAME.json, else PROG-PORT.replay)." },
	{ "steer", "steer", 0, OT_LIST, 0, 0, O(steer), LOCAL, "a string or a list", NULL,
	  "CIDR,...", "Redir: steer these destinations to sslocal itself." },
	{ "steer_ports", "steer-ports", 0, OT_LIST, 0, 0, O(steer_ports), LOCAL,
	  "a string or a list", NULL, "P,P-Q,...", "Redir: steer only these destination ports." },
	{ "exclude", "exclude", 0, OT_LIST, 0, 0, O(exclude), LOCAL, "a string or a list", NULL,
	  "CIDR,...", "Redir: never steer these destinations." },
	{ "exclude_file", "exclude-file", 0, OT_LIST, 0, 0, O(exclude_file), LOCAL,
	  "a file name or a list", NULL, "FILE,...",
	  "Redir: never steer the prefixes of these files (one per line, or ipset's add lines)." },
	{ "steer_iif", "steer-iif", 0, OT_LIST, 0, 0, O(steer_iif), LOCAL,
	  "an interface name or a list", NULL, "IFACE,...",
	  "Redir: steer only packets that come in on these (LAN) interfaces." },
	{ "capture", "capture", 0, OT_CAPTURE, 0, 0, O(capture), LOCAL,
	  "a cgroup, a list of them, or of {\"cgroup\": PATH, \"netns\": PATH}", NULL,
	  "CGROUP[@NETNS],...",
	  "Redir: capture the TCP connects and UDP sends of these cgroup v2 directories' "
	  "processes (in network namespace NETNS: a /run/netns or /proc/PID/ns/net path)." },
	{ "fwmark", "fwmark", 0, OT_INT, 1, INT_MAX, O(fwmark), LOCAL, "a positive mark", NULL,
	  "MARK", "Redir: the mark of TPROXY'd packets (nft fallback)." },
	{ "route_table", "route-table", 0, OT_TABLE, 1, INT_MAX, O(route_table), LOCAL,
	  "a table number (not 253-255)", NULL, "N", "Redir: the local-delivery routing table." },
	{ "plugin", "plugin", 0, OT_STR, 0, 0, O(plugin), BOTH, "a string", NULL, "PROGRAM",
	  "A SIP003 plugin to run (obfs-server, v2ray-plugin, ...); UDP bypasses it." },
	{ "plugin_opts", "plugin-opts", 0, OT_STR, 0, 0, O(plugin_opts), BOTH, "a string", NULL,
	  "OPTIONS", "The plugin's options (SS_PLUGIN_OPTIONS)." },
	{ "plugin_args", NULL, 0, OT_ARGS, 0, 0, O(plugin_args), BOTH, "a list of strings", NULL,
	  NULL, "Extra command-line arguments of the plugin (a JSON array of strings)." },
	{ "manager_address", "manager-address", 0, OT_STR, 0, 0, O(manager_address), SERVER,
	  "HOST:PORT or a socket path", NULL, "ADDRESS",
	  "Send \"stat: {\\\"PORT\\\": bytes}\" to this manager every 5 s (UDP HOST:PORT, or a "
	  "unix socket path)." },
	{ "executable", "executable", 0, OT_STR, 0, 0, O(executable), MANAGER, "a program", NULL,
	  "PROGRAM", "ssmanager: the ssserver to run for each port (default: the one beside it)." },
	{ "workdir", "workdir", 'D', OT_STR, 0, 0, O(workdir), MANAGER, "a directory", NULL, "DIR",
	  "ssmanager: where the ports' files go (default: a fresh directory in /tmp)." },
	{ "manager_allow", "manager-allow", 0, OT_LIST, 0, 0, O(manager_allow), MANAGER,
	  "a string or a list", NULL, "WHO,...",
	  "ssmanager: users (names or uids) and addresses (IP[/LEN]) that may send commands; "
	  "root and ssmanager's own user always may, the servers' --user may report stat." },
	{ "manager_plugins", "manager-plugins", 0, OT_LIST, 0, 0, O(manager_plugins), MANAGER,
	  "a string or a list", NULL, "PLUGIN,...",
	  "ssmanager: the plugins an add command may name (besides --plugin); none by default." },
	{ "ctl_socket", "ctl-socket", 0, OT_STR, 0, 0, O(ctl_socket), BOTH, "a path, or off", NULL,
	  "PATH|off", "The control socket for ssctl (default /run/ssbpf/PROG-PORT.sock, mode 0600)." },
	{ "metrics", "metrics", 0, OT_STR, 0, 0, O(metrics), BOTH, "HOST:PORT", NULL, "HOST:PORT",
	  "Serve Prometheus metrics at http://HOST:PORT/metrics (off by default)." },
	{ "port_password", NULL, 0, OT_PORTMAP, 0, 0, 0, SERVER, "an object", NULL, NULL,
	  "Several ports, one password each: {\"8381\": \"pw1\", \"8382\": \"pw2\"}." },
	{ "servers", NULL, 0, OT_PORTMAP, 0, 0, 0, BOTH, "a list", NULL, NULL,
	  "ssserver: several ports, each {\"server\", \"server_port\", \"password\", \"method\", "
	  "\"users\"}; sslocal: several servers, each {\"server\", \"server_port\", \"password\", "
	  "\"method\", \"disabled\"} (shadowsocks-rust)." },
	{ "balancer", NULL, 0, OT_PORTMAP, 0, 0, 0, LOCAL, "an object", NULL, NULL,
	  "How sslocal chooses a server: {\"mode\": \"best\"|\"fallback\"|\"load-balance\", "
	  "\"check_interval\": S, \"max_server_rtt\": S, \"check_target\": \"HOST:PORT\"}." },
	{ "balance", "balance", 0, OT_ENUM, 0, 0, O(balance), LOCAL, "best, fallback or load-balance",
	  balance_names, "best|fallback|load-balance",
	  "With several servers: the fastest healthy one (default), the first healthy one, or "
	  "healthy ones in turn." },
	{ "check_interval", "check-interval", 0, OT_INT, 1, 86400, O(check_interval), LOCAL,
	  "an integer 1-86400", NULL, "S", "Seconds between checks of each server (default 10)." },
	{ "check_timeout", "check-timeout", 0, OT_INT, 50, 60000, O(max_server_rtt), LOCAL,
	  "an integer 50-60000", NULL, "MS", "Milliseconds a server's check may take (default 5000)." },
	{ "check_target", "check-target", 0, OT_STR, 0, 0, O(check_target), LOCAL, "HOST:PORT", NULL,
	  "HOST:PORT", "What a check asks for through each server: an HTTP request "
	  "(default www.gstatic.com:80, /generate_204)." },
	{ "online_config", NULL, 0, OT_PORTMAP, 0, 0, 0, LOCAL, "an object", NULL, NULL,
	  "SIP008 servers from a URL: {\"config_url\": \"https://...\", \"update_interval\": S}." },
	{ "online_config_url", "online-config-url", 0, OT_STR, 0, 0, O(online_url), LOCAL,
	  "an https:// or file:// URL", NULL, "URL",
	  "Also use the servers of this SIP008 document, fetched again every update interval "
	  "and on SIGHUP." },
	{ "online_config_update_interval", "online-config-update-interval", 0, OT_INT, 1,
	  2592000, O(online_interval), LOCAL, "an integer 1-2592000", NULL, "S",
	  "Seconds between fetches of the online configuration (default 3600)." },
	{ "ca_file", "ca-file", 0, OT_STR, 0, 0, O(ca_file), LOCAL, "a path", NULL, "PATH",
	  "Certificates (PEM) that verify the online configuration's server, in place of the "
	  "system's." },
	{ "users", NULL, 0, OT_PORTMAP, 0, 0, 0, SERVER, "a list", NULL, NULL,
	  "Several users on server_port: [{\"name\": \"alice\", \"password\": \"...\"}, ...]; "
	  "each connection is matched to its user by its first chunk (2022 AES methods: by its "
	  "identity header, with \"password\" the port's identity key)." },
	/* Keys of libev and the Python original that mean nothing here: accepted, one warning. */
	{ "version", NULL, 0, OT_IGNORED, 0, 0, 0, LOCAL, "", NULL, NULL, NULL }, /* SIP008's */
	{ "bytes_used", NULL, 0, OT_IGNORED, 0, 0, 0, LOCAL, "", NULL, NULL, NULL },
	{ "bytes_remaining", NULL, 0, OT_IGNORED, 0, 0, 0, LOCAL, "", NULL, NULL, NULL },
	{ "mtu", "mtu", 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "auth", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "dscp", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "local_ipv4_address", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "local_ipv6_address", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "one_time_auth", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "tunnel_remote", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "tunnel_remote_port", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
	{ "tunnel_port", NULL, 0, OT_IGNORED, 0, 0, 0, BOTH, "", NULL, NULL, NULL },
};

const size_t option_nrows = ARRAY_SIZE(option_rows);
