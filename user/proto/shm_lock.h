/* SPDX-License-Identifier: MIT */
#ifndef SS_SHM_LOCK_H
#define SS_SHM_LOCK_H

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>

/*
 * A mutex in memory shared by the workers (and kept in a file across runs):
 * process-shared and robust, made anew at every attach, so that a process
 * killed while holding it cannot wedge the others or the next run.
 */
extern bool shm_lock_in_use; /* replay_locks_in_use: the predecessor of an upgrade holds them */

static inline void shm_lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	if (shm_lock_in_use)
		return;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* Locks m; a holder that died leaves the data whole (every update is one step). */
static inline void shm_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) == EOWNERDEAD)
		pthread_mutex_consistent(m);
}

#endif
