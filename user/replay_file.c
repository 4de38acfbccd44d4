// SPDX-License-Identifier: MIT
/* Saving and loading the replay filter (see include/replay_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "replay_file.h"

#define MAGIC "ssbpf-replay-1\n"
#define BLOCK 4096

/* What identifies a filter's layout, then its state; the bits follow. */
struct header {
	char magic[16];
	uint64_t nbits;
	uint64_t k;
	uint64_t count;
	uint64_t gen;
	uint8_t key[16];
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* The bits, skipping all-zero blocks (holes): a fresh filter takes no disk. */
static int write_bits(int fd, const uint8_t *bits, size_t len)
{
	int r;

	for (size_t off = 0; off < len; off += BLOCK) {
		size_t n = len - off < BLOCK ? len - off : BLOCK;

		if (all_zero(bits + off, n)) {
			if (lseek(fd, (off_t)n, SEEK_CUR) < 0)
				return -errno;
		} else if ((r = write_all(fd, bits + off, n))) {
			return r;
		}
	}
	return 0;
}

int replay_file_save(const struct replay *r, const char *path)
{
	struct header h = { .nbits = r->nbits, .k = r->k };
	char tmp[4096];
	size_t nbytes = r->nbits / 8;
	int fd, ret;

	memcpy(h.magic, MAGIC, sizeof(h.magic));
	h.count = __atomic_load_n(&r->sh->count, __ATOMIC_RELAXED);
	h.gen = __atomic_load_n(&r->sh->gen, __ATOMIC_ACQUIRE);
	memcpy(h.key, r->sh->key, sizeof(h.key));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((ret = write_all(fd, &h, sizeof(h))) || (ret = write_bits(fd, r->bits[0], nbytes)) ||
	    (ret = write_bits(fd, r->bits[1], nbytes)))
		goto err_unlink;
	/* The holes at the end still count: the size says the file is whole. */
	if (ftruncate(fd, (off_t)(sizeof(h) + 2 * nbytes)) || fsync(fd)) {
		ret = -errno;
		goto err_unlink;
	}
	close(fd);
	return rename(tmp, path) ? -errno : 0;

err_unlink:
	close(fd);
	unlink(tmp);
	return ret;
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EINVAL;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int replay_file_load(struct replay *r, const char *path, const char **why)
{
	struct header h;
	struct stat st;
	size_t nbytes = r->nbits / 8;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -EINVAL;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || read_all(fd, &h, sizeof(h)) ||
	    memcmp(h.magic, MAGIC, sizeof(h.magic))) {
		*why = "not a replay filter file";
	} else if (h.nbits != r->nbits || h.k != r->k) {
		*why = "it was made for another replay_capacity or replay_fp";
	} else if ((size_t)st.st_size != sizeof(h) + 2 * nbytes) {
		*why = "it is truncated";
	} else if (read_all(fd, r->bits[0], nbytes) || read_all(fd, r->bits[1], nbytes)) {
		*why = "it cannot be read";
		memset(r->bits[0], 0, 2 * nbytes);
	} else {
		r->sh->count = (size_t)h.count;
		r->sh->gen = (unsigned)h.gen;
		memcpy(r->sh->key, h.key, sizeof(h.key));
		ret = 0;
	}
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

void replay_file_persist(const struct ss_config *cfg, const struct replay *r)
{
	int ret;

	if (!cfg->replay_file || !strcmp(cfg->replay_file, "off") || !cfg->m->key_len)
		return;
	if ((ret = replay_file_save(r, cfg->replay_file)))
		log_warn("replay filter: cannot save it to %s: %s", cfg->replay_file, strerror(-ret));
}
