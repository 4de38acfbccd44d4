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

/* A shared mapping of path, len bytes; a file of another size starts over, zeroed. */
static int map_file(const char *path, size_t len, void **mem, const char **why)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
	} else if ((size_t)st.st_size != len) {
		if (st.st_size)
			*why = "its size does not match";
		if (ftruncate(fd, 0) || ftruncate(fd, (off_t)len))
			ret = -errno;
	}
	if (!ret && (*mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		ret = -errno;
	close(fd);
	return ret;
}

/* In memory only: a memfd each (the filter's, the salt window's), passed on at an upgrade. */
static int mem_fd[2] = { -1, -1 };
static const char *const mem_env[2] = { "SSBPF_REPLAY_MEMFD", "SSBPF_SALTS_MEMFD" };

/* A shared mapping of len bytes: the predecessor's memfd (an upgrade) when it fits, or a new one. */
static int map_mem(int which, size_t len, void **mem)
{
	const char *env = getenv(mem_env[which]);
	int fd = env ? atoi(env) : -1;
	struct stat st;

	unsetenv(mem_env[which]);
	if (fd >= 0 && (fstat(fd, &st) || (size_t)st.st_size != len)) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	else if ((fd = memfd_create(which ? "ssbpf-salts" : "ssbpf-replay", MFD_CLOEXEC)) < 0)
		return -errno;
	else if (ftruncate(fd, (off_t)len))
		return close(fd), -ENOMEM;
	if ((*mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0)) ==
	    MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	mem_fd[which] = fd;
	return 0;
}

int replay_mem_open(struct replay *r, size_t capacity, double fp)
{
	const char *why = NULL;
	void *mem;
	int ret = replay_layout(r, capacity, fp);

	if (ret || (ret = map_mem(0, r->map_len, &mem)))
		return ret;
	return replay_attach(r, mem, &why);
}

int salt_mem_open(struct salt_window **sp)
{
	const char *why = NULL;
	void *mem;
	int ret = map_mem(1, salt_window_len(), &mem);

	return ret ? ret : salt_window_attach(sp, mem, &why);
}

void replay_mem_pass(int from)
{
	char num[16];

	for (int i = 0; i < 2; i++) {
		int fd = mem_fd[i] >= 0 ? fcntl(mem_fd[i], F_DUPFD, from) : -1;

		snprintf(num, sizeof(num), "%d", fd);
		if (fd >= 0)
			setenv(mem_env[i], num, 1);
	}
}

int replay_file_open(struct replay *r, size_t capacity, double fp, const char *path,
		     const char **why)
{
	void *mem;
	int ret = replay_layout(r, capacity, fp);

	if (ret || (ret = map_file(path, r->map_len, &mem, why)))
		return ret;
	return replay_attach(r, mem, why);
}

int salt_file_open(struct salt_window **sp, const char *path, const char **why)
{
	void *mem;
	int ret = map_file(path, salt_window_len(), &mem, why);

	return ret ? ret : salt_window_attach(sp, mem, why);
}

void replay_file_default(char *buf, size_t len, const char *prog, int port, const char *config)
{
	const char *dir = getenv("STATE_DIRECTORY"); /* systemd StateDirectory= */
	const char *base = config ? strrchr(config, '/') : NULL;
	size_t n;

	if (!dir || !*dir)
		dir = "/var/lib/ssbpf";
	/* STATE_DIRECTORY may list several folders, separated by ':'. */
	n = (size_t)snprintf(buf, len, "%.*s/%s-", (int)strcspn(dir, ":"), dir, prog);
	if (n >= len)
		return;
	/* The instance a config file names (NAME of /etc/ssbpf/NAME.json) outlives its ports. */
	base = base ? base + 1 : config;
	if (base && *base)
		snprintf(buf + n, len - n, "%.*s.replay", (int)(strlen(base) - (strstr(base, ".json") &&
			 !strcmp(strstr(base, ".json"), ".json") ? 5 : 0)), base);
	else
		snprintf(buf + n, len - n, "%d.replay", port);
}

void replay_file_sync(const struct ss_config *cfg, const struct replay *r,
		      const struct salt_window *sp)
{
	if (!cfg->replay_file || !strcmp(cfg->replay_file, "off"))
		return;
	if ((r->sh && msync(r->sh, r->map_len, MS_SYNC)) ||
	    (sp && msync((void *)sp, salt_window_len(), MS_SYNC)))
		log_warn("replay filter: cannot write %s to disk: %s", cfg->replay_file,
			 strerror(errno));
}
