/* SPDX-License-Identifier: MIT */
#ifndef SS_SALT_WINDOW_H
#define SS_SALT_WINDOW_H

#include <stddef.h>
#include <stdint.h>

/*
 * SIP022's salt store (section 3.1.5): every request salt a server accepts
 * is kept, whole, for a minute (the 30 s timestamp window either way), and
 * a salt seen within that minute is a replay. It is exact (SIP022 forbids
 * a filter with false positives), shared by every worker (made before they
 * fork, in shared memory, behind a process-shared mutex) and fixed in size:
 * an open-addressed table whose expired slots are reused, looked up within
 * SALT_WINDOW_PROBES slots. Pages are touched as salts arrive.
 */
#define SALT_WINDOW_SLOTS (1u << 19) /* about 4,000 new connections a second, sustained */
#define SALT_WINDOW_PROBES 64

struct salt_window;

/* NULL on failure (errno set). */
struct salt_window *salt_window_new(void);
void salt_window_free(struct salt_window *sp);
/*
 * 0 when salt is new (it is kept from now on); SS_ERR_REPLAY when it was
 * seen within the minute; SS_ERR_FULL when there is no room for it (the
 * caller refuses the request rather than forget a salt).
 */
int salt_window_check_add(struct salt_window *sp, const uint8_t *salt, size_t len);
/*
 * SIP022 UDP: claims a client session ID for worker owner (0 .. 32767). 0:
 * claimed now. SS_ERR_REPLAY: claimed within the minute by *holder; when
 * that is owner itself the claim is renewed for another minute (an owner
 * renews while the session lives). SS_ERR_FULL as above.
 */
int salt_window_claim(struct salt_window *sp, const uint8_t *key, size_t len, int owner,
		      int *holder);

#endif
