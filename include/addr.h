/* SPDX-License-Identifier: MIT */
#ifndef SS_ADDR_H
#define SS_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"

/* SOCKS5 / shadowsocks address types (RFC 1928 section 5). */
enum { SS_ATYP_IPV4 = 1, SS_ATYP_DOMAIN = 3, SS_ATYP_IPV6 = 4 };
#define SS_ADDR_MAX (1 + 1 + 255 + 2)

struct ss_addr {
	uint8_t atyp;
	uint8_t host_len;       /* domain only */
	uint16_t port;          /* host order */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		char host[256];  /* NUL-terminated domain */
	};
};

/*
 * Parses ATYP + address + port from buf. SS_OK with *consumed set, SS_AGAIN
 * when buf ends early, SS_ERR_ATYP for an unknown type, SS_ERR for a domain of
 * length 0 or one that contains a NUL byte.
 */
int addr_parse(const uint8_t *buf, size_t len, struct ss_addr *a, size_t *consumed);
/* Encodes a into out; returns the length or SS_ERR_SPACE / SS_ERR. */
int addr_encode(const struct ss_addr *a, uint8_t *out, size_t cap);
/* Numeric address from a sockaddr (AF_INET / AF_INET6); 0 or -EAFNOSUPPORT. */
int addr_from_sockaddr(struct ss_addr *a, const struct sockaddr *sa);
/*
 * Fills an ss_addr from "host" and a port: IPv4/IPv6 literals become numeric,
 * anything else a domain. Returns 0 or -EINVAL (empty or over 255 bytes).
 */
int addr_from_host(struct ss_addr *a, const char *host, uint16_t port);
/* Converts a numeric ss_addr to a sockaddr; returns its length or -EINVAL. */
int addr_to_sockaddr(const struct ss_addr *a, struct sockaddr_storage *ss);
/* "1.2.3.4:80", "[::1]:80" or "example.com:80" into buf (at least 300 bytes). */
const char *addr_str(const struct ss_addr *a, char *buf, size_t len);
const char *sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

/* sockaddr_storage helpers (IPv4 or IPv6). */
const char *ss_sa_str(const struct sockaddr_storage *sa, char *buf, size_t len);
/* FNV-1a over the address and port. */
unsigned ss_sa_hash(const struct sockaddr_storage *sa);
bool ss_sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* Dual-stack sockets: IPv4 peers travel as ::ffff:a.b.c.d. */
socklen_t ss_sa_to_v6(const struct sockaddr_storage *in, struct sockaddr_in6 *out);
void ss_sa_from_v6(const struct sockaddr_storage *in, struct sockaddr_storage *out);
bool ss_sa_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
uint16_t ss_sa_port(const struct sockaddr_storage *a);
void ss_sa_set_port(struct sockaddr_storage *a, uint16_t port);
socklen_t ss_sa_len(const struct sockaddr_storage *a);

#endif
