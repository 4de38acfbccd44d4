/* SPDX-License-Identifier: MIT */
#ifndef SS_TRAFFIC_H
#define SS_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bytes per port and per user, in memory shared by the supervisor and its
 * workers: a table of names ("8388", "8388/alice") that only the supervisor
 * adds to, and per worker a pair of counters (up, down) per name that only
 * that worker writes. The manager's "stat:" and per-user counts read it.
 */
#define TRAFFIC_SLOTS 4096
#define TRAFFIC_NAME 72

struct traffic_names {
	uint32_t n;
	char name[TRAFFIC_SLOTS][TRAFFIC_NAME];
	uint64_t spent_before[TRAFFIC_SLOTS]; /* bytes of earlier runs (data_limit), from the file */
	uint64_t data_limit[TRAFFIC_SLOTS];   /* the port's or user's own limits, for ssctl and */
	uint32_t rate_limit[TRAFFIC_SLOTS];   /* ... /metrics; 0: none */
	uint64_t handed[TRAFFIC_SLOTS];       /* an upgrade: what the successor started from */
	bool handed_over;
};

struct traffic {
	struct traffic_names *names;
	uint64_t (*bytes)[TRAFFIC_SLOTS][2]; /* [worker][slot][up, down] */
	size_t workers;
};

/* Maps the shared table for workers; 0 or -errno. */
int traffic_shared(struct traffic *t, size_t workers);
void traffic_free(struct traffic *t);
/* The slot of name, added when add is set and there is room; -1 otherwise. */
int traffic_slot(struct traffic *t, const char *name, bool add);
static inline void traffic_add(struct traffic *t, int worker, int slot, bool up, uint64_t n)
{
	if (t && t->bytes && slot >= 0)
		t->bytes[worker][slot][up ? 0 : 1] += n;
}
struct ss_key;
/*
 * n bytes under key k (a port's password or a user's): counted for the port
 * and its user. True when k's data_limit is now spent.
 */
bool traffic_add_key(struct traffic *t, int worker, const struct ss_key *k, bool up, uint64_t n);
/* Whether k's data_limit is spent (this run's bytes and earlier runs'). */
bool traffic_spent(const struct traffic *t, const struct ss_key *k);
/* What is left of k's data_limit (0: spent); UINT64_MAX without one. */
uint64_t traffic_allowance(const struct traffic *t, const struct ss_key *k);
/*
 * data_limit across restarts: what each port and user carried, kept in path
 * ("NAME BYTES" lines, written whole and renamed) and read back at start.
 */
int traffic_save(const struct traffic *t, const char *path);
/* add: the file's bytes are added to what is carried (a predecessor's last ones). */
void traffic_load(struct traffic *t, const char *path, bool add);
/*
 * An upgrade: the successor starts from the file just saved; what this
 * process counts from now on goes to PATH.add at its exit (traffic_save
 * writes that file then), which the successor adds (traffic_take_added).
 */
void traffic_hand_over(struct traffic *t, bool on);
void traffic_take_added(struct traffic *t, const char *path);
/* That file: beside the replay filter's (NAME.spent for NAME.replay); false when it is off. */
bool traffic_path(const struct ss_config *cfg, char *buf, size_t len);
struct ss_config;
/* Gives every port and user of cfg its slot ("8388", "8388/alice"); add: make new ones. */
void traffic_assign(struct traffic *tr, struct ss_config *cfg, bool add);
/* What a slot has carried towards its data_limit: this run and earlier ones. */
uint64_t traffic_spent_bytes(const struct traffic *t, int slot);
/* Up plus down of a slot, summed over the workers. */
uint64_t traffic_total(const struct traffic *t, int slot);

#endif
