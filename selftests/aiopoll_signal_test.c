// SPDX-License-Identifier: GPL-2.0
/*
 * The signal mask of AIOPOLL_IOC_GETEVENTS: installed atomically for the wait and restored
 * after it, with pselect()/io_pgetevents() semantics, and fs/aio's errnos and their order;
 * compared with fs/aio's io_pgetevents() in the same process.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

/* The kernel's sigset_t (64 signals), which sigsetsize must give; glibc's is larger. */
#define KSIGSET_SIZE (64 / 8)

static volatile sig_atomic_t handled;
static sigset_t mask_in_handler;

static void on_usr1(int sig)
{
	handled++;
	sigprocmask(SIG_BLOCK, NULL, &mask_in_handler);
}

struct kicker {
	pid_t tid;
	int sig;
	int delay_ms;
};

/* Sends a signal to one thread after a delay. */
static void *kick(void *arg)
{
	struct kicker *k = arg;

	usleep(k->delay_ms * 1000);
	syscall(SYS_tgkill, getpid(), k->tid, k->sig);
	return NULL;
}

static long getevents_masked(int fd, long min_nr, long nr, struct io_event *ev,
			     struct timespec *ts, const sigset_t *mask, size_t size)
{
	struct aiopoll_getevents g = {
		.min_nr = min_nr,
		.nr = nr,
		.events = (unsigned long)ev,
		.timeout = (unsigned long)ts,
		.sigmask = (unsigned long)mask,
		.sigsetsize = size,
	};

	return ioctl(fd, AIOPOLL_IOC_GETEVENTS, &g);
}

/* A context, SIGUSR1 handled (without SA_RESTART) and blocked in the caller's mask. */
FIXTURE(sig) {
	struct actx c;
	sigset_t old;
};

FIXTURE_SETUP(sig)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t block;

	ASSERT_EQ(0, actx_init(&self->c, 16));
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &block, &self->old));
	handled = 0;
}

FIXTURE_TEARDOWN(sig)
{
	sigset_t pending;
	struct timespec zero = { 0 };

	/* Drain a SIGUSR1 a test left pending, then restore the mask. */
	sigemptyset(&pending);
	sigaddset(&pending, SIGUSR1);
	sigtimedwait(&pending, NULL, &zero);
	sigprocmask(SIG_SETMASK, &self->old, NULL);
	signal(SIGUSR1, SIG_DFL);
	actx_fini(&self->c);
}

static void expect_caller_mask(struct __test_metadata *_metadata)
{
	sigset_t now;

	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, NULL, &now));
	EXPECT_TRUE(sigismember(&now, SIGUSR1));
	EXPECT_TRUE(sigismember(&now, SIGUSR2));
}

TEST_F(sig, unblocked_signal_interrupts_as_io_pgetevents)
{
	struct kicker k = { .tid = gettid(), .sig = SIGUSR1, .delay_ms = 100 };
	struct io_event ev;
	sigset_t wait_mask, aio_handler_mask;
	struct aio_sigset as = { &wait_mask, KSIGSET_SIZE };
	aio_context_t a = 0;
	pthread_t t;

	/*
	 * The caller blocks SIGUSR1 and SIGUSR2; the wait unblocks everything. SIGUSR1 arrives
	 * during the wait: EINTR, the handler runs, and afterwards the caller's mask is back.
	 * The mask the handler runs with is the kernel's pselect()/io_pgetevents() one (the
	 * wait's mask plus the signal, the caller's being restored by sigreturn): compare with
	 * fs/aio's io_pgetevents in the same process.
	 */
	sigemptyset(&wait_mask);
	ASSERT_EQ(0, sys_io_setup(4, &a));
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &k));
	EXPECT_EQ(-1, sys_io_pgetevents(a, 1, 1, &ev, NULL, &as));
	EXPECT_EQ(EINTR, errno);
	pthread_join(t, NULL);
	ASSERT_EQ(1, handled);
	aio_handler_mask = mask_in_handler;
	sys_io_destroy(a);
	expect_caller_mask(_metadata);

	handled = 0;
	sigemptyset(&mask_in_handler);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &k));
	EXPECT_EQ(-1, getevents_masked(self->c.fd, 1, 1, &ev, NULL, &wait_mask, KSIGSET_SIZE));
	EXPECT_EQ(EINTR, errno);
	pthread_join(t, NULL);
	EXPECT_EQ(1, handled);
	EXPECT_EQ(sigismember(&aio_handler_mask, SIGUSR1), sigismember(&mask_in_handler, SIGUSR1));
	EXPECT_EQ(sigismember(&aio_handler_mask, SIGUSR2), sigismember(&mask_in_handler, SIGUSR2));
	expect_caller_mask(_metadata);
}

TEST_F(sig, blocked_signal_does_not_interrupt)
{
	struct kicker k = { .tid = gettid(), .sig = SIGUSR1, .delay_ms = 50 };
	struct timespec ts = { 0, 400 * 1000 * 1000 };
	struct io_event ev;
	sigset_t wait_mask, pending;
	pthread_t t;

	/* The wait keeps SIGUSR1 blocked: it stays pending and the wait times out. */
	sigemptyset(&wait_mask);
	sigaddset(&wait_mask, SIGUSR1);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &k));
	EXPECT_EQ(0, getevents_masked(self->c.fd, 1, 1, &ev, &ts, &wait_mask, KSIGSET_SIZE));
	pthread_join(t, NULL);
	EXPECT_EQ(0, handled);
	ASSERT_EQ(0, sigpending(&pending));
	EXPECT_TRUE(sigismember(&pending, SIGUSR1));
	expect_caller_mask(_metadata);
}

TEST_F(sig, events_win_over_a_pending_signal)
{
	struct io_event ev[2];
	struct iocb cb;
	sigset_t wait_mask;

	/* A signal pending before the call and an event ready: the event is returned. */
	prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
	sigemptyset(&wait_mask);
	EXPECT_EQ(1, getevents_masked(self->c.fd, 1, 2, ev, NULL, &wait_mask, KSIGSET_SIZE));
	EXPECT_EQ((unsigned long)&cb, ev[0].obj);
	/* Delivered on the way out, under the wait's mask, and the caller's mask is back. */
	EXPECT_EQ(1, handled);
	expect_caller_mask(_metadata);
}

TEST_F(sig, mask_restored_after_a_normal_wait)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct io_event ev;
	sigset_t wait_mask;

	sigfillset(&wait_mask);
	EXPECT_EQ(0, getevents_masked(self->c.fd, 1, 1, &ev, &ts, &wait_mask, KSIGSET_SIZE));
	sigemptyset(&wait_mask);
	EXPECT_EQ(0, getevents_masked(self->c.fd, 1, 1, &ev, &ts, &wait_mask, KSIGSET_SIZE));
	expect_caller_mask(_metadata);
	EXPECT_EQ(0, handled);
}

TEST_F(sig, errors_in_fs_aio_order)
{
	struct timespec zero = { 0 };
	struct io_event ev;
	aio_context_t a = 0;
	sigset_t m;
	struct {
		struct timespec *ts;
		const sigset_t *mask;
		size_t size;
		long min_nr, nr;
		int err;
	} cases[] = {
		{ &zero, (sigset_t *)8, KSIGSET_SIZE, 1, 1, EFAULT },	/* bad mask */
		{ &zero, &m, 4, 1, 1, EINVAL },					/* bad size */
		{ &zero, &m, sizeof(sigset_t), 1, 1, EINVAL },			/* glibc's size */
		{ (struct timespec *)8, (sigset_t *)8, 3, 1, 1, EFAULT },	/* timeout first */
		{ &zero, (sigset_t *)8, 3, 1, 1, EINVAL },			/* size before mask */
		{ &zero, &m, KSIGSET_SIZE, 2, 1, EINVAL },			/* min_nr > nr */
		{ &zero, NULL, 3, 0, 1, 0 },					/* no mask: size ignored */
	};
	size_t i;

	sigemptyset(&m);
	ASSERT_EQ(0, sys_io_setup(4, &a));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aio_sigset as = { cases[i].mask, cases[i].size };
		long r1, r2;
		int e1, e2;

		errno = 0;
		r1 = getevents_masked(self->c.fd, cases[i].min_nr, cases[i].nr, &ev, cases[i].ts,
				      cases[i].mask, cases[i].size);
		e1 = errno;
		errno = 0;
		r2 = sys_io_pgetevents(a, cases[i].min_nr, cases[i].nr, &ev, cases[i].ts, &as);
		e2 = errno;
		EXPECT_EQ(r2, r1) TH_LOG("case %zu", i);
		EXPECT_EQ(e2, e1) TH_LOG("case %zu: fs/aio %s, aiopoll %s", i, strerror(e2),
					 strerror(e1));
		if (cases[i].err) {
			EXPECT_EQ(-1, r1);
			EXPECT_EQ(cases[i].err, e1) TH_LOG("case %zu: %s", i, strerror(e1));
		} else {
			EXPECT_EQ(0, r1);
		}
	}
	sys_io_destroy(a);
	expect_caller_mask(_metadata);
}

/* Whether the calling thread's blocked mask is exactly *want, for every signal. */
static int same_mask(const sigset_t *want)
{
	sigset_t now;
	int sig;

	if (sigprocmask(SIG_BLOCK, NULL, &now))
		return 0;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&now, sig) != sigismember(want, sig))
			return 0;
	return 1;
}

TEST_F(sig, mask_restored_after_every_error)
{
	struct timespec zero = { 0 };
	struct io_event ev[2];
	struct iocb cb;
	sigset_t usr1, before, wait_mask;
	aio_context_t a = 0;
	char buf[8];
	int zero_fd;
	struct {
		const char *what;
		long min_nr, nr;
		struct io_event *events;
		struct timespec *ts;
		int err;
	} cases[] = {
		/* Refused after the mask is installed. */
		{ "min_nr > nr", 2, 1, ev, &zero, EINVAL },
		{ "bad events, an event pending", 1, 2, (struct io_event *)8, &zero, EFAULT },
		{ "kernel events, an event pending", 1, 2,
		  (struct io_event *)0xffff888000000000UL, &zero, EFAULT },
		{ "nr < 0", 0, -1, ev, &zero, EINVAL },
		/* Refused before it: nothing may be left behind either. */
		{ "bad timeout", 1, 2, ev, (struct timespec *)8, EFAULT },
		{ "kernel timeout", 1, 2, ev, (struct timespec *)0xffff888000000000UL, EFAULT },
	};
	size_t i;

	/*
	 * The thread leaves SIGUSR1 unblocked; each call's mask blocks it (and SIGTERM). Every
	 * call fails, some after the mask could have been swapped in: afterwards the thread's
	 * mask is exactly the one before, as after fs/aio's io_pgetevents() with the same
	 * arguments, and a SIGUSR1 is delivered at once.
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	ASSERT_EQ(0, sigprocmask(SIG_UNBLOCK, &usr1, &before));
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, NULL, &before));
	ASSERT_FALSE(sigismember(&before, SIGUSR1));
	sigemptyset(&wait_mask);
	sigaddset(&wait_mask, SIGUSR1);
	sigaddset(&wait_mask, SIGTERM);
	ASSERT_EQ(0, sys_io_setup(4, &a));
	/*
	 * An event pending in both, so that a copy-out is really attempted: a read of
	 * /dev/zero, which completes within the submission (fs/aio has no NOOP).
	 */
	zero_fd = open("/dev/zero", O_RDONLY);
	ASSERT_LE(0, zero_fd);
	prep_rw(&cb, IOCB_CMD_PREAD, zero_fd, buf, sizeof(buf), 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, sys_io_submit(a, 1, (struct iocb *[]){ &cb }));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aio_sigset as = { &wait_mask, KSIGSET_SIZE };

		errno = 0;
		EXPECT_EQ(-1, sys_io_pgetevents(a, cases[i].min_nr, cases[i].nr, cases[i].events,
						cases[i].ts, &as));
		EXPECT_EQ(cases[i].err, errno) TH_LOG("fs/aio, %s: %s", cases[i].what,
						     strerror(errno));
		EXPECT_TRUE(same_mask(&before)) TH_LOG("fs/aio, %s: mask changed", cases[i].what);
		errno = 0;
		EXPECT_EQ(-1, getevents_masked(self->c.fd, cases[i].min_nr, cases[i].nr,
					       cases[i].events, cases[i].ts, &wait_mask,
					       KSIGSET_SIZE)) TH_LOG("%s", cases[i].what);
		EXPECT_EQ(cases[i].err, errno) TH_LOG("%s: %s", cases[i].what, strerror(errno));
		EXPECT_TRUE(same_mask(&before)) TH_LOG("%s: the wait's mask was left installed",
						       cases[i].what);
	}
	/* The event is still there, and SIGUSR1 really is unblocked. */
	EXPECT_EQ(1, getevents_masked(self->c.fd, 1, 2, ev, &zero, NULL, 0));
	EXPECT_EQ((unsigned long)&cb, ev[0].obj);
	EXPECT_EQ(0, handled);
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
	EXPECT_EQ(1, handled);
	sys_io_destroy(a);
	close(zero_fd);
}

TEST_HARNESS_MAIN
