// SPDX-License-Identifier: MIT
/* Steering specs for sslocal redir: prefixes, host bits, ports, exclusions, errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "steer.h"
#include "test.h"

TEST(steer_prefixes_and_ports)
{
	struct steer_spec s;
	const char *err = "";
	char buf[80];

	CHECK_EQ(steer_parse(&s, "10.1.2.3/16, ::/0,192.0.2.7", "fd00::1", "80,443,8000-8100",
			     &err), 0);
	CHECK_EQ(s.nsteer, 3);
	/* Host bits are cleared; a bare address is a host prefix. */
	CHECK(!strcmp(steer_prefix_str(&s.steer[0], buf, sizeof(buf)), "10.1.0.0/16"));
	CHECK(!strcmp(steer_prefix_str(&s.steer[1], buf, sizeof(buf)), "::/0"));
	CHECK(!strcmp(steer_prefix_str(&s.steer[2], buf, sizeof(buf)), "192.0.2.7/32"));
	CHECK_EQ(s.nexclude, 1);
	CHECK(!strcmp(steer_prefix_str(&s.exclude[0], buf, sizeof(buf)), "fd00::1/128"));
	CHECK_EQ(s.nports, 3);
	CHECK_EQ(s.ports[2].lo, 8000);
	CHECK_EQ(s.ports[2].hi, 8100);
	CHECK_EQ(steer_parse(&s, "0.0.0.0/0", NULL, NULL, &err), 0);
	CHECK_EQ(s.nports, 0);
}

TEST(steer_rejects_bad_input)
{
	static const char *const bad_prefix[] = { "10.0.0.0/33", "::/129", "10.0.0/8", "x",
						   "10.0.0.0/", "10.0.0.0/-1", "1.2.3.4/8x" };
	static const char *const bad_ports[] = { "0", "65536", "80-70", "a", "80-", "-80", "1,,x" };
	struct steer_spec s;
	const char *err = "";

	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]); i++) {
		CHECK_EQ(steer_parse(&s, bad_prefix[i], NULL, NULL, &err), -EINVAL);
		CHECK(strstr(err, "--steer") != NULL);
	}
	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		CHECK_EQ(steer_parse(&s, "0.0.0.0/0", NULL, bad_ports[i], &err), -EINVAL);
		CHECK(strstr(err, "--steer-ports") != NULL);
	}
}

TEST(steer_exclude_addr_unmaps_and_dedups)
{
	struct steer_spec s;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	const char *err = "";
	char buf[80];

	CHECK_EQ(steer_parse(&s, "0.0.0.0/0", NULL, NULL, &err), 0);
	inet_pton(AF_INET6, "::ffff:10.0.0.9", &a6.sin6_addr);
	steer_exclude_addr(&s, (struct sockaddr *)&a6);
	steer_exclude_addr(&s, (struct sockaddr *)&a6);
	CHECK_EQ(s.nexclude, 1);
	CHECK(!strcmp(steer_prefix_str(&s.exclude[0], buf, sizeof(buf)), "10.0.0.9/32"));
}
