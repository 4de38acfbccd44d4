/* SPDX-License-Identifier: MIT */
#ifndef SS_LOOP_H
#define SS_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

/* Everything registered in the loop embeds a handler; epoll data.ptr points at it. */
struct handler {
	void (*on_event)(struct handler *h, uint32_t events);
	int fd;
	uint32_t events; /* current interest set */
	bool registered;
};

/* Called for each signal read from the signalfd. */
typedef void (*loop_signal_fn)(void *arg, int signo);
/* Called once per tick (every tick_ms) and at the end of each batch. */
typedef void (*loop_fn)(void *arg);

/* The signals a loop takes through its signalfd (and the worker parent forwards). */
void loop_signal_set(sigset_t *mask);

struct loop *loop_new(unsigned tick_ms, loop_signal_fn on_signal, loop_fn on_tick,
		      loop_fn on_batch_end, void *arg);
void loop_free(struct loop *l);
/* Sets the interest of h to events (0 removes it); 0 or -errno. */
int loop_watch(struct loop *l, struct handler *h, uint32_t events);
void loop_forget(struct loop *l, struct handler *h);
/* Runs until loop_stop; returns 0 or -errno. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Takes signo through the loop's signalfd too (a parent's SIGCHLD); 0 or -errno. */
int loop_add_signal(struct loop *l, int signo);
/* Monotonic milliseconds, refreshed once per wake-up. */
uint64_t loop_now(const struct loop *l);

#endif
