/* SPDX-License-Identifier: MIT */
#ifndef SS_CONN_VIEW_H
#define SS_CONN_VIEW_H

#include <stdbool.h>
#include <stdint.h>

struct ctx;
struct sbuf;

/*
 * The live connections of a worker as the control socket shows them: one
 * JSON object per connection ({"id", "worker", "client", "target",
 * "target_addr", "stage", "tier_up", "tier_down", "bytes_up", "bytes_down",
 * "age_s", "idle_s", "user"}), comma-separated after the first (*first).
 */
void conn_view_rows(struct ctx *p, struct sbuf *out, bool *first);
/* Closes connection id, logging who asked; 0 or -ENOENT. */
int conn_view_kill(struct ctx *p, uint64_t id, const char *who);

#endif
