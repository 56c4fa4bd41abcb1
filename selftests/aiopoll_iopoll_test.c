// SPDX-License-Identifier: GPL-2.0
/*
 * Polled block I/O (RWF_HIPRI): O_DIRECT reads and writes on a null_blk device and an NVMe
 * namespace with poll queues, completed by polling from the wait ioctl (and on close).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
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
TEST_F(dev, submit_races_pollers)
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
