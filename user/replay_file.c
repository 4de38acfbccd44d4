// SPDX-License-Identifier: MIT
/* The replay filter in a shared mapping of its file (see include/replay_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "replay_file.h"

int replay_file_open(struct replay *r, size_t capacity, double fp, const char *path,
		     const char **why)
{
	struct stat st;
	void *mem;
	int fd, ret = replay_layout(r, capacity, fp);

	if (ret)
		return ret;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	/* Another size is another layout (or a truncated file): it starts over, zeroed. */
	if ((size_t)st.st_size != r->map_len) {
		if (st.st_size)
			*why = "its size does not match replay_capacity and replay_fp";
		if (ftruncate(fd, 0) || ftruncate(fd, (off_t)r->map_len)) {
			ret = -errno;
			goto out;
		}
	}
	mem = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	ret = replay_attach(r, mem, why);
out:
	close(fd);
	return ret;
}

void replay_file_default(char *buf, size_t len, const char *prog, int port)
{
	const char *dir = getenv("STATE_DIRECTORY"); /* systemd StateDirectory= */

	if (!dir || !*dir)
		dir = "/var/lib/ssbpf";
	/* STATE_DIRECTORY may list several folders, separated by ':'. */
	snprintf(buf, len, "%.*s/%s-%d.replay", (int)strcspn(dir, ":"), dir, prog, port);
}

void replay_file_sync(const struct ss_config *cfg, const struct replay *r)
{
	if (!cfg->replay_file || !strcmp(cfg->replay_file, "off") || !r->sh)
		return;
	if (msync(r->sh, r->map_len, MS_SYNC))
		log_warn("replay filter: cannot write %s to disk: %s", cfg->replay_file,
			 strerror(errno));
}
