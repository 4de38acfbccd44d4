/* SPDX-License-Identifier: MIT */
#ifndef SS_REPLAY_FILE_H
#define SS_REPLAY_FILE_H

#include <stddef.h>

#include "config.h"
#include "replay.h"
#include "salt_window.h"

/*
 * The replay filter (and ssserver's SIP022 salt window, in PATH.sip022)
 * across restarts and crashes: it lives in a shared
 * mapping of its file (sparse: blocks are allocated as bits are set), so
 * every salt is in the page cache the moment it is added and survives
 * SIGKILL, an OOM kill or a crash of the whole tree; replay_file_sync writes
 * it to disk every REPLAY_SYNC_S and at exit, which bounds what a power cut
 * can lose.
 */

/*
 * replay_layout, then the file at path mapped (made, or replaced when it
 * holds something else). 1: the filter in the file was kept; 0: it starts
 * empty (*why says why when a file was replaced); -errno.
 */
int replay_file_open(struct replay *r, size_t capacity, double fp, const char *path,
		     const char **why);
/* The SIP022 salt window in the file at path, likewise (salt_window.h). */
int salt_file_open(struct salt_window **sp, const char *path, const char **why);
/*
 * In memory only (--replay-file off, or a file it cannot use): the filter and
 * the salt window in memfd mappings, so that an upgrade's successor maps the
 * same memory (replay_mem_pass in the child before exec: the fds from fd
 * `from` up, named in the environment). 1: kept from the predecessor; 0:
 * starts empty; -errno.
 */
int replay_mem_open(struct replay *r, size_t capacity, double fp);
int salt_mem_open(struct salt_window **sp);
void replay_mem_pass(int from);
/* Seconds between writes to disk. */
#define REPLAY_SYNC_S 10
/* Writes the filter's and the salt window's (sp may be NULL) dirty pages to disk; logs a failure. */
void replay_file_sync(const struct ss_config *cfg, const struct replay *r,
		      const struct salt_window *sp);
/*
 * The default file: $STATE_DIRECTORY or /var/lib/ssbpf, then PROG-NAME.replay
 * for a config file NAME.json (one file per configured instance, whatever
 * its ports), or PROG-PORT.replay for a command line alone.
 */
void replay_file_default(char *buf, size_t len, const char *prog, int port, const char *config);

#endif
