/* SPDX-License-Identifier: MIT */
#ifndef SS_SIP022_UDP_H
#define SS_SIP022_UDP_H

/*
 * SIP022 UDP packets (section 3.2; 4.1 for chacha20-poly1305). A session has
 * an 8-byte ID and a packet counter. AES methods:
 *   AES-ECB(psk, session ID | u64be packet ID) | AEAD(subkey(psk, session ID),
 *   nonce = the separate header's last 12 bytes, body)
 * chacha20-poly1305: 24-byte random nonce | XChaCha20-Poly1305(psk, session ID
 * | packet ID | body). Bodies: client to server
 *   type 0 | u64be time | u16be padding length | padding | ATYP addr port | payload
 * and server to client the same with type 1 and the client's session ID after
 * the time. What goes in and comes out here is SIP004's: address then payload.
 * Pure: no sockets, no clock beyond time(2).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define S22_SID 8
#define S22_WINDOW 1024 /* packet IDs behind the newest that may still arrive */

/* Sliding-window filter of a peer session's packet IDs (WireGuard's idea). */
struct s22_window {
	uint64_t top;                     /* newest packet ID accepted + 1; 0: none yet */
	uint64_t floor;                   /* IDs below it were seen by an earlier process */
	uint64_t bits[S22_WINDOW / 64];
};

/* A peer's session as seen from here. */
struct s22_peer {
	uint8_t sid[S22_SID];
	struct ss_cipher c;   /* AES methods: keyed by subkey(psk, sid) */
	struct s22_window win;
	uint64_t last;        /* time(2) of its last valid packet */
	bool set;
};

/* One session, on either side. */
struct s22_udp {
	const struct ss_method *m;
	uint8_t psk[SS_MAX_KEY];
	bool server;
	uint8_t sid[S22_SID];  /* our own session ID */
	uint64_t pid;          /* our next packet ID */
	struct ss_cipher out;  /* AES methods: subkey(psk, sid) */
	struct s22_peer cur;   /* the peer's session (a server knows one client session) */
	struct s22_peer old;   /* client: the server session before a restart */
	/*
	 * SIP023: sslocal puts an identity header after the separate header and
	 * encrypts that under ipsk; ssserver reads them so. Replies use psk.
	 */
	bool eih;
	uint8_t ipsk[SS_MAX_KEY];
	uint8_t uhash[16];
};

/* method.h's datagram session, for SIP022 (method_aead2022 makes them). */
struct udp_session {
	struct s22_udp s22;
};

/* Bytes a packet adds to address + payload. */
size_t s22_udp_overhead(const struct ss_method *m, bool server);
/* 0 or -errno. */
int s22_udp_init(struct s22_udp *s, const struct ss_method *m, const uint8_t *psk, bool server);
void s22_udp_free(struct s22_udp *s);
/* SIP023: packets to the server carry an identity header (client: naming uhash). */
void s22_udp_identify(struct s22_udp *s, const uint8_t *ipsk, const uint8_t *uhash);
/*
 * ssserver with users: the identity hash a packet names (the separate header
 * and the identity header decrypted under ipsk and XORed); SS_OK or SS_ERR_TRUNC.
 */
int s22_udp_peek_user(const struct ss_method *m, const uint8_t *ipsk, const uint8_t *in,
		      size_t len, uint8_t hash[16]);
/* Seals address + payload (in) into a packet for the peer; 0, SS_ERR_SPACE or -EIO. */
int s22_udp_seal(struct s22_udp *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		 size_t *out_len);
/*
 * A server's first look at a packet: its client session ID, by the PSK
 * alone. SS_OK, SS_ERR_TRUNC or (chacha20-poly1305, whose ID is inside the
 * sealed body) SS_ERR_TAG.
 */
int s22_udp_peek_sid(const struct ss_method *m, const uint8_t *psk, const uint8_t *in, size_t len,
		     uint8_t sid[S22_SID]);
/*
 * Opens a packet from the peer into out (address + payload) and checks it:
 * type, time (SS_ERR_TIME), our session ID in a server's reply, and the
 * packet ID against the window (SS_ERR_REPLAY). The window and the peer
 * session change only when every check passes. A client takes a new server
 * session (a restarted server) when the old one has been silent a minute.
 */
int s22_udp_open(struct s22_udp *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		 size_t *out_len);

/* The window alone (unit tests): may pid pass? Then mark it seen. */
bool s22_window_check(const struct s22_window *w, uint64_t pid);
void s22_window_mark(struct s22_window *w, uint64_t pid);

#endif
