// SPDX-License-Identifier: MIT
/* ssctl's one request to a daemon's control socket and its JSON answer. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_client.h"
#include "json.h"
#include "sbuf.h"

#define ANSWER_MS 2000

struct json *ctl_client_ask(const char *path, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sbuf r = { 0 };
	const char *err = "";
	char buf[65536];
	struct json *j = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "ssctl: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "ssctl: %s: %s\n", path, strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, ANSWER_MS) <= 0) {
			fprintf(stderr, "ssctl: %s: no answer within %d s\n", path, ANSWER_MS / 1000);
			goto out;
		}
		if ((n = recv(fd, buf, sizeof(buf), 0)) <= 0)
			break;
		sbuf_printf(&r, "%.*s", (int)n, buf);
	}
	if (!r.len || !(j = json_parse(r.p, r.len, &err)))
		fprintf(stderr, "ssctl: %s: %s\n", path, r.len ? err : "closed without an answer");
out:
	if (fd >= 0)
		close(fd);
	sbuf_free(&r);
	return j;
}
