// SPDX-License-Identifier: MIT
/* ssserver's ports by number (port_index.h). */
#include <string.h>

#include "key.h"
#include "port_index.h"

static unsigned bucket_of(int port)
{
	return (unsigned)port % PORT_INDEX_BUCKETS;
}

void port_index_build(struct port_index *ix, struct port_keys *list)
{
	memset(ix, 0, sizeof(*ix));
	for (struct port_keys *pk = list; pk; pk = pk->next) {
		struct port_keys **head = pk->port_last != pk->port ? &ix->ranges :
								     &ix->bucket[bucket_of(pk->port)];

		pk->same_bucket = *head;
		*head = pk;
	}
}

static bool serves(const struct port_keys *pk, int ai, int port)
{
	return (pk->serve_mask & (1u << ai)) && port >= pk->port && port <= pk->port_last;
}

struct port_keys *port_index_find(const struct port_index *ix, int ai, int port)
{
	struct port_keys *pk;

	if (ai < 0 || ai >= 32 || port <= 0 || port > 65535)
		return NULL;
	for (pk = ix->bucket[bucket_of(port)]; pk; pk = pk->same_bucket)
		if (serves(pk, ai, port))
			return pk;
	for (pk = ix->ranges; pk; pk = pk->same_bucket)
		if (serves(pk, ai, port))
			return pk;
	return NULL;
}
