// SPDX-License-Identifier: MIT
/* Address header codec: ATYP + address + port (RFC 1928 section 5, SIP004). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

int addr_parse(const uint8_t *buf, size_t len, struct ss_addr *a, size_t *consumed)
{
	size_t alen, off = 1;

	if (len < 1)
		return SS_AGAIN;
	switch (buf[0]) {
	case SS_ATYP_IPV4:
		alen = 4;
		break;
	case SS_ATYP_IPV6:
		alen = 16;
		break;
	case SS_ATYP_DOMAIN:
		if (len < 2)
			return SS_AGAIN;
		alen = buf[1];
		off = 2;
		if (alen == 0)
			return SS_ERR;
		break;
	default:
		return SS_ERR_ATYP;
	}
	if (len < off + alen + 2)
		return SS_AGAIN;
	memset(a, 0, sizeof(*a));
	a->atyp = buf[0];
	if (a->atyp == SS_ATYP_DOMAIN) {
		if (memchr(buf + off, 0, alen))
			return SS_ERR;
		memcpy(a->host, buf + off, alen);
		a->host[alen] = 0;
		a->host_len = (uint8_t)alen;
	} else if (a->atyp == SS_ATYP_IPV4) {
		memcpy(&a->v4, buf + off, 4);
	} else {
		memcpy(&a->v6, buf + off, 16);
	}
	a->port = (uint16_t)(buf[off + alen] << 8 | buf[off + alen + 1]);
	*consumed = off + alen + 2;
	return SS_OK;
}

int addr_encode(const struct ss_addr *a, uint8_t *out, size_t cap)
{
	size_t n = 0;

	switch (a->atyp) {
	case SS_ATYP_IPV4:
		if (cap < 7)
			return SS_ERR_SPACE;
		out[n++] = SS_ATYP_IPV4;
		memcpy(out + n, &a->v4, 4);
		n += 4;
		break;
	case SS_ATYP_IPV6:
		if (cap < 19)
			return SS_ERR_SPACE;
		out[n++] = SS_ATYP_IPV6;
		memcpy(out + n, &a->v6, 16);
		n += 16;
		break;
	case SS_ATYP_DOMAIN:
		if (a->host_len == 0)
			return SS_ERR;
		if (cap < (size_t)a->host_len + 4)
			return SS_ERR_SPACE;
		out[n++] = SS_ATYP_DOMAIN;
		out[n++] = a->host_len;
		memcpy(out + n, a->host, a->host_len);
		n += a->host_len;
		break;
	default:
		return SS_ERR_ATYP;
	}
	out[n++] = (uint8_t)(a->port >> 8);
	out[n++] = (uint8_t)a->port;
	return (int)n;
}

int addr_from_sockaddr(struct ss_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		a->atyp = SS_ATYP_IPV4;
		a->v4 = s4->sin_addr;
		a->port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		/* A dual-stack socket's IPv4 peer is an IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a->atyp = SS_ATYP_IPV4;
			memcpy(&a->v4, s6->sin6_addr.s6_addr + 12, 4);
			a->port = ntohs(s6->sin6_port);
			return 0;
		}
		a->atyp = SS_ATYP_IPV6;
		a->v6 = s6->sin6_addr;
		a->port = ntohs(s6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int addr_from_host(struct ss_addr *a, const char *host, uint16_t port)
{
	size_t n = strlen(host);

	memset(a, 0, sizeof(*a));
	a->port = port;
	if (inet_pton(AF_INET, host, &a->v4) == 1) {
		a->atyp = SS_ATYP_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a->v6) == 1) {
		a->atyp = SS_ATYP_IPV6;
		return 0;
	}
	if (n == 0 || n > 255)
		return -EINVAL;
	a->atyp = SS_ATYP_DOMAIN;
	a->host_len = (uint8_t)n;
	memcpy(a->host, host, n + 1);
	return 0;
}

int addr_to_sockaddr(const struct ss_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->atyp == SS_ATYP_IPV4) {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = a->v4;
		s4->sin_port = htons(a->port);
		return sizeof(*s4);
	}
	if (a->atyp == SS_ATYP_IPV6) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a->v6;
		s6->sin6_port = htons(a->port);
		return sizeof(*s6);
	}
	return -EINVAL;
}

const char *addr_str(const struct ss_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	switch (a->atyp) {
	case SS_ATYP_IPV4:
		inet_ntop(AF_INET, &a->v4, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
		break;
	case SS_ATYP_IPV6:
		inet_ntop(AF_INET6, &a->v6, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
		break;
	case SS_ATYP_DOMAIN:
		snprintf(buf, len, "%s:%u", a->host, a->port);
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

const char *sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	struct ss_addr a;

	if (addr_from_sockaddr(&a, sa)) {
		snprintf(buf, len, "?");
		return buf;
	}
	return addr_str(&a, buf, len);
}

/* sockaddr_storage helpers for tables keyed by peer address (the UDP relay). */

const char *ss_sa_str(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	return sockaddr_str((const struct sockaddr *)sa, buf, len);
}

unsigned ss_sa_hash(const struct sockaddr_storage *sa)
{
	const uint8_t *b = (const uint8_t *)sa;
	size_t n = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	unsigned h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

bool ss_sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* NAT sockets are dual-stack IPv6: IPv4 peers travel as ::ffff:a.b.c.d. */
socklen_t ss_sa_to_v6(const struct sockaddr_storage *in, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (in->ss_family == AF_INET6) {
		*out = *(const struct sockaddr_in6 *)in;
	} else {
		const struct sockaddr_in *s4 = (const void *)in;

		out->sin6_port = s4->sin_port;
		out->sin6_addr.s6_addr[10] = out->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	}
	return sizeof(*out);
}

void ss_sa_from_v6(const struct sockaddr_storage *in, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6 = (const void *)in;

	*out = *in;
	if (in->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (void *)out;
		uint16_t port = s6->sin6_port;
		struct in_addr a;

		memcpy(&a, &s6->sin6_addr.s6_addr[12], 4);
		memset(out, 0, sizeof(*out));
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		s4->sin_addr = a;
	}
}

bool ss_sa_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

uint16_t ss_sa_port(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port :
					       ((const struct sockaddr_in6 *)a)->sin6_port);
}

void ss_sa_set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

socklen_t ss_sa_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}
