/* SPDX-License-Identifier: GPL-2.0 */
/* Shared helpers of the aiopoll selftests. */
#ifndef AIOPOLL_TEST_H
#define AIOPOLL_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>
#include <linux/aiopoll.h>

/*
 * Round counts of stress tests: the small default keeps `make check` short under
 * emulation; STRESS=full (AIOPOLL_STRESS=full in the guest) gives the issues' full counts.
 */
static inline long stress_rounds(long quick, long full)
{
	const char *s = getenv("AIOPOLL_STRESS");

	return s && !strcmp(s, "full") ? full : quick;
}

/* Waits for child `pid`: its exit status, or -1 if it did not exit normally. */
static inline int child_exit_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static inline int aiopoll_open(void)
{
	return open(AIOPOLL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/* A context with its ring mapped. */
struct actx {
	int fd;
	struct aiopoll_ring *ring;
	size_t ring_size;
	unsigned int nr;
};

/* Opens and sets up a context of nr_events and maps its ring; returns 0 or -errno. */
static inline int actx_init(struct actx *c, unsigned int nr_events)
{
	struct aiopoll_setup s = { .nr_events = nr_events };
	void *p;

	memset(c, 0, sizeof(*c));
	c->fd = aiopoll_open();
	if (c->fd < 0)
		return -errno;
	s.ring_id = c->fd;
	if (ioctl(c->fd, AIOPOLL_IOC_SETUP, &s))
		return -errno;
	p = mmap(NULL, s.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	c->ring = p;
	c->ring_size = s.ring_size;
	c->nr = s.ring_nr;
	return 0;
}

static inline void actx_fini(struct actx *c)
{
	if (c->ring)
		munmap(c->ring, c->ring_size);
	close(c->fd);
	c->ring = NULL;
}

/* io_submit(2) on a context: the count submitted, or -1 with errno. */
static inline long actx_submit(int fd, long nr, struct iocb **iocbs)
{
	struct aiopoll_submit s = { .nr = nr, .iocbpp = (unsigned long)iocbs };

	return ioctl(fd, AIOPOLL_IOC_SUBMIT, &s);
}

static inline long actx_submit1(int fd, struct iocb *iocb)
{
	return actx_submit(fd, 1, &iocb);
}

/* io_getevents(2) on a context; timeout NULL waits without limit. */
static inline long actx_getevents(int fd, long min_nr, long nr, struct io_event *ev,
				  struct timespec *timeout)
{
	struct aiopoll_getevents g = {
		.min_nr = min_nr,
		.nr = nr,
		.events = (unsigned long)ev,
		.timeout = (unsigned long)timeout,
	};

	return ioctl(fd, AIOPOLL_IOC_GETEVENTS, &g);
}

/* Reaps up to nr events from the mapped ring, with no system call, as libaio does. */
static inline int ring_reap(struct aiopoll_ring *r, struct io_event *ev, int nr)
{
	unsigned int head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	unsigned int tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	int n = 0;

	while (n < nr && head != tail) {
		ev[n++] = r->io_events[head];
		head = (head + 1) % r->nr;
	}
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return n;
}

static inline void prep_rw(struct iocb *cb, int op, int fd, void *buf, size_t len, long long off)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = op;
	cb->aio_fildes = fd;
	cb->aio_buf = (unsigned long)buf;
	cb->aio_nbytes = len;
	cb->aio_offset = off;
	cb->aio_data = (unsigned long)cb;
}

/* fs/aio through raw system calls, for differential checks in the same guest. */
static inline int sys_io_setup(unsigned int nr, aio_context_t *ctx)
{
	return syscall(__NR_io_setup, nr, ctx);
}

static inline int sys_io_destroy(aio_context_t ctx)
{
	return syscall(__NR_io_destroy, ctx);
}

static inline long sys_io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return syscall(__NR_io_submit, ctx, nr, iocbs);
}

static inline long sys_io_getevents(aio_context_t ctx, long min_nr, long nr,
				    struct io_event *ev, struct timespec *timeout)
{
	return syscall(__NR_io_getevents, ctx, min_nr, nr, ev, timeout);
}

static inline long sys_io_cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *ev)
{
	return syscall(__NR_io_cancel, ctx, iocb, ev);
}

/* io_pgetevents(2) and its struct __aio_sigset: fs/aio's reference behaviour. */
struct aio_sigset {
	const void *sigmask;
	size_t sigsetsize;
};

static inline long sys_io_pgetevents(aio_context_t ctx, long min_nr, long nr,
				     struct io_event *ev, struct timespec *ts,
				     struct aio_sigset *sig)
{
	return syscall(__NR_io_pgetevents, ctx, min_nr, nr, ev, ts, sig);
}

/* The module's use count: one per open context file (and per in-flight release); -1 if unknown. */
static inline long module_refcnt(void)
{
	char buf[32] = "";
	int fd = open("/sys/module/aiopoll/refcnt", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atol(buf) : -1;
}

/* Waits up to 10 s for the use count to come back to want; returns the last value seen. */
static inline long refcnt_settles(long want)
{
	long n = -1;
	int i;

	for (i = 0; i < 1000; i++) {
		n = module_refcnt();
		if (n == want)
			break;
		usleep(10000);
	}
	return n;
}

static inline double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* AIOPOLL_TEST_H */
