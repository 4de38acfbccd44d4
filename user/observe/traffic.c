// SPDX-License-Identifier: MIT
/* Per-port and per-user byte counters in shared memory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "key.h"
#include "traffic.h"

int traffic_shared(struct traffic *t, size_t workers)
{
	void *names, *bytes;

	names = mmap(NULL, sizeof(*t->names), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	bytes = mmap(NULL, workers * sizeof(*t->bytes), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (names == MAP_FAILED || bytes == MAP_FAILED) {
		if (names != MAP_FAILED)
			munmap(names, sizeof(*t->names));
		if (bytes != MAP_FAILED)
			munmap(bytes, workers * sizeof(*t->bytes));
		return -ENOMEM;
	}
	t->names = names;
	t->bytes = bytes;
	t->workers = workers;
	return 0;
}

void traffic_free(struct traffic *t)
{
	if (t->names)
		munmap(t->names, sizeof(*t->names));
	if (t->bytes)
		munmap(t->bytes, t->workers * sizeof(*t->bytes));
	memset(t, 0, sizeof(*t));
}

int traffic_slot(struct traffic *t, const char *name, bool add)
{
	if (!t || !t->names)
		return -1;
	for (uint32_t i = 0; i < t->names->n; i++)
		if (!strncmp(t->names->name[i], name, TRAFFIC_NAME))
			return (int)i;
	if (!add || t->names->n >= TRAFFIC_SLOTS)
		return -1;
	snprintf(t->names->name[t->names->n], TRAFFIC_NAME, "%s", name);
	/* The name is whole before a worker can see the new count. */
	__atomic_store_n(&t->names->n, t->names->n + 1, __ATOMIC_RELEASE);
	return (int)t->names->n - 1;
}

uint64_t traffic_total(const struct traffic *t, int slot)
{
	uint64_t sum = 0;

	if (slot < 0 || !t->bytes)
		return 0;
	for (size_t w = 0; w < t->workers; w++)
		sum += __atomic_load_n(&t->bytes[w][slot][0], __ATOMIC_RELAXED) +
		       __atomic_load_n(&t->bytes[w][slot][1], __ATOMIC_RELAXED);
	return sum;
}

static void set_limits(struct traffic *tr, bool add, int slot, uint32_t rate, uint64_t data)
{
	if (!add || slot < 0 || !tr->names)
		return;
	tr->names->rate_limit[slot] = rate;
	tr->names->data_limit[slot] = data;
}

uint64_t traffic_spent_bytes(const struct traffic *t, int slot)
{
	return t->names->spent_before[slot] + traffic_total(t, slot);
}

void traffic_assign(struct traffic *tr, struct ss_config *cfg, bool add)
{
	char name[TRAFFIC_NAME];

	/* A port or user the file no longer has shows no limit (the owner of the table writes them). */
	if (add && tr->names) {
		memset(tr->names->rate_limit, 0, sizeof(tr->names->rate_limit));
		memset(tr->names->data_limit, 0, sizeof(tr->names->data_limit));
	}
	for (int i = 0; i < cfg->nports; i++) {
		struct cfg_port *p = &cfg->ports[i];

		char port[16];

		/* A range is counted as one, under its label "A-B". */
		config_port_label(p, port, sizeof(port));
		p->slot = traffic_slot(tr, port, add);
		set_limits(tr, add, p->slot, p->rate_limit, p->data_limit);
		for (int u = 0; u < p->nusers; u++) {
			snprintf(name, sizeof(name), "%s/%s", port, p->users[u].name);
			p->users[u].slot = traffic_slot(tr, name, add);
			set_limits(tr, add, p->users[u].slot, p->users[u].rate_limit, p->users[u].data_limit);
		}
	}
}

bool traffic_spent(const struct traffic *t, const struct ss_key *k)
{
	return !traffic_allowance(t, k);
}

uint64_t traffic_allowance(const struct traffic *t, const struct ss_key *k)
{
	int s = k ? k->limit_slot : -1;
	uint64_t spent;

	if (!t || !t->names || !k || !k->data_limit || s < 0 || s >= TRAFFIC_SLOTS)
		return UINT64_MAX;
	spent = traffic_spent_bytes(t, s);
	return spent >= k->data_limit ? 0 : k->data_limit - spent;
}

bool traffic_add_key(struct traffic *t, int worker, const struct ss_key *k, bool up, uint64_t n)
{
	if (!k || k->port_slot < 0)
		return false;
	traffic_add(t, worker, k->port_slot, up, n);
	traffic_add(t, worker, k->slot, up, n);
	return traffic_spent(t, k);
}

void traffic_hand_over(struct traffic *t, bool on)
{
	for (uint32_t s = 0; on && t && t->names && s < t->names->n && s < TRAFFIC_SLOTS; s++)
		t->names->handed[s] = traffic_spent_bytes(t, (int)s);
	if (t && t->names)
		t->names->handed_over = on; /* off: the successor failed, this one carries on */
}

int traffic_save(const struct traffic *t, const char *path)
{
	char tmp[PATH_MAX], to[PATH_MAX];
	bool after = t->names && t->names->handed_over;
	FILE *f;
	int bad;

	if (!t->names || snprintf(to, sizeof(to), "%s%s", path, after ? ".add" : "") >= (int)sizeof(to) ||
	    snprintf(tmp, sizeof(tmp), "%s.new", to) >= (int)sizeof(tmp) || !(f = fopen(tmp, "we")))
		return -errno;
	for (uint32_t s = 0; s < t->names->n && s < TRAFFIC_SLOTS; s++) {
		uint64_t b = traffic_spent_bytes(t, (int)s) - (after ? t->names->handed[s] : 0);

		if (b)
			fprintf(f, "%s %llu\n", t->names->name[s], (unsigned long long)b);
	}
	bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, to)) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

bool traffic_path(const struct ss_config *cfg, char *buf, size_t len)
{
	const char *rf = cfg->replay_file;
	size_t n = rf ? strlen(rf) : 0;

	if (!rf || !strcmp(rf, "off"))
		return false;
	if (n > 7 && !strcmp(rf + n - 7, ".replay"))
		n -= 7;
	return snprintf(buf, len, "%.*s.spent", (int)n, rf) < (int)len;
}

void traffic_take_added(struct traffic *t, const char *path)
{
	char add[PATH_MAX];

	if (snprintf(add, sizeof(add), "%s.add", path) < (int)sizeof(add) && !access(add, F_OK)) {
		traffic_load(t, add, true);
		unlink(add);
	}
}

void traffic_load(struct traffic *t, const char *path, bool add)
{
	FILE *f = t->names ? fopen(path, "re") : NULL;
	char name[TRAFFIC_NAME];
	unsigned long long b;

	while (f && fscanf(f, "%71s %llu", name, &b) == 2) {
		int s = traffic_slot(t, name, true);

		if (s >= 0)
			t->names->spent_before[s] = (add ? t->names->spent_before[s] : 0) + b;
	}
	if (f)
		fclose(f);
}
