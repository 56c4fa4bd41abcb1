// SPDX-License-Identifier: GPL-2.0
/*
 * Teardown under load and the limits at their edges: processes SIGKILLed in the middle of
 * submissions, waits and polls leave no context behind (the module's use count returns to
 * where it was); rmmod is refused, never blocks and never breaks anything while contexts are
 * busy; the system-wide event limit holds when many threads set contexts up at once; and
 * each bound user space chooses (events per context, iovec count, batch size) is accepted at
 * its limit and refused one past it; and the ring and the requests are charged to the
 * caller's memory cgroup.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/time_types.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

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

/*
 * Memory accounting: a context's ring (vmalloc) and its requests are kernel memory that user
 * space makes the kernel allocate at will, so they must be charged to the caller's memory
 * cgroup, as fs/aio's are. A child in a cgroup of its own sets up a context of 32768 events
 * (a ring of about 2 MiB) and arms MEMCG_POLLS one-shot polls on one pipe; memory.current
 * must grow by at least 3/4 of the ring's size, then by at least 128 bytes a request.
 * Charges go through a per-CPU stock of up to 64 pages (256 KiB), so memory.current moves in
 * steps of 64 pages and may lag a charge by up to one step: the child stays on one CPU,
 * prepares every fd and every page of user memory it needs before it measures, and the
 * thresholds leave one step of room below the charges expected (a request is far larger
 * than 128 bytes).
 */
#define CGROOT "/sys/fs/cgroup"
#define MEMCG_POLLS 4096

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* The value of memory.current, or of line `key` of memory.stat; -1 if not found. */
static long memcg_read(const char *cg, const char *key)
{
	char path[128], buf[8192], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cg, key ? "memory.stat" : "memory.current");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (!key)
		return atol(buf);
	for (p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, key, strlen(key)) && p[strlen(key)] == ' ')
			return atol(p + strlen(key) + 1);
	}
	return -1;
}

/* What the child measured: memory.current and three memory.stat lines at three points. */
struct memcg_sample {
	long current, kernel, vmalloc, slab;
};

struct memcg_report {
	int step;		/* 0: done; else the step that failed */
	int err;
	long ring_size;
	struct memcg_sample at[3];	/* before setup, after setup, after the polls */
};

static void memcg_sample(const char *cg, struct memcg_sample *m)
{
	m->current = memcg_read(cg, NULL);
	m->kernel = memcg_read(cg, "kernel");
	m->vmalloc = memcg_read(cg, "vmalloc");
	m->slab = memcg_read(cg, "slab");
}

static void memcg_child(const char *cg, struct memcg_report *rep)
{
	static struct iocb cbs[MEMCG_POLLS], *list[MEMCG_POLLS];
	char procs[160];
	cpu_set_t one;
	struct actx c;
	int p[2], i;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	rep->step = 1;
	if (sched_setaffinity(0, sizeof(one), &one))
		goto fail;
	rep->step = 2;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	if (write_str(procs, "0"))
		goto fail;
	rep->step = 3;
	if (pipe(p))
		goto fail;
	for (i = 0; i < MEMCG_POLLS; i++) {	/* touches the pages of both arrays */
		prep_rw(&cbs[i], IOCB_CMD_POLL, p[0], NULL, 0, 0);
		cbs[i].aio_buf = POLLIN;
		list[i] = &cbs[i];
	}
	memcg_sample(cg, &rep->at[0]);	/* one to fill the CPU's stock, */
	memcg_sample(cg, &rep->at[0]);	/* one to keep */
	rep->step = 4;
	if (actx_init(&c, 32768))
		goto fail;
	rep->ring_size = c.ring_size;
	memcg_sample(cg, &rep->at[1]);
	rep->step = 5;
	for (i = 0; i < MEMCG_POLLS; i += 512)
		if (actx_submit(c.fd, 512, list + i) != 512)
			goto fail;
	memcg_sample(cg, &rep->at[2]);
	rep->step = 0;
	return;
fail:
	rep->err = errno;
}

TEST(ring_and_requests_charged_to_memcg)
{
	char cg[96], ctl[256] = "";
	int mounted = 0, enabled = 0, p[2], i;
	struct memcg_report rep = { .step = -1 };
	struct memcg_sample *m = rep.at;
	pid_t pid;
	int fd;

	if (access(CGROOT "/cgroup.controllers", F_OK)) {
		if (mount("none", CGROOT, "cgroup2", 0, NULL))
			SKIP(return, "cannot mount cgroup2: %s", strerror(errno));
		mounted = 1;
	}
	fd = open(CGROOT "/cgroup.subtree_control", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, read(fd, ctl, sizeof(ctl) - 1));
	close(fd);
	if (!strstr(ctl, "memory")) {
		ASSERT_EQ(0, write_str(CGROOT "/cgroup.subtree_control", "+memory"));
		enabled = 1;
	}
	snprintf(cg, sizeof(cg), CGROOT "/aiopoll-memcg-%d", getpid());
	ASSERT_EQ(0, mkdir(cg, 0755));
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(p[0]);
		memcg_child(cg, &rep);
		_exit(write(p[1], &rep, sizeof(rep)) == sizeof(rep) ? 0 : 1);
	}
	close(p[1]);
	EXPECT_EQ(sizeof(rep), read(p[0], &rep, sizeof(rep)));
	close(p[0]);
	EXPECT_EQ(0, child_exit_status(pid));
	for (i = 0; i < 100 && rmdir(cg) && errno == EBUSY; i++)
		usleep(20 * 1000);
	if (enabled)
		write_str(CGROOT "/cgroup.subtree_control", "-memory");
	if (mounted)
		umount(CGROOT);
	ASSERT_EQ(0, rep.step) TH_LOG("the child failed at step %d: %s", rep.step,
				      strerror(rep.err));
	for (i = 0; i < 3; i++)
		TH_LOG("%s: memory.current %ld, kernel %ld, vmalloc %ld, slab %ld",
		       i == 0 ? "before setup" : i == 1 ? "after setup" : "after the polls",
		       m[i].current, m[i].kernel, m[i].vmalloc, m[i].slab);
	TH_LOG("ring_size %ld; grew %ld by the setup, %ld by %d polls (%ld a poll)",
	       rep.ring_size, m[1].current - m[0].current, m[2].current - m[1].current,
	       MEMCG_POLLS, (m[2].current - m[1].current) / MEMCG_POLLS);
	EXPECT_LE(rep.ring_size * 3 / 4, m[1].current - m[0].current)
		TH_LOG("the ring is not charged to the caller's memory cgroup");
	EXPECT_LE(MEMCG_POLLS * 128L, m[2].current - m[1].current)
		TH_LOG("the requests are not charged to the caller's memory cgroup");
}

TEST_HARNESS_MAIN
