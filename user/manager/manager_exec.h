/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_EXEC_H
#define SS_MANAGER_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "manager_cmd.h"

struct ss_config;

/* The port's own config file DIR/PORT.json (mode 0600: the password stays out of ps); 0 or -errno. */
int mgr_write_conf(const char *dir, const struct ss_config *cfg, const struct mgr_cmd *c, char *path,
		   size_t cap);
/*
 * In the forked child: execs exe with the port's file and ssmanager's
 * options (shared: the file of every shared port, with --bpf-ports); never returns.
 */
_Noreturn void mgr_exec_server(const char *exe, const struct ss_config *cfg, const struct mgr_cmd *c,
			       const char *conf, bool shared);
/* A removed port's replay filter and salt window files go with it. */
void mgr_forget_port(int port);

#endif
