/* SPDX-License-Identifier: MIT */
#ifndef SS_SOCKS5_H
#define SS_SOCKS5_H

#include <stdbool.h>

#include "addr.h"

/* RFC 1928 constants. */
enum {
	SOCKS5_VER = 5,
	SOCKS5_METHOD_NOAUTH = 0x00,
	SOCKS5_METHOD_USERPASS = 0x02,
	SOCKS5_METHOD_NONE = 0xff,
	SOCKS5_CMD_CONNECT = 1,
	SOCKS5_CMD_BIND = 2,
	SOCKS5_CMD_UDP_ASSOCIATE = 3,
	SOCKS5_REP_OK = 0x00,
	SOCKS5_REP_FAIL = 0x01,
	SOCKS5_REP_NET_UNREACH = 0x03,
	SOCKS5_REP_HOST_UNREACH = 0x04,
	SOCKS5_REP_REFUSED = 0x05,
	SOCKS5_REP_CMD_UNSUPPORTED = 0x07,
	SOCKS5_REP_ATYP_UNSUPPORTED = 0x08,
};

/*
 * Greeting: VER NMETHODS METHODS (section 3). SS_OK with *consumed and the
 * method chosen (NOAUTH, USERPASS or NONE when nothing acceptable was
 * offered); SS_AGAIN; SS_ERR when VER is not 5.
 */
int socks5_parse_greeting(const uint8_t *buf, size_t len, bool want_auth, uint8_t *method,
			  size_t *consumed);

/* RFC 1929 section 2: VER(1) ULEN UNAME PLEN PASSWD. Copies both strings. */
int socks5_parse_auth(const uint8_t *buf, size_t len, char *user, char *pass,
		      size_t *consumed);

/*
 * Request: VER CMD RSV ATYP DST.ADDR DST.PORT (section 4). SS_OK with the
 * command and address; SS_AGAIN; SS_ERR for a bad VER; SS_ERR_ATYP for an
 * unknown address type (*cmd is still set so the caller can reply 0x08).
 */
int socks5_parse_request(const uint8_t *buf, size_t len, uint8_t *cmd, struct ss_addr *a,
			 size_t *consumed);

/* Builds a reply VER REP RSV BND.ADDR BND.PORT; returns its length. */
size_t socks5_reply(uint8_t *out, uint8_t rep, const struct ss_addr *bound);

/* SOCKS4 and 4a on the same port (socks4.c). */
enum {
	SOCKS4_VER = 4,
	SOCKS4_CMD_CONNECT = 1,
	SOCKS4_GRANTED = 90,
	SOCKS4_REJECTED = 91,
};
/*
 * A SOCKS4 request, or SOCKS4a with a name: SS_OK with the command, the
 * address and *consumed; SS_AGAIN; SS_ERR (not version 4, a user ID or
 * name over 255 bytes, an empty name).
 */
int socks4_parse_request(const uint8_t *buf, size_t len, uint8_t *cmd, struct ss_addr *a,
			 size_t *consumed);
/* The 8-byte reply: request granted, or rejected. */
size_t socks4_reply(uint8_t *out, bool granted);

#endif
