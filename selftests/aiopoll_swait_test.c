// SPDX-License-Identifier: GPL-2.0
/*
 * AIOPOLL_IOC_SUBMIT_WAIT (ABI 1.6): submission then wait in one call, as io_uring_enter(2)
 * with to_submit and min_complete. Every argument of the wait is checked before anything is
 * submitted; the number submitted is reported also when the wait then fails; a partial
 * submission does not wait; a signal ends the wait with EINTR and never restarts the call
 * (which would submit again); the signal mask is the caller's again afterwards.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

/* The kernel's sigset_t (64 signals). */
#define KSIGSET_SIZE (64 / 8)

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	handled++;
}

static long submit_wait(int fd, struct aiopoll_submit_wait *w)
{
	return ioctl(fd, AIOPOLL_IOC_SUBMIT_WAIT, w);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Events in the ring, not yet reaped. */
static unsigned int ring_pending(struct aiopoll_ring *r)
{
	unsigned int head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	unsigned int tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	return (tail + r->nr - head) % r->nr;
}

static void prep_noop(struct iocb *cb, unsigned long data)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = IOCB_CMD_NOOP;
	cb->aio_data = data;
}

static void prep_poll(struct iocb *cb, int fd)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = IOCB_CMD_POLL;
	cb->aio_fildes = fd;
	cb->aio_buf = POLLIN;
	cb->aio_data = (unsigned long)cb;
}

FIXTURE(sw) {
	struct actx c;
	int pipe[2];
};

FIXTURE_SETUP(sw)
{
	struct aiopoll_version v;

	ASSERT_EQ(0, actx_init(&self->c, 16));
	ASSERT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_VERSION, &v));
	ASSERT_TRUE(v.features & AIOPOLL_FEAT_SUBMIT_WAIT);
	ASSERT_EQ(0, pipe2(self->pipe, O_CLOEXEC));
	handled = 0;
}

FIXTURE_TEARDOWN(sw)
{
	close(self->pipe[0]);
	close(self->pipe[1]);
	actx_fini(&self->c);
}

TEST_F(sw, noops_complete_in_the_same_call)
{
	struct iocb cbs[4], *p[4];
	struct io_event ev[8];
	struct aiopoll_submit_wait w = {
		.nr = 4, .iocbpp = (unsigned long)p, .min_nr = 4, .max_nr = 8,
		.events = (unsigned long)ev,
	};
	unsigned long seen = 0;
	int i;

	for (i = 0; i < 4; i++) {
		prep_noop(&cbs[i], 1UL << i);
		p[i] = &cbs[i];
	}
	ASSERT_EQ(4, submit_wait(self->c.fd, &w));
	EXPECT_EQ(4, w.submitted);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(0, ev[i].res);
		EXPECT_EQ((unsigned long)&cbs[__builtin_ctzl(ev[i].data)], ev[i].obj);
		seen |= ev[i].data;
	}
	EXPECT_EQ(0xfUL, seen);
	EXPECT_EQ(0, ring_pending(self->c.ring));

	/* nr == 0: only the wait, as GETEVENTS. */
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cbs[0]));
	w.nr = 0;
	w.min_nr = 1;
	w.submitted = -5;
	EXPECT_EQ(1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(0, w.submitted);
	EXPECT_EQ(1UL, ev[0].data);
}

TEST_F(sw, bad_wait_arguments_submit_nothing)
{
	struct iocb cb, *p = &cb;
	struct io_event ev[4];
	sigset_t mask;
	struct aiopoll_submit_wait w;
	struct aiopoll_submit_wait base = {
		.nr = 1, .iocbpp = (unsigned long)&p, .min_nr = 1, .max_nr = 4,
		.events = (unsigned long)ev,
	};

	prep_noop(&cb, 7);
	sigemptyset(&mask);

	w = base;
	w.min_nr = 5;		/* more than max_nr */
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EINVAL, errno);
	w = base;
	w.min_nr = -1;
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EINVAL, errno);
	w = base;
	w.reserved = 1;
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EINVAL, errno);
	w = base;
	w.timeout = 8;		/* unreadable */
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EFAULT, errno);
	w = base;
	w.sigmask = (unsigned long)&mask;
	w.sigsetsize = 4;	/* not the kernel's sigset_t */
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EINVAL, errno);
	w = base;
	w.sigmask = 8;		/* unreadable */
	w.sigsetsize = KSIGSET_SIZE;
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EFAULT, errno);
	/* None of them submitted the NOOP, which would have completed at once. */
	EXPECT_EQ(0, ring_pending(self->c.ring));
	EXPECT_EQ(0, actx_getevents(self->c.fd, 0, 4, ev, &(struct timespec){ 0, 0 }));

	/* A valid call still works. */
	w = base;
	EXPECT_EQ(1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(1, w.submitted);
	EXPECT_EQ(7, ev[0].data);
}

TEST_F(sw, first_iocb_fails_with_its_errno)
{
	struct iocb bad, cb, *p[2] = { &bad, &cb };
	struct io_event ev[4];
	struct aiopoll_submit_wait w = {
		.nr = 2, .iocbpp = (unsigned long)p, .min_nr = 1, .max_nr = 4,
		.events = (unsigned long)ev, .submitted = -5,
	};

	prep_poll(&bad, 999);	/* no such fd */
	prep_noop(&cb, 1);
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(0, w.submitted);
	EXPECT_EQ(0, ring_pending(self->c.ring));

	/* An unreadable iocb pointer array: EFAULT, nothing submitted. */
	w.iocbpp = 8;
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, w.submitted);
}

TEST_F(sw, partial_submission_does_not_wait)
{
	struct iocb cb, bad, *p[2] = { &cb, &bad };
	struct io_event ev[4];
	struct timespec ts = { .tv_sec = 5 };
	struct aiopoll_submit_wait w = {
		.nr = 2, .iocbpp = (unsigned long)p, .min_nr = 2, .max_nr = 4,
		.events = (unsigned long)ev, .timeout = (unsigned long)&ts,
	};
	double t0 = now_s();

	prep_noop(&cb, 3);
	prep_poll(&bad, 999);
	/* Without the rule it would wait 5 s for a second event that cannot come. */
	EXPECT_EQ(1, submit_wait(self->c.fd, &w));
	EXPECT_LT(now_s() - t0, 2.0);
	EXPECT_EQ(1, w.submitted);
	EXPECT_EQ(3, ev[0].data);
}

TEST_F(sw, times_out_after_submitting)
{
	struct iocb cb, *p = &cb;
	struct io_event ev[2];
	struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
	struct aiopoll_submit_wait w = {
		.nr = 1, .iocbpp = (unsigned long)&p, .min_nr = 1, .max_nr = 2,
		.events = (unsigned long)ev, .timeout = (unsigned long)&ts,
	};
	struct aiopoll_cancel c = { .iocb = (unsigned long)&cb };
	double t0 = now_s();

	prep_poll(&cb, self->pipe[0]);
	EXPECT_EQ(0, submit_wait(self->c.fd, &w));
	EXPECT_GE(now_s() - t0, 0.05);
	EXPECT_EQ(1, w.submitted);
	/* The poll is armed: a write completes it. */
	ASSERT_EQ(1, write(self->pipe[1], "x", 1));
	EXPECT_EQ(1, actx_getevents(self->c.fd, 1, 2, ev, NULL));
	EXPECT_EQ((unsigned long)&cb, ev[0].data);
	EXPECT_EQ(POLLIN, ev[0].res & POLLIN);
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &c));
	EXPECT_EQ(EINVAL, errno);	/* completed: nothing left to cancel */
}

struct kicker {
	pid_t tid;
	int delay_ms;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;

	usleep(k->delay_ms * 1000);
	syscall(SYS_tgkill, getpid(), k->tid, SIGUSR1);
	return NULL;
}

TEST_F(sw, signal_ends_the_wait_without_a_restart)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct kicker k = { .tid = gettid(), .delay_ms = 100 };
	struct iocb cb, *p = &cb;
	struct io_event ev[2];
	struct aiopoll_cancel c = { .iocb = (unsigned long)&cb };
	sigset_t block, old, wait_mask, now;
	struct aiopoll_submit_wait w = {
		.nr = 1, .iocbpp = (unsigned long)&p, .min_nr = 1, .max_nr = 2,
		.events = (unsigned long)ev, .sigmask = (unsigned long)&wait_mask,
		.sigsetsize = KSIGSET_SIZE,
	};
	pthread_t t;

	/*
	 * SIGUSR1 is blocked in the caller and unblocked for the wait; its handler has
	 * SA_RESTART, which must not make the call run again: the poll was submitted already.
	 */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &block, &old));
	sigemptyset(&wait_mask);
	prep_poll(&cb, self->pipe[0]);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &k));
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EINTR, errno);
	pthread_join(t, NULL);
	EXPECT_EQ(1, handled);
	EXPECT_EQ(1, w.submitted);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, NULL, &now));
	EXPECT_TRUE(sigismember(&now, SIGUSR1));
	/* Exactly one poll armed: cancelled once, one event. */
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &c));
	EXPECT_EQ(EINPROGRESS, errno);
	EXPECT_EQ(1, actx_getevents(self->c.fd, 1, 2, ev, NULL));
	EXPECT_EQ(0, ev[0].res);
	EXPECT_EQ(0, actx_getevents(self->c.fd, 0, 2, ev, &(struct timespec){ 0, 0 }));
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, SIG_DFL);
}

TEST_F(sw, unwritable_events_fault_after_submitting)
{
	struct iocb cb, *p = &cb;
	struct io_event ev[2];
	struct aiopoll_submit_wait w = {
		.nr = 1, .iocbpp = (unsigned long)&p, .min_nr = 1, .max_nr = 2,
		.events = 8,
	};

	prep_noop(&cb, 9);
	EXPECT_EQ(-1, submit_wait(self->c.fd, &w));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, w.submitted);
	/* The event was not lost: it is still in the ring. */
	EXPECT_EQ(1, ring_reap(self->c.ring, ev, 2));
	EXPECT_EQ(9, ev[0].data);
}

TEST_HARNESS_MAIN
