// SPDX-License-Identifier: GPL-2.0
/*
 * Polled block I/O (RWF_HIPRI): O_DIRECT reads and writes on a null_blk device and an NVMe
 * namespace with poll queues, completed by polling from the wait ioctl (and on close), a
 * blocked reaper woken by later polled submissions, and files of ext4 file systems on
 * devices with and without a poll queue.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

#define BS 4096

/* The devices with poll queues that the guest has (see run_tests.sh and check.sh). */
static const char *const devices[] = { "/dev/nullb0", "/dev/nvme0n1" };

FIXTURE(dev) {
	struct actx c;
	int fd;
	char *buf;
};

FIXTURE_VARIANT(dev) {
	int index;
};

FIXTURE_VARIANT_ADD(dev, nullb0) { .index = 0 };
FIXTURE_VARIANT_ADD(dev, nvme0n1) { .index = 1 };

FIXTURE_SETUP(dev)
{
	self->fd = open(devices[variant->index], O_RDWR | O_DIRECT);
	if (self->fd < 0)
		SKIP(return, "%s: %s", devices[variant->index], strerror(errno));
	ASSERT_EQ(0, actx_init(&self->c, 128));
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, BS, 64 * BS));
	/*
	 * Write the first 1 MiB once without polling. null_blk's memory backing allocates its
	 * pages with a sleeping allocation, which its ->poll would do under the RCU read lock
	 * of iocb_bio_iopoll() (a null_blk limitation: io_uring's IOPOLL trips on it too);
	 * overwriting allocated pages does not allocate.
	 */
	memset(self->buf, 0, 64 * BS);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(64 * BS, pwrite(self->fd, self->buf, 64 * BS, (off_t)i * 64 * BS));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0) {
		actx_fini(&self->c);
		close(self->fd);
		free(self->buf);
	}
}

static void prep_hipri(struct iocb *cb, int op, int fd, void *buf, size_t len, long long off)
{
	prep_rw(cb, op, fd, buf, len, off);
	cb->aio_rw_flags = RWF_HIPRI;
}

/* Writes `depth` blocks at a time with RWF_HIPRI, then reads them back and compares. */
static void pattern(struct __test_metadata *_metadata, int ctx, int fd, char *buf, int depth,
		    int total, int seed)
{
	struct iocb cbs[64], *list[64];
	struct io_event ev[64];
	int done, i, j;

	for (done = 0; done < total; done += depth) {
		for (i = 0; i < depth; i++) {
			memset(buf + i * BS, seed + done + i, BS);
			prep_hipri(&cbs[i], IOCB_CMD_PWRITE, fd, buf + i * BS, BS,
				   (long long)(done + i) * BS);
			list[i] = &cbs[i];
		}
		ASSERT_EQ(depth, actx_submit(ctx, depth, list));
		ASSERT_EQ(depth, actx_getevents(ctx, depth, depth, ev, NULL));
		for (i = 0; i < depth; i++)
			ASSERT_EQ(BS, ev[i].res);
	}
	for (done = 0; done < total; done += depth) {
		memset(buf, 0, depth * BS);
		for (i = 0; i < depth; i++) {
			prep_hipri(&cbs[i], IOCB_CMD_PREAD, fd, buf + i * BS, BS,
				   (long long)(done + i) * BS);
			list[i] = &cbs[i];
		}
		ASSERT_EQ(depth, actx_submit(ctx, depth, list));
		ASSERT_EQ(depth, actx_getevents(ctx, depth, depth, ev, NULL));
		for (i = 0; i < depth; i++) {
			struct iocb *cb = (struct iocb *)(unsigned long)ev[i].obj;
			char *b = (char *)(unsigned long)cb->aio_buf;

			ASSERT_EQ(BS, ev[i].res);
			for (j = 0; j < BS; j++)
				if (b[j] != (char)(seed + done + (cb - cbs)))
					break;
			EXPECT_EQ(BS, j) TH_LOG("block %ld", done + (long)(cb - cbs));
		}
	}
}

TEST_F(dev, qd1)
{
	pattern(_metadata, self->c.fd, self->fd, self->buf, 1, 16, 1);
}

TEST_F(dev, qd32)
{
	pattern(_metadata, self->c.fd, self->fd, self->buf, 32, 128, 7);
}

/*
 * DESTROY returns only once the I/O in flight has completed: a polled read, which nothing
 * but a poller completes, is in the ring when it returns (io_destroy()'s guarantee).
 */
TEST_F(dev, destroy_waits_for_polled_io)
{
	struct io_event ev;
	struct iocb cb;

	prep_hipri(&cb, IOCB_CMD_PREAD, self->fd, self->buf, BS, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_DESTROY));
	ASSERT_EQ(1, ring_reap(self->c.ring, &ev, 1));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	EXPECT_EQ(BS, ev.res);
}

TEST_F(dev, completes_only_when_polled)
{
	struct io_event ev;
	struct iocb cb;

	/* On a poll queue nothing completes by interrupt: the event waits for a poller. */
	prep_hipri(&cb, IOCB_CMD_PREAD, self->fd, self->buf, BS, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	usleep(200 * 1000);
	EXPECT_EQ(self->c.ring->head, self->c.ring->tail);
	/* A zero-timeout wait polls once more (maybe not enough); a blocking one gets it. */
	ASSERT_EQ(1, actx_getevents(self->c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ(BS, ev.res);
	EXPECT_EQ((unsigned long)&cb, ev.obj);
}

TEST_F(dev, misaligned_is_einval)
{
	struct io_event ev;
	struct iocb cb;

	/* O_DIRECT alignment errors come back in the event, as without HIPRI and in fs/aio. */
	prep_hipri(&cb, IOCB_CMD_PREAD, self->fd, self->buf + 1, BS, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, actx_getevents(self->c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ(-EINVAL, ev.res);
	prep_hipri(&cb, IOCB_CMD_PREAD, self->fd, self->buf, BS, 100);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, actx_getevents(self->c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ(-EINVAL, ev.res);
}

TEST_F(dev, polled_and_interrupt_driven_together)
{
	struct iocb cbs[16], *list[16];
	struct io_event ev[16];
	int i;

	for (i = 0; i < 16; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, self->fd, self->buf + i * BS, BS,
			(long long)i * BS);
		if (i & 1)
			cbs[i].aio_rw_flags = RWF_HIPRI;
		list[i] = &cbs[i];
	}
	ASSERT_EQ(16, actx_submit(self->c.fd, 16, list));
	ASSERT_EQ(16, actx_getevents(self->c.fd, 16, 16, ev, NULL));
	for (i = 0; i < 16; i++)
		EXPECT_EQ(BS, ev[i].res);
}

struct reaper {
	int ctx;
	long want;
	atomic_long good;	/* res == BS */
	atomic_long einval;	/* res == -EINVAL (misaligned) */
	atomic_long bad;	/* anything else, or a failed wait */
};

/* Polls by zero-timeout waits, as fast as it can, until every event came. */
static void *reap_polling(void *arg)
{
	struct timespec zero = { 0, 0 };
	struct reaper *rp = arg;
	struct io_event ev[64];
	long n, i;

	while (atomic_load(&rp->good) + atomic_load(&rp->einval) + atomic_load(&rp->bad) <
	       rp->want) {
		n = actx_getevents(rp->ctx, 0, 64, ev, &zero);
		if (n < 0) {
			atomic_fetch_add(&rp->bad, 1);
			break;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].res == BS)
				atomic_fetch_add(&rp->good, 1);
			else if (ev[i].res == -EINVAL)
				atomic_fetch_add(&rp->einval, 1);
			else
				atomic_fetch_add(&rp->bad, 1);
		}
	}
	return NULL;
}

static void submit_retrying(struct __test_metadata *_metadata, int ctx, struct iocb *cb)
{
	while (actx_submit1(ctx, cb) != 1) {
		ASSERT_EQ(EAGAIN, errno);
		sched_yield();
	}
}

/*
 * Submissions race a thread that polls the device all the time: a polled request must not
 * be visible to pollers before its kiocb is ready (the fuzzer found a poller calling
 * ->iopoll() through a kiocb still being initialised: a NULL dereference). Interleaved: a
 * misaligned read (its -EINVAL comes in the event) and a submission refused at once (an
 * unknown RWF flag); every event arrives exactly once.
 */
TEST_F_TIMEOUT(dev, submit_races_pollers, 600)
{
	long rounds = stress_rounds(300, 5000), r;
	struct reaper rp = { .ctx = self->c.fd, .want = 2 * rounds };
	struct iocb cb, misaligned, refused;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, reap_polling, &rp));
	for (r = 0; r < rounds; r++) {
		prep_hipri(&refused, IOCB_CMD_PREAD, self->fd, self->buf, BS, 0);
		refused.aio_rw_flags |= 1 << 30;
		EXPECT_EQ(-1, actx_submit1(self->c.fd, &refused));
		prep_hipri(&misaligned, IOCB_CMD_PREAD, self->fd, self->buf + 1, BS, 0);
		submit_retrying(_metadata, self->c.fd, &misaligned);
		prep_hipri(&cb, IOCB_CMD_PREAD, self->fd, self->buf, BS, (r % 256) * BS);
		submit_retrying(_metadata, self->c.fd, &cb);
	}
	pthread_join(t, NULL);
	EXPECT_EQ(rounds, atomic_load(&rp.good));
	EXPECT_EQ(rounds, atomic_load(&rp.einval));
	EXPECT_EQ(0, atomic_load(&rp.bad));
}

/*
 * Two threads poll the same context at once while a third submits: the list of polled
 * requests is the reapers' (one at a time), and every event is reaped exactly once.
 */
TEST_F_TIMEOUT(dev, two_reapers_poll_one_context, 600)
{
	long rounds = stress_rounds(300, 5000), r;
	struct reaper rp = { .ctx = self->c.fd, .want = rounds };
	struct iocb cbs[32];
	pthread_t t[2];

	ASSERT_EQ(0, pthread_create(&t[0], NULL, reap_polling, &rp));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, reap_polling, &rp));
	for (r = 0; r < rounds; r++) {
		struct iocb *cb = &cbs[r % 32];

		/* cbs[r % 32] is reused only once its event came (at most 32 in flight). */
		while (r - (atomic_load(&rp.good) + atomic_load(&rp.bad)) >= 32)
			sched_yield();
		prep_hipri(cb, IOCB_CMD_PREAD, self->fd, self->buf + (r % 32) * BS, BS,
			   (r % 256) * BS);
		submit_retrying(_metadata, self->c.fd, cb);
	}
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	EXPECT_EQ(rounds, atomic_load(&rp.good));
	EXPECT_EQ(0, atomic_load(&rp.einval));
	EXPECT_EQ(0, atomic_load(&rp.bad));
}

/* SUBMIT_WAIT with polled I/O: the call that submits also polls it in. */
TEST_F(dev, submit_wait_polls_in_the_same_call)
{
	struct iocb cbs[32], *list[32];
	struct io_event ev[32];
	struct aiopoll_submit_wait w = {
		.iocbpp = (unsigned long)list, .events = (unsigned long)ev,
	};
	int i, j;

	/* QD1: write a block, read it back, one call each. */
	for (i = 0; i < 16; i++) {
		memset(self->buf, 0x40 + i, BS);
		prep_hipri(&cbs[0], IOCB_CMD_PWRITE, self->fd, self->buf, BS, (long long)i * BS);
		list[0] = &cbs[0];
		w.nr = w.min_nr = w.max_nr = 1;
		ASSERT_EQ(1, ioctl(self->c.fd, AIOPOLL_IOC_SUBMIT_WAIT, &w));
		ASSERT_EQ(1, w.submitted);
		ASSERT_EQ(BS, ev[0].res);
		memset(self->buf, 0, BS);
		prep_hipri(&cbs[0], IOCB_CMD_PREAD, self->fd, self->buf, BS, (long long)i * BS);
		ASSERT_EQ(1, ioctl(self->c.fd, AIOPOLL_IOC_SUBMIT_WAIT, &w));
		ASSERT_EQ(BS, ev[0].res);
		for (j = 0; j < BS && self->buf[j] == (char)(0x40 + i); j++)
			;
		EXPECT_EQ(BS, j);
	}
	/* QD32: every read's event in the one call. */
	for (i = 0; i < 32; i++) {
		prep_hipri(&cbs[i], IOCB_CMD_PREAD, self->fd, self->buf + i * BS, BS,
			   (long long)i * BS);
		list[i] = &cbs[i];
	}
	w.nr = w.min_nr = w.max_nr = 32;
	ASSERT_EQ(32, ioctl(self->c.fd, AIOPOLL_IOC_SUBMIT_WAIT, &w));
	EXPECT_EQ(32, w.submitted);
	for (i = 0; i < 32; i++)
		EXPECT_EQ(BS, ev[i].res);
}

TEST_F(dev, close_and_exit_with_polled_io_in_flight)
{
	struct iocb cbs[32], *list[32];
	int i, r;

	/* Polled requests complete only when polled: close and exit must poll them out. */
	for (r = 0; r < 2; r++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct actx c;

			if (actx_init(&c, 64))
				_exit(10);
			for (i = 0; i < 32; i++) {
				prep_hipri(&cbs[i], IOCB_CMD_PREAD, self->fd, self->buf + i * BS,
					   BS, (long long)i * BS);
				list[i] = &cbs[i];
			}
			if (actx_submit(c.fd, 32, list) != 32)
				_exit(11);
			if (r == 0)
				actx_fini(&c);
			_exit(0);
		}
		EXPECT_EQ(0, child_exit_status(pid));
	}
}

/*
 * The libaio reaper-thread pattern: a thread blocks in GETEVENTS on an idle context, then
 * another submits polled reads. A polled request completes only when someone polls for it,
 * so the blocked reaper must be woken by the submission and poll it in; a sleeper that waits
 * only for head != tail never sees it. The reaper's wait is bounded (REAPER_TIMEOUT_S) so a
 * missed wake-up fails with too few events instead of hanging the run.
 */
#define REAPER_TIMEOUT_S 10

struct blocked_reaper {
	int ctx;
	long min_nr;
	long got;
	int err;
	double waited;
	struct io_event ev[8];
};

static void *reap_blocking(void *arg)
{
	struct blocked_reaper *br = arg;
	struct timespec ts = { REAPER_TIMEOUT_S, 0 };
	double t0 = now_sec();

	br->got = actx_getevents(br->ctx, br->min_nr, br->min_nr, br->ev, &ts);
	br->err = br->got < 0 ? errno : 0;
	br->waited = now_sec() - t0;
	return NULL;
}

/* Writes n blocks of known data (without polling), starts a reaper waiting for n events,
 * submits n polled reads of them one by one, pause_ms apart, and checks what it reaped. */
static void reaper_sees_later_hipri(struct __test_metadata *_metadata, int ctx, int fd,
				    char *buf, int n, int pause_ms)
{
	struct blocked_reaper br = { .ctx = ctx, .min_nr = n };
	char *rd = buf + 8 * BS;
	struct iocb cbs[4];
	pthread_t t;
	int i, j;

	ASSERT_LE(n, 4);
	for (i = 0; i < n; i++)
		memset(buf + i * BS, 0x40 + i, BS);
	ASSERT_EQ(n * BS, pwrite(fd, buf, n * BS, 0));
	memset(rd, 0, n * BS);
	ASSERT_EQ(0, pthread_create(&t, NULL, reap_blocking, &br));
	usleep(300 * 1000);	/* the reaper is asleep on an idle context by now */
	for (i = 0; i < n; i++) {
		if (i)
			usleep(pause_ms * 1000);
		prep_hipri(&cbs[i], IOCB_CMD_PREAD, fd, rd + i * BS, BS, (long long)i * BS);
		ASSERT_EQ(1, actx_submit1(ctx, &cbs[i]));
	}
	pthread_join(t, NULL);
	ASSERT_EQ(n, br.got) TH_LOG("the reaper got %ld of %d events after %.1f s (%s)",
				    br.got, n, br.waited, br.err ? strerror(br.err) : "no error");
	for (i = 0; i < n; i++) {
		struct iocb *cb = (struct iocb *)(unsigned long)br.ev[i].obj;
		char *b;

		ASSERT_TRUE(cb >= cbs && cb < cbs + n);
		/* null_blk ends a polled request nobody polls with -ETIMEDOUT after 5 s. */
		EXPECT_EQ(BS, br.ev[i].res) TH_LOG("block %ld, after %.1f s", (long)(cb - cbs),
						   br.waited);
		if (br.ev[i].res != BS)
			continue;
		b = (char *)(unsigned long)cb->aio_buf;
		for (j = 0; j < BS; j++)
			if (b[j] != (char)(0x40 + (cb - cbs)))
				break;
		EXPECT_EQ(BS, j) TH_LOG("block %ld read back wrong", (long)(cb - cbs));
	}
}

TEST_F_TIMEOUT(dev, blocked_reaper_sees_later_hipri, 60)
{
	reaper_sees_later_hipri(_metadata, self->c.fd, self->fd, self->buf, 1, 0);
}

TEST_F_TIMEOUT(dev, blocked_reaper_min_nr_4, 60)
{
	reaper_sees_later_hipri(_metadata, self->c.fd, self->fd, self->buf, 4, 50);
}

/*
 * Polled I/O on a regular file: an ext4 file system made on a null_blk device without a poll
 * queue (nullb1) and on one with a poll queue (nullb2; run_tests.sh makes both through
 * configfs). A file's ->iopoll exists whatever its device can do, so the device decides:
 * without a poll queue SUBMIT refuses RWF_HIPRI with EOPNOTSUPP, as it does on the block
 * device itself; with one, the read completes by polling with the file's data.
 */
FIXTURE(ext4) {
	char dir[64], path[96];
	struct actx c;
	int fd;
	int mounted;
	char *buf;
};

FIXTURE_VARIANT(ext4) {
	const char *dev;
	int can_poll;
};

FIXTURE_VARIANT_ADD(ext4, nullb1) { .dev = "/dev/nullb1", .can_poll = 0 };
FIXTURE_VARIANT_ADD(ext4, nullb2) { .dev = "/dev/nullb2", .can_poll = 1 };

#define EXT4_BLOCKS 16

FIXTURE_SETUP(ext4)
{
	char cmd[128];
	int f, i;

	self->fd = -1;
	if (access(variant->dev, F_OK))
		SKIP(return, "%s: %s", variant->dev, strerror(errno));
	snprintf(self->dir, sizeof(self->dir), "/tmp/aiopoll-ext4-%d", getpid());
	snprintf(self->path, sizeof(self->path), "%s/data", self->dir);
	ASSERT_EQ(0, mkdir(self->dir, 0700));
	/* busybox mke2fs makes ext2, which the ext4 driver mounts. */
	snprintf(cmd, sizeof(cmd), "mke2fs -F -b 4096 %s >/dev/null 2>&1", variant->dev);
	ASSERT_EQ(0, system(cmd)) TH_LOG("%s failed", cmd);
	ASSERT_EQ(0, mount(variant->dev, self->dir, "ext4", 0, NULL))
		TH_LOG("mount %s: %s", variant->dev, strerror(errno));
	self->mounted = 1;
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, BS, 2 * EXT4_BLOCKS * BS));
	for (i = 0; i < EXT4_BLOCKS; i++)
		memset(self->buf + i * BS, 0x20 + i, BS);
	f = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, f);
	ASSERT_EQ(EXT4_BLOCKS * BS, write(f, self->buf, EXT4_BLOCKS * BS));
	ASSERT_EQ(0, fsync(f));
	close(f);
	self->fd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, actx_init(&self->c, 8));
}

FIXTURE_TEARDOWN(ext4)
{
	int i;

	if (self->c.ring)
		actx_fini(&self->c);	/* polls out anything still in flight */
	if (self->fd >= 0)
		close(self->fd);
	if (self->mounted)
		for (i = 0; i < 100 && umount2(self->dir, 0) && errno == EBUSY; i++)
			usleep(50 * 1000);
	rmdir(self->dir);
	free(self->buf);
}

static void on_sigusr1(int sig)
{
}

struct unbounded_reaper {
	int ctx;
	long got;
	int err;
	atomic_int done;
	struct io_event ev;
};

static void *reap_unbounded(void *arg)
{
	struct unbounded_reaper *ur = arg;

	ur->got = actx_getevents(ur->ctx, 1, 1, &ur->ev, NULL);
	ur->err = ur->got < 0 ? errno : 0;
	atomic_store(&ur->done, 1);
	return NULL;
}

/*
 * Where SUBMIT took a polled read it should have refused: what a reaper with min_nr 1 and no
 * timeout does with it (returns, spins, or sleeps), bounded: after 10 s a signal ends its
 * wait. Logs the event, the wall time and the reaper thread's CPU time.
 */
static void report_accepted_hipri(struct __test_metadata *_metadata, int ctx)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };	/* no SA_RESTART */
	struct unbounded_reaper ur = { .ctx = ctx };
	struct timespec cpu = { 0, 0 };
	double t0 = now_sec(), wall;
	clockid_t cid;
	pthread_t t;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, reap_unbounded, &ur));
	while (!atomic_load(&ur.done) && now_sec() - t0 < 10)
		usleep(10 * 1000);
	if (pthread_getcpuclockid(t, &cid) == 0)
		clock_gettime(cid, &cpu);
	while (!atomic_load(&ur.done)) {
		pthread_kill(t, SIGUSR1);
		usleep(100 * 1000);
	}
	wall = now_sec() - t0;
	pthread_join(t, NULL);
	if (ur.got == 1)
		TH_LOG("accepted: event res %lld after %.2f s (reaper CPU %.2f s)",
		       (long long)ur.ev.res, wall, cpu.tv_sec + cpu.tv_nsec / 1e9);
	else
		TH_LOG("accepted: no event; reaper still waiting after %.2f s (CPU %.2f s: %s), "
		       "ended by a signal (%s)", wall, cpu.tv_sec + cpu.tv_nsec / 1e9,
		       cpu.tv_sec >= 5 ? "spinning" : "asleep",
		       ur.got < 0 ? strerror(ur.err) : "returned 0");
}

TEST_F_TIMEOUT(ext4, hipri_read_of_a_file, 60)
{
	char *rd = self->buf + EXT4_BLOCKS * BS;
	struct timespec ts = { REAPER_TIMEOUT_S, 0 };
	struct io_event ev;
	struct iocb cb;
	long r;
	int j;

	memset(rd, 0, BS);
	prep_hipri(&cb, IOCB_CMD_PREAD, self->fd, rd, BS, 3 * BS);
	r = actx_submit1(self->c.fd, &cb);
	if (!variant->can_poll) {
		int err = errno;

		EXPECT_EQ(-1, r);
		if (r == -1)
			EXPECT_EQ(EOPNOTSUPP, err);
		if (r == 1)
			report_accepted_hipri(_metadata, self->c.fd);
		return;
	}
	ASSERT_EQ(1, r) TH_LOG("SUBMIT: %s", strerror(errno));
	ASSERT_EQ(1, actx_getevents(self->c.fd, 1, 1, &ev, &ts));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	ASSERT_EQ(BS, ev.res);
	for (j = 0; j < BS; j++)
		if (rd[j] != 0x20 + 3)
			break;
	EXPECT_EQ(BS, j) TH_LOG("the file's block 3 read back wrong at byte %d", j);
}

TEST(refused_without_o_direct_or_poll_queues)
{
	char path[64], *buf;
	struct iocb cb;
	struct actx c;
	int f, nb1;

	ASSERT_EQ(0, actx_init(&c, 8));
	ASSERT_EQ(0, posix_memalign((void **)&buf, BS, BS));
	/* A file without O_DIRECT. */
	snprintf(path, sizeof(path), "/tmp/aiopoll-hipri-%d", getpid());
	f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, f);
	prep_hipri(&cb, IOCB_CMD_PWRITE, f, buf, BS, 0);
	EXPECT_EQ(-1, actx_submit1(c.fd, &cb));
	EXPECT_EQ(EOPNOTSUPP, errno);
	close(f);
	unlink(path);
	/* A block device without poll queues (run_tests.sh makes nullb1 next to nullb0). */
	if (access("/dev/nullb0", F_OK) == 0) {
		nb1 = open("/dev/nullb1", O_RDWR | O_DIRECT);
		ASSERT_LE(0, nb1) TH_LOG("/dev/nullb1: %s", strerror(errno));
		prep_hipri(&cb, IOCB_CMD_PREAD, nb1, buf, BS, 0);
		EXPECT_EQ(-1, actx_submit1(c.fd, &cb));
		EXPECT_EQ(EOPNOTSUPP, errno);
		close(nb1);
	}
	free(buf);
	actx_fini(&c);
}

TEST_HARNESS_MAIN
