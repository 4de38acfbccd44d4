// SPDX-License-Identifier: MIT
/* Per-worker counters: the word-by-word sum, and the capture entries' byte rows. */
#include <string.h>

#include "counters.h"
#include "test.h"

TEST(counters_capture_rows_are_claimed_reused_and_summed_per_entry)
{
	struct counters *w = counters_shared(2), sum;
	int a, b, again;
	uint64_t up, down;

	CHECK(w != NULL);
	a = counters_capture_row(&w[0], 1001);
	b = counters_capture_row(&w[0], 2002);
	CHECK(a >= 0 && b >= 0 && a != b);
	CHECK_EQ(counters_capture_row(&w[0], 1001), a);
	counters_capture_add(&w[0], a, 1001, 1, 100);
	counters_capture_add(&w[0], a, 1001, 0, 7);
	counters_capture_add(&w[1], counters_capture_row(&w[1], 1001), 1001, 1, 50);
	counters_capture_add(&w[0], b, 2002, 0, 9);
	/* A row index held for another id counts nothing. */
	counters_capture_add(&w[0], a, 2002, 1, 1000);
	counters_capture_sum(w, 2, 1001, &up, &down);
	CHECK_EQ(up, 150u);
	CHECK_EQ(down, 7u);
	counters_capture_sum(w, 2, 2002, &up, &down);
	CHECK_EQ(up, 0u);
	CHECK_EQ(down, 9u);
	/* The entry goes: its row is free, a live connection holding it counts no more. */
	counters_capture_drop(&w[0], 1001);
	again = counters_capture_row(&w[0], 3003);
	CHECK_EQ(again, a);
	counters_capture_add(&w[0], a, 1001, 1, 5);
	counters_capture_sum(w, 1, 3003, &up, &down);
	CHECK_EQ(up + down, 0u);
	/* The other counters sum word by word; the rows are left out of it. */
	w[0].accepted = 3;
	w[1].accepted = 4;
	counters_sum(w, 2, &sum);
	CHECK_EQ(sum.accepted, 7u);
	CHECK_EQ(sum.cap[0].id, 0u);
	/* Every row taken: no row, nothing counted. */
	for (uint64_t id = 10; id < 10 + CTR_CAPTURE_ROWS; id++)
		counters_capture_row(&w[1], id);
	CHECK_EQ(counters_capture_row(&w[1], 99999), -1);
	counters_free(w, 2);
}
