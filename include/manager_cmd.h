/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_CMD_H
#define SS_MANAGER_CMD_H

#include <stddef.h>
#include <stdint.h>

/*
 * The manager protocol of shadowsocks-libev and -rust, one command per
 * datagram: "add: {...}", "remove: {...}", "list", "ping", and the servers'
 * own "stat: {\"PORT\": bytes}".
 */
/* The longest password an add may set (a 2022 key is 44 characters). */
#define MGR_PASSWORD_MAX 256

enum mgr_kind { MGR_ADD, MGR_REMOVE, MGR_LIST, MGR_PING, MGR_STAT };

struct mgr_cmd {
	enum mgr_kind kind;
	int port;
	char *password, *method, *mode, *plugin, *plugin_opts; /* add, NULL when absent */
	uint64_t bytes;                                        /* stat */
	uint64_t rate_limit, data_limit;                       /* add: bytes/s, bytes; 0: none */
};

/* Parses one datagram; 0, or -EINVAL with the reason in *why (the reply is "err: " + it). */
int mgr_cmd_parse(const char *buf, size_t len, struct mgr_cmd *c, const char **why);
void mgr_cmd_free(struct mgr_cmd *c);

#endif
