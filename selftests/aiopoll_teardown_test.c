// SPDX-License-Identifier: GPL-2.0
/*
 * Teardown under load and the limits at their edges: processes SIGKILLed in the middle of
 * submissions, waits and polls leave no context behind (the module's use count returns to
 * where it was); rmmod is refused, never blocks and never breaks anything while contexts are
 * busy; the system-wide event limit holds when many threads set contexts up at once; and
 * each bound user space chooses (events per context, iovec count, batch size) is accepted at
 * its limit and refused one past it.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/time_types.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

/* The module's use count: one per open context file (and per in-flight release). */
static long module_refcnt(void)
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
static long refcnt_settles(long want)
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

/* A busy child: contexts with I/O, armed one-shot and multishot polls, waits; forever. */
static void busy_child(unsigned int seed)
{
	static char buf[8][4096];
	struct actx c[2];
	struct iocb cbs[8], *ptrs[8];
	struct io_event ev[8];
	struct timespec ts = { 0, 1000000 };
	char path[] = "/tmp/aiopoll_teardown.XXXXXX";
	int p[2], file, i, k = 0;

	file = mkstemp(path);
	unlink(path);
	if (file < 0 || pipe(p) || actx_init(&c[0], 64) || actx_init(&c[1], 8))
		_exit(1);
	for (;;) {
		struct actx *x = &c[k++ % 2];

		for (i = 0; i < 8; i++) {
			ptrs[i] = &cbs[i];
			switch ((seed + k + i) % 4) {
			case 0:
				prep_rw(&cbs[i], IOCB_CMD_PWRITE, file, buf[i], 4096, 4096 * i);
				break;
			case 1:
				prep_rw(&cbs[i], IOCB_CMD_PREAD, file, buf[i], 4096, 4096 * i);
				break;
			case 2:
				prep_rw(&cbs[i], IOCB_CMD_POLL, p[0], NULL, 0, 0);
				cbs[i].aio_buf = POLLIN;
				break;
			default:
				prep_rw(&cbs[i], IOCB_CMD_POLL, p[0], NULL, 0, 0);
				cbs[i].aio_buf = POLLIN;
				cbs[i].aio_flags = AIOPOLL_IOCB_FLAG_MULTISHOT;
				break;
			}
		}
		actx_submit(x->fd, 8, ptrs);
		if (k % 3 == 0 && write(p[1], "z", 1) < 0)
			_exit(2);
		actx_getevents(x->fd, 1, 8, ev, &ts);
		if (k % 7 == 0) {	/* drain the pipe now and then */
			char junk[64];

			fcntl(p[0], F_SETFL, O_NONBLOCK);
			while (read(p[0], junk, sizeof(junk)) > 0)
				;
		}
	}
}

/* A fixture only for TEST_F_TIMEOUT: STRESS=full rounds outlast the harness's 30 s. */
FIXTURE(td) {
	int unused;
};
FIXTURE_SETUP(td)
{
}
FIXTURE_TEARDOWN(td)
{
}

TEST_F_TIMEOUT(td, sigkill_mid_operation_leaves_nothing, 1800)
{
	long rounds = stress_rounds(20, 300), base = module_refcnt(), r;

	ASSERT_LE(0, base);
	for (r = 0; r < rounds; r++) {
		pid_t kids[4];
		int i, status;

		for (i = 0; i < 4; i++) {
			kids[i] = fork();
			if (kids[i] == 0)
				busy_child((unsigned int)(r * 4 + i));
			ASSERT_LT(0, kids[i]);
		}
		usleep(20000 + 10000 * (r % 10));	/* mid-way, at a different point each round */
		for (i = 0; i < 4; i++)
			kill(kids[i], SIGKILL);
		for (i = 0; i < 4; i++) {
			ASSERT_EQ(kids[i], waitpid(kids[i], &status, 0));
			/* Killed, not failed on its own. */
			ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("child %d: 0x%x", i, status);
		}
	}
	/* Every context of every killed process was released. */
	EXPECT_EQ(base, refcnt_settles(base));
}

static int delete_module(const char *name)
{
	return syscall(__NR_delete_module, name, O_NONBLOCK);
}

TEST_F_TIMEOUT(td, rmmod_refused_while_busy, 600)
{
	long base = module_refcnt();
	pid_t kids[2];
	int i, status, refused = 0;

	ASSERT_LE(0, base);
	for (i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			busy_child(100 + i);
		ASSERT_LT(0, kids[i]);
	}
	usleep(50000);
	/* Each attempt returns at once with EWOULDBLOCK; the children carry on unharmed. */
	for (i = 0; i < 50; i++) {
		errno = 0;
		if (delete_module("aiopoll") == -1 && errno == EWOULDBLOCK)
			refused++;
		usleep(2000);
	}
	EXPECT_EQ(50, refused);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, waitpid(kids[i], &status, WNOHANG)) TH_LOG("child %d died", i);
		kill(kids[i], SIGKILL);
		waitpid(kids[i], &status, 0);
	}
	EXPECT_EQ(base, refcnt_settles(base));
}

/*
 * The module's max_events: Rust module parameters do not appear in sysfs in 7.3 (the module!
 * macro registers them with permissions 0), so the guest loads aiopoll.ko with the default;
 * AIOPOLL_MAX_EVENTS says otherwise.
 */
static long max_events_param(void)
{
	const char *s = getenv("AIOPOLL_MAX_EVENTS");

	return s ? atol(s) : 65536;
}

/* Racing setups: how many of THREADS contexts of NR events each got set up. */
#define THREADS 16
#define NR 5000

static pthread_barrier_t barrier;
static int fds[THREADS];
static int results[THREADS];

static void *setup_one(void *arg)
{
	long i = (long)arg;
	struct aiopoll_setup s = { .nr_events = NR };

	fds[i] = aiopoll_open();
	pthread_barrier_wait(&barrier);
	results[i] = ioctl(fds[i], AIOPOLL_IOC_SETUP, &s) ? -errno : 0;
	return NULL;
}

TEST_F_TIMEOUT(td, event_limit_holds_under_racing_setups, 1800)
{
	long max_events = max_events_param(), want, round;
	pthread_t th[THREADS];
	int i;

	/* fs/aio's accounting: each context counts its requested nr_events. */
	want = max_events / NR < THREADS ? max_events / NR : THREADS;
	ASSERT_LT(want, THREADS) TH_LOG("the limit must be reachable by the threads");
	for (round = 0; round < stress_rounds(5, 100); round++) {
		int ok = 0, again = 0;

		pthread_barrier_init(&barrier, NULL, THREADS);
		for (i = 0; i < THREADS; i++)
			ASSERT_EQ(0, pthread_create(&th[i], NULL, setup_one, (void *)(long)i));
		for (i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&barrier);
		for (i = 0; i < THREADS; i++) {
			ok += results[i] == 0;
			again += results[i] == -EAGAIN;
			close(fds[i]);
		}
		/* Exactly as many as fit: never more, and none lost to the race either. */
		EXPECT_EQ(want, ok) TH_LOG("round %ld", round);
		EXPECT_EQ(THREADS - want, again);
	}
}

TEST_F_TIMEOUT(td, bounds_at_their_edges, 600)
{
	char data[1024];
	static struct iocb many[512], *mp[512];
	struct __kernel_timespec ts = { 0, 0 };
	struct io_event evs[4];
	unsigned long long mask = 0;
	struct aiopoll_getevents g = {
		.nr = 4, .events = (uintptr_t)evs, .timeout = (uintptr_t)&ts,
		.sigmask = (uintptr_t)&mask, .sigsetsize = 128,
	};
	struct aiopoll_setup s = { 0 };
	struct iovec iov[1025];
	struct iocb cb, *ptrs[1];
	struct io_event ev;
	long max_events = max_events_param();
	struct actx c;
	int fd, file, i;
	char path[] = "/tmp/aiopoll_bounds.XXXXXX";

	/* Events per context: max_events is taken, one more is refused with EAGAIN. */
	fd = aiopoll_open();
	s.nr_events = max_events + 1;
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(EAGAIN, errno);
	s.nr_events = max_events;
	EXPECT_EQ(0, ioctl(fd, AIOPOLL_IOC_SETUP, &s)) TH_LOG("%s", strerror(errno));
	close(fd);

	ASSERT_EQ(0, actx_init(&c, 4));
	file = mkstemp(path);
	ASSERT_LE(0, file);
	unlink(path);
	memset(data, 'v', sizeof(data));
	ASSERT_EQ(sizeof(data), write(file, data, sizeof(data)));

	/* iovec count: UIO_MAXIOV (1024) segments work, 1025 are refused with EINVAL. */
	for (i = 0; i < 1025; i++)
		iov[i] = (struct iovec){ data + i % 1024, 1 };
	prep_rw(&cb, IOCB_CMD_PREADV, file, iov, 1024, 0);
	ASSERT_EQ(1, actx_submit1(c.fd, &cb));
	ASSERT_EQ(1, actx_getevents(c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ(1024, (long)ev.res);
	prep_rw(&cb, IOCB_CMD_PREADV, file, iov, 1025, 0);
	EXPECT_EQ(-1, actx_submit1(c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);

	/* Batch size: nr < 0 is EINVAL; more than the ring holds is cut to what fits. */
	ptrs[0] = &cb;
	EXPECT_EQ(-1, actx_submit(c.fd, -1, ptrs));
	EXPECT_EQ(EINVAL, errno);
	for (i = 0; i < 512; i++) {
		prep_rw(&many[i], IOCB_CMD_NOOP, 0, NULL, 0, 0);
		mp[i] = &many[i];
	}
	EXPECT_EQ((long)c.nr - 1, actx_submit(c.fd, 512, mp)) TH_LOG("ring of %u slots", c.nr);
	EXPECT_EQ(-1, actx_submit(c.fd, 1, mp));
	EXPECT_EQ(EAGAIN, errno);

	/* sigsetsize must be the kernel's 8 bytes. */
	EXPECT_EQ(-1, ioctl(c.fd, AIOPOLL_IOC_GETEVENTS, &g));
	EXPECT_EQ(EINVAL, errno);
	actx_fini(&c);
	close(file);
}

TEST_HARNESS_MAIN
