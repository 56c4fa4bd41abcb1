/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared pieces of poll_bench. The readiness systems are engines behind one interface, so
 * that the harness (poll_bench.c) runs the same work on each. poll_aio.c is compiled twice,
 * once against libaiopoll's <libaio.h> (the aiopoll engines) and once against the system's
 * (the fs/aio engine, linked with the system libaio, see bench/Makefile): this header must
 * therefore not depend on either <libaio.h>.
 */
#ifndef POLL_BENCH_H
#define POLL_BENCH_H

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Largest batch of events one wait asks for (the -b option is capped to it). */
#define MAXBATCH 256

/*
 * System calls made by the calling thread: incremented by every wrapper of poll_bench.c and
 * by the link-time wrappers of ioctl() and syscall(), through which libaiopoll and libaio
 * enter the kernel. liburing enters the kernel with inline assembly: its engine counts the
 * io_uring_enter() calls liburing makes (see poll_uring.c).
 */
extern _Thread_local long nsys;

/* Prints "poll_bench: what: strerror(-err)" (err 0: errno) and exits with status 1. */
void die(const char *what, long err) __attribute__((noreturn));

/* Counted system calls of the harness. */
long xread(int fd, void *buf, unsigned long len);
long xwrite(int fd, const void *buf, unsigned long len);

/*
 * A readiness system. A context polls the fds it was created with, for POLLIN; a poll is
 * named by its index into that array, which every engine carries as its user data.
 */
struct engine {
	const char *name;
	/* One-shot: every event disarms its poll, the loop re-arms it with arm(). */
	int oneshot;
	/* A context for polls on fds[0..nfds), nothing armed yet; the array must outlive it. */
	void *(*create)(const int *fds, int nfds);
	/* Arms the polls idx[0..n) (for the first time, or again after a one-shot event). */
	void (*arm)(void *ctx, const int *idx, int n);
	/*
	 * Waits until at least one armed poll is ready and reports up to max of them (at most
	 * MAXBATCH): their indices in idx, the count as result. Each readiness is reported once.
	 */
	int (*wait)(void *ctx, int *idx, int max);
	/*
	 * Arms a poll on fds[i] (never ready) and cancels it, ops times, each time reaping the
	 * cancellation's event if the system posts one. NULL when the system has no cancel.
	 */
	void (*cancel)(void *ctx, int i, long ops);
	void (*destroy)(void *ctx);
};

extern const struct engine aiopoll_wait_engine, aiopoll_ring_engine, aiopoll_multi_engine;
extern const struct engine fsaio_engine;
extern const struct engine uring_engine, uring_multi_engine;
extern const struct engine epoll_lt_engine, epoll_et_engine;

/*
 * Kernel profile and system-wide counters through perf_event_open(2) (profile.c); every
 * function fails softly (returns -1 or prints why) when the kernel has no perf events.
 */
int sys_csw_start(void);
long sys_csw_stop(void);
int profile_start(void);
void profile_stop(const char *label);

#endif
