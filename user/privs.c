// SPDX-License-Identifier: MIT
/* --user: the switch to an unprivileged user, with or without capabilities. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"

static int caps_set(bool keep)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	for (int i = 0; i < 2; i++) {
		/* setuid() with KEEPCAPS keeps the permitted set and empties the effective one. */
		d[i].effective = keep ? d[i].permitted : 0;
		d[i].permitted = keep ? d[i].permitted : 0;
		d[i].inheritable = 0;
	}
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

int privs_drop(const char *user, bool keep_caps, const char **why)
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
