/* SPDX-License-Identifier: MIT */
#ifndef SS_OPTIONS_ROWS_H
#define SS_OPTIONS_ROWS_H

#include <stddef.h>

/* The rows of the option table (options_table.c), read by options.c only. */
enum opt_type {
	OT_STR,      /* a string */
	OT_INT,      /* an integer in [lo, hi] */
	OT_TABLE,    /* a routing table number, not 253-255 (reserved) */
	OT_BOOL,     /* true/false; a flag without value sets it */
	OT_ENUM,     /* one of names[] (a JSON boolean means on/off) */
	OT_CONST,    /* a flag without value that sets the field to lo */
	OT_COUNT,    /* a flag without value that counts (-v -v) */
	OT_LIST,     /* "a,b" or ["a", "b"], kept comma-separated */
	OT_CAPTURE,  /* OT_LIST whose items may be {"cgroup": C, "netns": N}, kept as C@N */
	OT_SERVERS,  /* a host, or a list of hosts (JSON) */
	OT_PORTS,    /* a port, or a list of ports (JSON): several with one password */
	OT_FRACTION, /* a number strictly between 0 and 1 */
	OT_URL,      /* a SIP002 ss:// URI */
	OT_ARGS,     /* a JSON array of strings (plugin_args) */
	OT_PORTMAP,  /* port_password, servers, users: config_ports.c */
	OT_IGNORED,  /* a key of libev or the Python original with no meaning here */
	OT_LATER,    /* a shadowsocks option this build does not implement yet */
};

struct enum_name {
	const char *name;
	int value;
};

struct option_desc {
	const char *key;  /* JSON key, or NULL */
	const char *lng;  /* long flag without "--", or NULL */
	char shrt;        /* short flag, or 0 */
	enum opt_type type;
	long lo, hi;
	size_t off;
	unsigned progs;   /* bit per prog_kind */
	const char *desc; /* what a valid value is, for errors */
	const struct enum_name *names;
	const char *arg;  /* the value's name in help and man pages */
	const char *help; /* one sentence for help and man pages; NULL: a synonym, not listed */
	unsigned libev;   /* programs that take it only because libev's lists it: warned as unused */
};

extern const struct option_desc option_rows[];
extern const size_t option_nrows;
extern const struct enum_name option_bpf_names[];

#endif
