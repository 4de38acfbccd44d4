// SPDX-License-Identifier: MIT
/* SOCKS5 message parsers (RFC 1928, RFC 1929): pure functions over buffers. */
#include <string.h>

#include "socks5.h"

int socks5_parse_greeting(const uint8_t *buf, size_t len, bool want_auth, uint8_t *method,
			  size_t *consumed)
{
	bool noauth = false, userpass = false;

	if (len < 1)
		return SS_AGAIN;
	if (buf[0] != SOCKS5_VER)
		return SS_ERR;
	if (len < 2 || len < 2 + (size_t)buf[1])
		return SS_AGAIN;
	for (size_t i = 0; i < buf[1]; i++) {
		noauth |= buf[2 + i] == SOCKS5_METHOD_NOAUTH;
		userpass |= buf[2 + i] == SOCKS5_METHOD_USERPASS;
	}
	if (want_auth)
		*method = userpass ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	else
		*method = noauth ? SOCKS5_METHOD_NOAUTH : SOCKS5_METHOD_NONE;
	*consumed = 2 + (size_t)buf[1];
	return SS_OK;
}

int socks5_parse_auth(const uint8_t *buf, size_t len, char *user, char *pass,
		      size_t *consumed)
{
	size_t ulen, plen;

	if (len < 1)
		return SS_AGAIN;
	if (buf[0] != 1)
		return SS_ERR;
	if (len < 2)
		return SS_AGAIN;
	ulen = buf[1];
	if (len < 2 + ulen + 1)
		return SS_AGAIN;
	plen = buf[2 + ulen];
	if (len < 3 + ulen + plen)
		return SS_AGAIN;
	memcpy(user, buf + 2, ulen);
	user[ulen] = 0;
	memcpy(pass, buf + 3 + ulen, plen);
	pass[plen] = 0;
	*consumed = 3 + ulen + plen;
	return SS_OK;
}

int socks5_parse_request(const uint8_t *buf, size_t len, uint8_t *cmd, struct ss_addr *a,
			 size_t *consumed)
{
	size_t used;
	int r;

	if (len < 1)
		return SS_AGAIN;
	if (buf[0] != SOCKS5_VER)
		return SS_ERR;
	if (len < 4)
		return SS_AGAIN;
	*cmd = buf[1];
	r = addr_parse(buf + 3, len - 3, a, &used);
	if (r == SS_OK)
		*consumed = 3 + used;
	return r;
}

size_t socks5_reply(uint8_t *out, uint8_t rep, const struct ss_addr *bound)
{
	struct ss_addr zero = { .atyp = SS_ATYP_IPV4 };
	int n;

	out[0] = SOCKS5_VER;
	out[1] = rep;
	out[2] = 0;
	if (!bound || bound->atyp == SS_ATYP_DOMAIN)
		bound = &zero;
	n = addr_encode(bound, out + 3, SS_ADDR_MAX);
	return 3 + (size_t)(n > 0 ? n : 0);
}
