// SPDX-License-Identifier: MIT
/* HTTP proxy requests and SOCKS4/4a on sslocal's port: parsing, rewriting, refusals. */
#include <string.h>

#include "http_proxy.h"
#include "socks5.h"
#include "test.h"

static int parse(const char *head, const char *cred, struct http_request *rq, char *out)
{
	return http_proxy_parse(head, strlen(head), cred, rq, out, 4096);
}

TEST(http_proxy_connect_and_absolute_form)
{
	struct http_request rq;
	char out[4096];
	const char *get = "GET http://example.com:8080/a/b?c=1 HTTP/1.1\r\n"
			  "Host: wrong.example\r\nUser-Agent: t\r\nProxy-Connection: keep-alive\r\n"
			  "Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 300\r\n"
			  "Accept: */*\r\n\r\nBODY";

	CHECK_EQ(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", NULL,
		       &rq, out), 0);
	CHECK(rq.connect && rq.target.atyp == SS_ATYP_DOMAIN && rq.target.port == 443);
	CHECK(!strcmp(rq.target.host, "example.com"));
	CHECK_EQ(parse("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n", NULL, &rq, out), 0);
	CHECK(rq.target.atyp == SS_ATYP_IPV6 && rq.target.port == 8443);
	CHECK_EQ(parse(get, NULL, &rq, out), 0);
	CHECK(!rq.connect && rq.target.port == 8080 && !strcmp(rq.target.host, "example.com"));
	CHECK_EQ(rq.head_len, strlen(get) - 4);
	out[rq.out_len] = 0;
	CHECK(!strncmp(out, "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com:8080\r\n", 47));
	CHECK(strstr(out, "User-Agent: t\r\n") && strstr(out, "Accept: */*\r\n"));
	CHECK(!strstr(out, "wrong.example") && !strstr(out, "Proxy-Connection") &&
	      !strstr(out, "X-Drop") && !strstr(out, "Keep-Alive"));
	CHECK(strstr(out, "Connection: close\r\n\r\n") == out + rq.out_len - 21);
	/* No path: "/"; port 80 by default; HTTP/1.0; bare LF line ends. */
	CHECK_EQ(parse("HEAD http://10.0.0.1 HTTP/1.0\n\n", NULL, &rq, out), 0);
	CHECK(rq.target.atyp == SS_ATYP_IPV4 && rq.target.port == 80);
	CHECK(!strncmp(out, "HEAD / HTTP/1.0\r\nHost: 10.0.0.1\r\n", 33));
}

TEST(http_proxy_refusals_and_authentication)
{
	struct http_request rq;
	char out[4096], big[HTTP_HEAD_MAX + 10];

	CHECK_EQ(parse("GET http://a/ HTTP/1.1\r\nHost: a\r\n", NULL, &rq, out), HTTP_MORE);
	CHECK_EQ(parse("GET /local HTTP/1.1\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("GET https://a/ HTTP/1.1\r\n\r\n", NULL, &rq, out), 501);
	CHECK_EQ(parse("GET http://a/ HTTP/2.0\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("CONNECT a HTTP/1.1\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("CONNECT a:99999 HTTP/1.1\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("GET http://u:p@a/ HTTP/1.1\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("GET http://a/ HTTP/1.1\r\nBad Field\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("GET http://a/ HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", NULL, &rq, out), 400);
	CHECK_EQ(parse("G@T http://a/ HTTP/1.1\r\n\r\n", NULL, &rq, out), 400);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET http://a/ HTTP/1.1\r\nX: ", 27);
	CHECK_EQ(http_proxy_parse(big, sizeof(big), NULL, &rq, out, sizeof(out)), 431);
	/* Basic: "user:pass" is dXNlcjpwYXNz. */
	CHECK_EQ(parse("CONNECT a:1 HTTP/1.1\r\n\r\n", "dXNlcjpwYXNz", &rq, out), 407);
	CHECK_EQ(parse("CONNECT a:1 HTTP/1.1\r\nProxy-Authorization: Basic eA==\r\n\r\n",
		       "dXNlcjpwYXNz", &rq, out), 407);
	CHECK_EQ(parse("CONNECT a:1 HTTP/1.1\r\nproxy-authorization: basic dXNlcjpwYXNz\r\n\r\n",
		       "dXNlcjpwYXNz", &rq, out), 0);
	CHECK(http_proxy_status(407, out, sizeof(out)) > 0 &&
	      strstr(out, "Proxy-Authenticate: Basic") != NULL);
	CHECK(http_proxy_status(200, out, sizeof(out)) > 0 &&
	      !strcmp(out, "HTTP/1.1 200 Connection established\r\n\r\n"));
}

TEST(socks4_and_4a_requests)
{
	const uint8_t v4[] = { 4, 1, 0x1f, 0x90, 10, 0, 0, 1, 'u', 0, 'x' };
	const uint8_t v4a[] = { 4, 1, 0, 80, 0, 0, 0, 9, 0, 'e', '.', 'c', 'o', 'm', 0 };
	struct ss_addr a;
	uint8_t cmd, rep[8];
	size_t used;

	CHECK_EQ(socks4_parse_request(v4, sizeof(v4), &cmd, &a, &used), SS_OK);
	CHECK(cmd == 1 && a.atyp == SS_ATYP_IPV4 && a.port == 8080 && used == 10);
	CHECK_EQ(socks4_parse_request(v4a, sizeof(v4a), &cmd, &a, &used), SS_OK);
	CHECK(a.atyp == SS_ATYP_DOMAIN && !strcmp(a.host, "e.com") && used == sizeof(v4a));
	CHECK_EQ(socks4_parse_request(v4a, 12, &cmd, &a, &used), SS_AGAIN);
	CHECK_EQ(socks4_parse_request(v4, 8, &cmd, &a, &used), SS_AGAIN);
	CHECK_EQ(socks4_parse_request((const uint8_t *)"\x05\x01", 2, &cmd, &a, &used), SS_ERR);
	CHECK_EQ(socks4_reply(rep, true), 8u);
	CHECK(rep[0] == 0 && rep[1] == SOCKS4_GRANTED);
}
