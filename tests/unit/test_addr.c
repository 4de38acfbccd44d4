// SPDX-License-Identifier: MIT
/* Address header codec: every ATYP, truncation, domain bounds, bad types. */
#include <arpa/inet.h>

#include <errno.h>

#include "addr.h"
#include "test.h"

static int round_trip(const unsigned char *buf, size_t len)
{
	struct ss_addr a;
	unsigned char out[SS_ADDR_MAX];
	size_t used;
	int r = addr_parse(buf, len, &a, &used);

	if (r != SS_OK || used != len)
		return -1;
	if (addr_encode(&a, out, sizeof(out)) != (int)len || memcmp(out, buf, len))
		return -2;
	/* Every strict prefix asks for more input. */
	for (size_t i = 0; i < len; i++)
		if (addr_parse(buf, i, &a, &used) != SS_AGAIN)
			return -3;
	return 0;
}

TEST(addr_every_atyp)
{
	unsigned char v4[] = { 1, 127, 0, 0, 1, 0x1f, 0x90 };
	unsigned char v6[19] = { 4 };
	unsigned char dom[] = { 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0, 80 };
	struct ss_addr a;
	size_t used;
	char s[300];

	v6[16] = 1;
	v6[17] = 0x01;
	v6[18] = 0xbb;
	CHECK_EQ(round_trip(v4, sizeof(v4)), 0);
	CHECK_EQ(round_trip(v6, sizeof(v6)), 0);
	CHECK_EQ(round_trip(dom, sizeof(dom)), 0);
	addr_parse(v4, sizeof(v4), &a, &used);
	CHECK(strcmp(addr_str(&a, s, sizeof(s)), "127.0.0.1:8080") == 0);
	addr_parse(v6, sizeof(v6), &a, &used);
	CHECK(strcmp(addr_str(&a, s, sizeof(s)), "[::1]:443") == 0);
	addr_parse(dom, sizeof(dom), &a, &used);
	CHECK(strcmp(addr_str(&a, s, sizeof(s)), "example.com:80") == 0);
	/* Trailing bytes are left for the caller. */
	unsigned char more[sizeof(v4) + 3];
	memcpy(more, v4, sizeof(v4));
	CHECK_EQ(addr_parse(more, sizeof(more), &a, &used), SS_OK);
	CHECK_EQ(used, sizeof(v4));
}

TEST(addr_domain_length_bounds)
{
	unsigned char buf[SS_ADDR_MAX];
	struct ss_addr a;
	size_t used;

	buf[0] = 3;
	buf[1] = 0;
	buf[2] = buf[3] = 0;
	CHECK_EQ(addr_parse(buf, 4, &a, &used), SS_ERR);
	buf[1] = 255;
	memset(buf + 2, 'a', 255);
	buf[257] = 1;
	buf[258] = 2;
	CHECK_EQ(round_trip(buf, 259), 0);
	addr_parse(buf, 259, &a, &used);
	CHECK_EQ(strlen(a.host), 255);
	CHECK_EQ(a.port, 258);
	buf[10] = 0; /* NUL inside a domain */
	CHECK_EQ(addr_parse(buf, 259, &a, &used), SS_ERR);
}

TEST(addr_unknown_atyp_and_encode_errors)
{
	struct ss_addr a;
	unsigned char out[4];
	size_t used;

	for (int t = 0; t < 256; t++) {
		unsigned char buf[32];

		memset(buf, 'a', sizeof(buf));
		buf[0] = (unsigned char)t;
		buf[1] = 4;
		int r = addr_parse(buf, sizeof(buf), &a, &used);

		if (t == 1 || t == 3 || t == 4)
			CHECK_EQ(r, SS_OK);
		else
			CHECK_EQ(r, SS_ERR_ATYP);
	}
	CHECK_EQ(addr_from_host(&a, "10.1.2.3", 53), 0);
	CHECK_EQ(a.atyp, SS_ATYP_IPV4);
	CHECK_EQ(addr_encode(&a, out, sizeof(out)), SS_ERR_SPACE);
	CHECK_EQ(addr_from_host(&a, "::1", 53), 0);
	CHECK_EQ(a.atyp, SS_ATYP_IPV6);
	CHECK_EQ(addr_from_host(&a, "host.test", 53), 0);
	CHECK_EQ(a.atyp, SS_ATYP_DOMAIN);
	CHECK_EQ(addr_from_host(&a, "", 53), -EINVAL);
	a.atyp = 9;
	CHECK_EQ(addr_encode(&a, out, sizeof(out)), SS_ERR_ATYP);
}
