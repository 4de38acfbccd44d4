// SPDX-License-Identifier: MIT
/* --user: the switch to an unprivileged user, with or without capabilities. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"

/*
 * What a parent needs to start workers again: bind low ports, load and
 * attach BPF (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN), transparent sockets and
 * steering (CAP_NET_ADMIN), SO_BINDTODEVICE on older kernels (CAP_NET_RAW).
 */
static const uint64_t worker_caps = 1ull << CAP_NET_BIND_SERVICE | 1ull << CAP_NET_ADMIN |
				    1ull << CAP_NET_RAW | 1ull << CAP_PERFMON | 1ull << CAP_BPF;

static int caps_set(enum privs_keep keep)
{
	uint64_t caps = keep == PRIVS_KEEP_TREE ? worker_caps :
			keep == PRIVS_KEEP_BIND ? 1ull << CAP_NET_BIND_SERVICE : 0;

	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t mask = (uint32_t)(caps >> (32 * i));

		/* setuid() with KEEPCAPS keeps the permitted set and empties the effective one. */
		d[i].permitted &= mask;
		d[i].effective = d[i].permitted;
		d[i].inheritable = 0;
	}
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

int privs_drop(const char *user, enum privs_keep keep_caps, const char **why)
{
	struct passwd *pw = getpwnam(user);
	int pdeath = 0, r;

	if (!pw) {
		*why = "no such user";
		return -ENOENT;
	}
	prctl(PR_GET_PDEATHSIG, &pdeath);
	if (geteuid() != pw->pw_uid || getegid() != pw->pw_gid) {
		if (keep_caps)
			prctl(PR_SET_KEEPCAPS, 1);
		if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
			*why = "setgid/setuid failed";
			return -errno;
		}
		prctl(PR_SET_KEEPCAPS, 0);
	}
	if ((r = caps_set(keep_caps))) {
		*why = "cannot set capabilities";
		return r;
	}
	/* A change of credentials clears the parent-death signal: set it again. */
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, pdeath);
	return 0;
}
