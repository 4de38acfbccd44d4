// SPDX-License-Identifier: MIT
/* The operator's socket options: interface, Multipath TCP, buffer sizes. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "sockopts.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static bool mptcp_missing; /* said once per process, then plain TCP */

static void set_buf(int fd, int opt, int bytes)
{
	if (bytes > 0)
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

static void bind_device(const struct ss_config *cfg, int fd)
{
	static bool warned;

	if (!cfg->iface || !setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg->iface,
				       (socklen_t)strlen(cfg->iface)) || warned)
		return;
	warned = true;
	log_warn("-i %s: SO_BINDTODEVICE: %s; sockets use the routing table's interface",
		 cfg->iface, strerror(errno));
}

int sock_tcp(bool mptcp, int family, int flags)
{
	int fd;

	if (mptcp && !mptcp_missing) {
		if ((fd = socket(family, SOCK_STREAM | flags, IPPROTO_MPTCP)) >= 0)
			return fd;
		/* Out of fds is not a kernel without MPTCP: plain TCP fails the same way. */
		if (errno != EPROTONOSUPPORT && errno != EINVAL && errno != ENOPROTOOPT)
			return -1;
		mptcp_missing = true;
		log_warn("--mptcp: %s (net.mptcp.enabled, or a kernel without MPTCP); using TCP",
			 strerror(errno));
	}
	return socket(family, SOCK_STREAM | flags, 0);
}

int sock_outbound_tcp(const struct ss_config *cfg, int family)
{
	int fd = sock_tcp(cfg->mptcp, family, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return -errno;
	bind_device(cfg, fd);
	set_buf(fd, SO_SNDBUF, cfg->out_sndbuf);
	set_buf(fd, SO_RCVBUF, cfg->out_rcvbuf);
	return fd;
}

void sock_outbound_udp(const struct ss_config *cfg, int fd)
{
	bind_device(cfg, fd);
}

void sock_accepted(const struct ss_config *cfg, int fd)
{
	set_buf(fd, SO_SNDBUF, cfg->in_sndbuf);
	set_buf(fd, SO_RCVBUF, cfg->in_rcvbuf);
}
