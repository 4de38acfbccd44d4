/* SPDX-License-Identifier: MIT */
#ifndef SS_MANAGER_STATE_H
#define SS_MANAGER_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "loop.h"
#include "manager_auth.h"
#include "manager_cmd.h"
#include "manager_shared.h"
#include "manager_upgrade.h"

/* What ssmanager holds (manager.c; its servers' upgrade in manager_upgrade.c). */
#define MGR_PORTS 1024

struct port_entry {
	int port;
	pid_t pid;
	uint64_t bytes;
	struct mgr_cmd cmd; /* what it was added with */
	struct mgr_caller owner; /* who added it: only it sees the password in list */
	bool shared;        /* served by the shared tree (pid unused) */
};

struct manager {
	struct ss_config *cfg;
	struct loop *loop;
	struct handler sock;
	char dir[64];          /* 0700 folder of the servers' config files */
	char exe[4096];        /* the ssserver next to this binary */
	struct port_entry ports[MGR_PORTS];
	int n;
	struct ctl_backend backend;
	struct ctl *ctl;
	struct metrics *metrics;
	struct mgr_auth auth;
	struct mgr_caller self; /* the ports of the config file are the operator's */
	struct mgr_shared shared; /* with BPF: the one ssserver of the ports that fit it */
	bool stopping;            /* exit: the shared tree is stopped once, not per port */
	struct mgr_upgrade up;    /* ssctl upgrade: its servers, one at a time */
};

#endif
