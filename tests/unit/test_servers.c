// SPDX-License-Identifier: MIT
/* sslocal's several servers: "servers", repeated -s and --server-url, "balancer". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

/* sslocal with a config file holding doc and the extra flags. */
static int local(struct ss_config *c, const char *doc, char **extra, int nextra, const char **err)
{
	char path[] = "/tmp/ssbpf-unit-XXXXXX";
	char *argv[16] = { "sslocal", "-c", path };
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, doc, strlen(doc)) != (ssize_t)strlen(doc))
		return -EIO;
	close(fd);
	for (int i = 0; i < nextra && i < 12; i++)
		argv[3 + i] = extra[i];
	r = config_load(c, PROG_LOCAL, 3 + nextra, argv, err);
	unlink(path);
	return r;
}

TEST(sslocal_servers_list_each_with_its_own_key)
{
	const char *doc =
		"{\"servers\": [{\"server\": \"10.0.0.1\", \"server_port\": 8388, \"method\": "
		"\"aes-128-gcm\", \"password\": \"a\"}, {\"server\": \"10.0.0.2\", \"server_port\": "
		"8389, \"method\": \"chacha20-ietf-poly1305\", \"password\": \"b\", \"remarks\": \"b\"}, "
		"{\"server\": \"10.0.0.3\", \"server_port\": 1, \"password\": \"c\", \"disabled\": true}], "
		"\"balancer\": {\"mode\": \"fallback\", \"check_interval\": 3, \"max_server_rtt\": 0.5, "
		"\"check_target\": \"10.9.9.9:80\"}}";
	struct ss_config c;
	const char *err = "";

	CHECK_EQ(local(&c, doc, NULL, 0, &err), 0);
	CHECK_EQ(c.nupstreams, 2);
	CHECK(!strcmp(c.upstreams[0].host, "10.0.0.1") && c.upstreams[0].port == 8388);
	CHECK(!strcmp(c.upstreams[1].method, "chacha20-ietf-poly1305") &&
	      !strcmp(c.upstreams[1].password, "b"));
	CHECK_EQ(c.balance, BALANCE_FALLBACK);
	CHECK_EQ(c.check_interval, 3);
	CHECK_EQ(c.max_server_rtt, 500);
	CHECK(!strcmp(c.check_target, "10.9.9.9:80"));
	/* The first server stands in for the top-level keys (the log line, the steering). */
	CHECK(!strcmp(c.method, "aes-128-gcm") && c.server_port == 8388);
	config_free(&c);
}

TEST(sslocal_servers_from_flags_and_refusals)
{
	char *urls[] = { "--server-url", "ss://YWVzLTEyOC1nY206YQ@10.0.0.1:8388", "--server-url",
			 "ss://chacha20-ietf-poly1305:b@[fd00::2]:8389" };
	char *hosts[] = { "-s", "10.0.0.1", "-s", "10.0.0.2", "-p", "8388", "-m", "aes-256-gcm",
			  "-k", "x" };
	struct ss_config c;
	const char *err = "";

	CHECK_EQ(local(&c, "{}", urls, 4, &err), 0);
	CHECK_EQ(c.nupstreams, 2);
	CHECK(!strcmp(c.upstreams[0].method, "aes-128-gcm") && !strcmp(c.upstreams[0].password, "a"));
	CHECK(!strcmp(c.upstreams[1].host, "fd00::2") && c.upstreams[1].port == 8389);
	config_free(&c);
	CHECK_EQ(local(&c, "{}", hosts, 10, &err), 0);
	CHECK_EQ(c.nupstreams, 2);
	CHECK(!strcmp(c.upstreams[1].host, "10.0.0.2") && c.upstreams[1].port == 8388);
	CHECK(!strcmp(c.upstreams[1].method, "aes-256-gcm"));
	config_free(&c);
	/* A server without a method, every one disabled, a bad mode, a plugin per server. */
	CHECK(local(&c, "{\"servers\": [{\"server\": \"a\", \"server_port\": 1, \"method\": \"aes-128-gcm\", "
		   "\"password\": \"x\"}, {\"server\": \"b\", \"server_port\": 2, \"password\": \"y\"}], "
		   "\"method\": null}", NULL, 0, &err) != 0);
	config_free(&c);
	CHECK(local(&c, "{\"servers\": [{\"server\": \"a\", \"server_port\": 1, \"disabled\": true}]}",
		    NULL, 0, &err) != 0);
	CHECK(strstr(err, "disabled") != NULL);
	config_free(&c);
	CHECK(local(&c, "{\"server\": \"a\", \"server_port\": 1, \"method\": \"aes-128-gcm\", "
		    "\"password\": \"x\", \"balancer\": {\"mode\": \"fastest\"}}", NULL, 0, &err) != 0);
	CHECK(strstr(err, "mode") != NULL);
	config_free(&c);
	CHECK(local(&c, "{\"servers\": [{\"server\": \"a\", \"server_port\": 1, \"method\": "
		    "\"aes-128-gcm\", \"password\": \"x\", \"plugin\": \"obfs-local\"}]}", NULL, 0,
		    &err) != 0);
	CHECK(strstr(err, "plugin") != NULL);
	config_free(&c);
}
