// SPDX-License-Identifier: MIT
/* The epoll reactor: level-triggered, signals through signalfd, a timerfd tick. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "loop.h"

#define MAX_EVENTS 256

struct loop {
	int epfd;
	struct handler sig, tick;
	loop_signal_fn on_signal;
	loop_fn on_tick, on_batch_end;
	void *arg;
	uint64_t now;
	bool stop;
	sigset_t mask, old_mask;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_sig(struct handler *h, uint32_t events)
{
	struct loop *l = container_of(h, struct loop, sig);
	struct signalfd_siginfo si;

	(void)events;
	while (read(h->fd, &si, sizeof(si)) == sizeof(si))
		l->on_signal(l->arg, (int)si.ssi_signo);
}

static void on_tick(struct handler *h, uint32_t events)
{
	struct loop *l = container_of(h, struct loop, tick);
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) == sizeof(n) && l->on_tick)
		l->on_tick(l->arg);
}

void loop_signal_set(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGQUIT);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGUSR1);
	sigaddset(mask, SIGUSR2);
}

struct loop *loop_new(unsigned tick_ms, loop_signal_fn on_signal, loop_fn tick,
		      loop_fn on_batch_end, void *arg)
{
	struct itimerspec its = { .it_interval = { tick_ms / 1000, (tick_ms % 1000) * 1000000L } };
	struct loop *l = calloc(1, sizeof(*l));
	sigset_t mask;

	if (!l)
		return NULL;
	its.it_value = its.it_interval;
	l->on_signal = on_signal;
	l->on_tick = tick;
	l->on_batch_end = on_batch_end;
	l->arg = arg;
	l->now = mono_ms();
	l->sig.fd = l->tick.fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto err_free;
	loop_signal_set(&mask);
	l->mask = mask;
	pthread_sigmask(SIG_BLOCK, &mask, &l->old_mask);
	l->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	l->sig.on_event = on_sig;
	l->tick.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->tick.on_event = on_tick;
	if (l->sig.fd < 0 || l->tick.fd < 0 ||
	    timerfd_settime(l->tick.fd, 0, &its, NULL) ||
	    loop_watch(l, &l->sig, EPOLLIN) || loop_watch(l, &l->tick, EPOLLIN))
		goto err_close;
	return l;

err_close:
	loop_free(l);
	return NULL;
err_free:
	free(l);
	return NULL;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->sig.fd >= 0)
		close(l->sig.fd);
	if (l->tick.fd >= 0)
		close(l->tick.fd);
	if (l->epfd >= 0)
		close(l->epfd);
	pthread_sigmask(SIG_SETMASK, &l->old_mask, NULL);
	free(l);
}

int loop_watch(struct loop *l, struct handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };
	int op;

	if (!events) {
		loop_forget(l, h);
		return 0;
	}
	if (h->registered && h->events == events)
		return 0;
	op = h->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, h->fd, &ev))
		return -errno;
	h->registered = true;
	h->events = events;
	return 0;
}

void loop_forget(struct loop *l, struct handler *h)
{
	if (h->registered)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->registered = false;
	h->events = 0;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[MAX_EVENTS];

	l->stop = false;
	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		l->now = mono_ms();
		for (int i = 0; i < n; i++) {
			struct handler *h = evs[i].data.ptr;

			/* A handler closed earlier in this batch is skipped. */
			if (h->registered)
				h->on_event(h, evs[i].events);
		}
		/* Frees deferred during the batch happen only now. */
		if (l->on_batch_end)
			l->on_batch_end(l->arg);
	}
	return 0;
}

int loop_add_signal(struct loop *l, int signo)
{
	sigaddset(&l->mask, signo);
	pthread_sigmask(SIG_BLOCK, &l->mask, NULL);
	return signalfd(l->sig.fd, &l->mask, SFD_NONBLOCK | SFD_CLOEXEC) < 0 ? -errno : 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now;
}
