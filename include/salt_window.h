/* SPDX-License-Identifier: MIT */
#ifndef SS_SALT_WINDOW_H
#define SS_SALT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * SIP022's salt store (section 3.1.4): every request salt a server accepts
 * is kept, whole, for a minute (the 30 s timestamp window either way), and
 * a salt seen within that minute is a replay. It is exact (SIP022 forbids
 * a filter with false positives), shared by every worker (made before they
 * fork, behind a process-shared robust mutex) and fixed in size: an
 * open-addressed table whose expired slots are reused, looked up within
 * SALT_WINDOW_PROBES slots. Pages are touched as salts arrive.
 *
 * It outlives the process: kept in a shared mapping of a file
 * (replay_file.h) and stamped with the wall clock, the time SIP022's
 * timestamps are checked against, so a request recorded before a restart,
 * an upgrade or a crash is still refused after it. UDP session claims carry
 * the newest packet ID their session accepted, so a session that goes on
 * across a restart is taken over with its window's floor, not replayed.
 */
#define SALT_WINDOW_SLOTS (1u << 19) /* about 4,000 new connections a second, sustained */
#define SALT_WINDOW_PROBES 64

struct salt_window;

/* A UDP session's claim. */
struct salt_claim {
	uint64_t top;    /* in: the claiming packet's ID + 1 */
	uint32_t slot;   /* out: where the claim lives */
	uint64_t floor;  /* out: packet IDs below this were accepted by an earlier process */
};

/* Bytes of the mapping salt_window_attach takes. */
size_t salt_window_len(void);
/*
 * Takes mem (salt_window_len() bytes, shared, zero or an earlier window):
 * keeps a window found there (returns 1) or starts empty (0; *why says why
 * when something else was there).
 */
int salt_window_attach(struct salt_window **out, void *mem, const char **why);
/* An empty window in anonymous shared memory; NULL on failure (errno set). */
struct salt_window *salt_window_new(void);
void salt_window_free(struct salt_window *sp);
/*
 * 0 when salt is new (it is kept from now on); SS_ERR_REPLAY when it was
 * seen within the minute; SS_ERR_FULL when there is no room for it (the
 * caller refuses the request rather than forget a salt).
 */
int salt_window_check_add(struct salt_window *sp, const uint8_t *salt, size_t len);
/*
 * SIP022 UDP: claims a client session ID for worker owner (0 .. 32767)
 * with a packet whose ID + 1 is cl->top. 0: claimed now. 1: claimed now,
 * taken over from an earlier process tree, which had accepted the packet
 * IDs below cl->floor. SS_ERR_REPLAY: claimed within the minute by *holder
 * (-1: by an earlier process tree, which had seen this packet ID); when the
 * holder is owner itself the claim is renewed for another minute (an owner
 * renews while the session lives). SS_ERR_FULL as above.
 */
int salt_window_claim(struct salt_window *sp, const uint8_t *key, size_t len, int owner,
		      int *holder, struct salt_claim *cl);
/* The owner of a claim records its session's newest packet ID + 1 (no lock: one writer). */
void salt_window_set_top(struct salt_window *sp, const struct salt_claim *cl, uint64_t top);

#endif
