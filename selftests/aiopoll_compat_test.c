// SPDX-License-Identifier: GPL-2.0
/*
 * 32-bit callers: this program is built with -m32 and runs under the kernel's IA32
 * emulation, so its ioctls arrive through compat_ioctl. The argument structures are the same
 * as for 64-bit callers (every address a __u64, filled from a 32-bit pointer), but SUBMIT's
 * array holds 32-bit struct iocb pointers, as compat io_submit(2)'s does. Every request,
 * event and cancellation must behave as for a 64-bit caller, and an event's obj is the
 * 32-bit address of its iocb.
 */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/time_types.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

_Static_assert(sizeof(void *) == 4, "aiopoll_compat_test is a 32-bit program: build it with -m32");

/* The kernel's sigset_t (64 signals), which sigsetsize must give; glibc's is larger. */
#define KSIGSET_SIZE (64 / 8)

/* GETEVENTS with a struct __kernel_timespec (64-bit fields even here) and a signal mask. */
static long getevents32(int fd, long min_nr, long nr, struct io_event *ev,
			const struct __kernel_timespec *ts, const sigset_t *mask)
{
	struct aiopoll_getevents g = {
		.min_nr = min_nr,
		.nr = nr,
		.events = (uintptr_t)ev,
		.timeout = (uintptr_t)ts,
		.sigmask = (uintptr_t)mask,
		.sigsetsize = mask ? KSIGSET_SIZE : 0,
	};

	return ioctl(fd, AIOPOLL_IOC_GETEVENTS, &g);
}

/*
 * fs/aio's io_getevents() for a 32-bit caller with a 64-bit timespec: io_pgetevents_time64
 * without a mask (the test kernel has no CONFIG_COMPAT_32BIT_TIME, so no io_getevents).
 */
static long sys_io_getevents64(aio_context_t ctx, long min_nr, long nr, struct io_event *ev,
			       const struct __kernel_timespec *ts)
{
	return syscall(__NR_io_pgetevents_time64, ctx, min_nr, nr, ev, ts, NULL);
}

/* The event of iocb cb among ev[0..n), or NULL. */
static struct io_event *event_of(struct io_event *ev, int n, struct iocb *cb)
{
	int i;

	for (i = 0; i < n; i++)
		if (ev[i].obj == (uintptr_t)cb)
			return &ev[i];
	return NULL;
}

/* Checks the event of cb: present, with cb's aio_data, and res in the bits of mask. */
static void expect_event_bits(struct __test_metadata *_metadata, struct io_event *ev, int n,
			      struct iocb *cb, long long res, long long mask)
{
	struct io_event *e = event_of(ev, n, cb);

	ASSERT_TRUE(e != NULL) TH_LOG("no event with obj %p among %d", cb, n);
	EXPECT_EQ(cb->aio_data, e->data) TH_LOG("iocb %p", cb);
	EXPECT_EQ(res, e->res & mask) TH_LOG("iocb %p: res %lld", cb, e->res);
}

#define expect_event(_metadata, ev, n, cb, res) \
	expect_event_bits(_metadata, ev, n, cb, res, ~0LL)

/* A context of 32 events with its ring, a tmpfs scratch file and a pipe. */
FIXTURE(compat) {
	struct actx c;
	int file;
	int pipe[2];
	char path[64];
};

FIXTURE_SETUP(compat)
{
	ASSERT_EQ(0, actx_init(&self->c, 32));
	snprintf(self->path, sizeof(self->path), "/tmp/aiopoll-compat-%d", getpid());
	self->file = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->file);
	ASSERT_EQ(0, pipe(self->pipe));
}

FIXTURE_TEARDOWN(compat)
{
	actx_fini(&self->c);
	close(self->file);
	close(self->pipe[0]);
	close(self->pipe[1]);
	unlink(self->path);
}

TEST_F(compat, submit_array_of_32bit_pointers)
{
	struct __kernel_timespec ts = { .tv_sec = 5 }, short_wait = { 0, 50 * 1000 * 1000 };
	static char out[4096], in[4096];
	struct iocb cb[4], *list[4];
	struct io_event ev[8];
	sigset_t wait_mask;
	double t;
	int i;

	for (i = 0; i < (int)sizeof(out); i++)
		out[i] = i * 13 + 5;
	/* One batch of four 32-bit pointers: NOOP, PWRITE, POLL of an empty pipe, NOOP. */
	prep_rw(&cb[0], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	prep_rw(&cb[1], IOCB_CMD_PWRITE, self->file, out, sizeof(out), 512);
	prep_rw(&cb[2], IOCB_CMD_POLL, self->pipe[0], NULL, 0, 0);
	cb[2].aio_buf = POLLIN;
	prep_rw(&cb[3], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	for (i = 0; i < 4; i++) {
		cb[i].aio_data = 0x1000 + i;
		cb[i].aio_key = 0x1234;
		list[i] = &cb[i];
	}
	errno = 0;
	ASSERT_EQ(4, actx_submit(self->c.fd, 4, list)) TH_LOG("submit of 4: %s", strerror(errno));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, cb[i].aio_key) TH_LOG("iocb %d: aio_key not written back", i);

	/* With a timeout: the NOOPs and the write; the poll waits. */
	memset(ev, 0, sizeof(ev));
	ASSERT_EQ(3, getevents32(self->c.fd, 3, 8, ev, &ts, NULL));
	expect_event(_metadata, ev, 3, &cb[0], 0);
	expect_event(_metadata, ev, 3, &cb[1], sizeof(out));
	expect_event(_metadata, ev, 3, &cb[3], 0);
	/* A timeout that expires: 0 events, after 50 ms at least. */
	t = now_sec();
	EXPECT_EQ(0, getevents32(self->c.fd, 1, 8, ev, &short_wait, NULL));
	EXPECT_LE(0.05, now_sec() - t);

	/* The pipe becomes readable; the poll's event comes to a wait with a signal mask. */
	ASSERT_EQ(1, write(self->pipe[1], "x", 1));
	sigemptyset(&wait_mask);
	sigaddset(&wait_mask, SIGUSR1);
	memset(ev, 0, sizeof(ev));
	ASSERT_EQ(1, getevents32(self->c.fd, 1, 8, ev, &ts, &wait_mask));
	/* The pipe's wake-up key, as fs/aio reports it: POLLIN (and POLLRDNORM). */
	expect_event_bits(_metadata, ev, 1, &cb[2], POLLIN, POLLIN | POLLOUT | POLLERR | POLLHUP);

	/* A second batch of two: read back what was written, and a NOOP. */
	prep_rw(&cb[0], IOCB_CMD_PREAD, self->file, in, sizeof(in), 512);
	prep_rw(&cb[1], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	cb[0].aio_data = 0x2000;
	cb[1].aio_data = 0x2001;
	ASSERT_EQ(2, actx_submit(self->c.fd, 2, list)) TH_LOG("submit of 2: %s", strerror(errno));
	memset(ev, 0, sizeof(ev));
	ASSERT_EQ(2, getevents32(self->c.fd, 2, 8, ev, &ts, &wait_mask));
	expect_event(_metadata, ev, 2, &cb[0], sizeof(in));
	expect_event(_metadata, ev, 2, &cb[1], 0);
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
}

TEST_F(compat, cancel_armed_poll_reaped_from_ring)
{
	struct aiopoll_cancel cn = { 0 };
	struct iocb cb[2], *list[2] = { &cb[0], &cb[1] };
	struct io_event ev[4], res;
	struct pollfd pfd = { .fd = self->c.fd, .events = POLLIN };
	int got = 0, tries;

	/* A poll that stays armed (nothing is written) and a NOOP, in one batch. */
	prep_rw(&cb[0], IOCB_CMD_POLL, self->pipe[0], NULL, 0, 0);
	cb[0].aio_buf = POLLIN;
	cb[0].aio_data = 0xc0ffee;
	prep_rw(&cb[1], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	cb[1].aio_data = 0xbeef;
	errno = 0;
	ASSERT_EQ(2, actx_submit(self->c.fd, 2, list)) TH_LOG("submit of 2: %s", strerror(errno));

	/* Cancelled through its 32-bit address: EINPROGRESS, and its event has res 0. */
	cn.iocb = (uintptr_t)&cb[0];
	cn.result = (uintptr_t)&res;
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINPROGRESS, errno) TH_LOG("cancel: %s", strerror(errno));
	/* Both events from the mapped ring, without a system call to reap (5 s at most). */
	for (tries = 0; got < 2 && tries < 50; tries++) {
		got += ring_reap(self->c.ring, ev + got, 4 - got);
		if (got < 2)
			poll(&pfd, 1, 100);
	}
	ASSERT_EQ(2, got);
	expect_event(_metadata, ev, 2, &cb[0], 0);
	expect_event(_metadata, ev, 2, &cb[1], 0);
	EXPECT_EQ(0, event_of(ev, 2, &cb[0])->res2);
	/* Cancelled once: now unknown. */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINVAL, errno);
}

/* Submits the 3 pointers at list to fs/aio's context a and to aiopoll's fd: results, errnos. */
static void both_submit(aio_context_t a, int fd, struct iocb **list, long *r_aio, int *e_aio,
			long *r_ap, int *e_ap)
{
	errno = 0;
	*r_aio = sys_io_submit(a, 3, list);
	*e_aio = errno;
	errno = 0;
	*r_ap = actx_submit(fd, 3, list);
	*e_ap = errno;
}

TEST_F(compat, submit_counts_as_fs_aio_compat)
{
	struct __kernel_timespec ts = { .tv_sec = 5 };
	struct iocb cb[3], *list[4];
	struct io_event ev[4];
	aio_context_t a = 0;
	char buf[16];
	long r1, r2;
	int i, e1, e2;

	/*
	 * fs/aio's compat io_submit() in the same process is the reference: three reads (fs/aio
	 * has no NOOP; reads of the empty tmpfs file complete within the submission) go in;
	 * with a bad third pointer, two; with a bad first one, EFAULT.
	 */
	ASSERT_EQ(0, sys_io_setup(8, &a));
	for (i = 0; i < 3; i++) {
		prep_rw(&cb[i], IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
		list[i] = &cb[i];
	}
	list[3] = (struct iocb *)0xdeadbeef;
	ASSERT_EQ(3, sys_io_submit(a, 3, list));
	ASSERT_EQ(3, sys_io_getevents64(a, 3, 4, ev, &ts));
	errno = 0;
	r1 = actx_submit(self->c.fd, 3, list);
	EXPECT_EQ(3, r1) TH_LOG("submit of 3: %s", strerror(errno));
	if (r1 == 3) {
		ASSERT_EQ(3, getevents32(self->c.fd, 3, 4, ev, &ts, NULL));
		for (i = 0; i < 3; i++)
			expect_event(_metadata, ev, 3, &cb[i], 0);
	}

	list[2] = (struct iocb *)8;
	both_submit(a, self->c.fd, list, &r2, &e2, &r1, &e1);
	EXPECT_EQ(2, r2) TH_LOG("fs/aio: %s", strerror(e2));
	EXPECT_EQ(r2, r1) TH_LOG("aiopoll: %s", strerror(e1));
	if (r1 > 0)
		EXPECT_EQ(r1, getevents32(self->c.fd, r1, 4, ev, &ts, NULL));
	if (r2 > 0)
		EXPECT_EQ(r2, sys_io_getevents64(a, r2, 4, ev, &ts));

	list[0] = (struct iocb *)8;
	both_submit(a, self->c.fd, list, &r2, &e2, &r1, &e1);
	EXPECT_EQ(-1, r2);
	EXPECT_EQ(EFAULT, e2);
	EXPECT_EQ(-1, r1);
	EXPECT_EQ(EFAULT, e1) TH_LOG("aiopoll: %s", strerror(e1));

	/* One pointer, with a non-zero word after it that is not part of the array. */
	list[0] = &cb[0];
	list[1] = (struct iocb *)0xdeadbeef;
	errno = 0;
	EXPECT_EQ(1, actx_submit(self->c.fd, 1, list)) TH_LOG("submit of 1: %s", strerror(errno));
	memset(ev, 0, sizeof(ev));
	EXPECT_EQ(1, getevents32(self->c.fd, 1, 4, ev, &ts, NULL));
	EXPECT_EQ((uintptr_t)&cb[0], ev[0].obj);
	sys_io_destroy(a);
}

TEST_HARNESS_MAIN
