/* SPDX-License-Identifier: MIT */
#ifndef SS_REPLAY_FILE_H
#define SS_REPLAY_FILE_H

#include <stddef.h>

#include "config.h"
#include "replay.h"

/*
 * The replay filter across restarts: saved to a file (at exit and
 * periodically, by an atomic rename, with holes for the all-zero blocks) and
 * loaded at start when its sizes match. A stream recorded before a restart
 * is then still refused after it.
 */

/* Fills r from path. 0; -ENOENT (no file); -EINVAL (corrupt or other sizes: *why). */
int replay_file_load(struct replay *r, const char *path, const char **why);
/* Writes r to path (path.tmp, fsync, rename); 0 or -errno. */
int replay_file_save(const struct replay *r, const char *path);
/* Seconds between saves. */
#define REPLAY_SAVE_S 60
/* Saves r to cfg->replay_file unless it is off or unset; logs a failure. */
void replay_file_persist(const struct ss_config *cfg, const struct replay *r);
/* The default file: $STATE_DIRECTORY or /var/lib/ssbpf, then PROG-PORT.replay. */
void replay_file_default(char *buf, size_t len, const char *prog, int port);

#endif
