// SPDX-License-Identifier: MIT
/*
 * SOCKS4 and SOCKS4a requests (the protocols of NEC's SOCKS 4 and its 4A
 * extension): VN=4 CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL], and the
 * 8-byte reply. Pure functions over buffers.
 */
#include <string.h>

#include "socks5.h"

int socks4_parse_request(const uint8_t *buf, size_t len, uint8_t *cmd, struct ss_addr *a,
			 size_t *consumed)
{
	const uint8_t *user, *nul, *host;

	if (len < 1)
		return SS_AGAIN;
	if (buf[0] != SOCKS4_VER)
		return SS_ERR;
	if (len < 9)
		return SS_AGAIN;
	user = buf + 8;
	if (!(nul = memchr(user, 0, len - 8)))
		return len - 8 > 255 ? SS_ERR : SS_AGAIN;
	*cmd = buf[1];
	memset(a, 0, sizeof(*a));
	a->port = (uint16_t)(buf[2] << 8 | buf[3]);
	/* 4a: DSTIP 0.0.0.x (x not 0) means a name follows the user ID. */
	if (!buf[4] && !buf[5] && !buf[6] && buf[7]) {
		size_t rest = len - (size_t)(nul + 1 - buf), n;

		host = nul + 1;
		if (!(nul = memchr(host, 0, rest)))
			return rest > 255 ? SS_ERR : SS_AGAIN;
		n = (size_t)(nul - host);
		if (!n || n > 255)
			return SS_ERR;
		a->atyp = SS_ATYP_DOMAIN;
		a->host_len = (uint8_t)n;
		memcpy(a->host, host, n);
		a->host[n] = 0;
	} else {
		a->atyp = SS_ATYP_IPV4;
		memcpy(&a->v4, buf + 4, 4);
	}
	*consumed = (size_t)(nul + 1 - buf);
	return SS_OK;
}

size_t socks4_reply(uint8_t *out, bool granted)
{
	memset(out, 0, 8);
	out[1] = granted ? SOCKS4_GRANTED : SOCKS4_REJECTED;
	return 8;
}
