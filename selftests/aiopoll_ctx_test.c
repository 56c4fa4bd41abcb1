// SPDX-License-Identifier: GPL-2.0
/*
 * The async I/O context: setup, the mmap'ed ring, submission of read, write, vectored,
 * fsync and noop requests, waiting, cancellation, eventfd notification, poll on the context
 * fd, fork and close. Errors are compared with fs/aio's for the same iocb in the same guest.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

/* One context of 128 events with its ring, and a tmpfs scratch file. */
FIXTURE(ctx) {
	struct actx c;
	int file;
	char path[64];
};

FIXTURE_SETUP(ctx)
{
	ASSERT_EQ(0, actx_init(&self->c, 128));
	snprintf(self->path, sizeof(self->path), "/tmp/aiopoll-ctx-%d", getpid());
	self->file = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->file);
}

FIXTURE_TEARDOWN(ctx)
{
	actx_fini(&self->c);
	close(self->file);
	unlink(self->path);
}

/* Waits for exactly one event on the context. */
static int wait_one(int fd, struct io_event *ev)
{
	struct timespec ts = { .tv_sec = 30 };

	return actx_getevents(fd, 1, 1, ev, &ts);
}

/*
 * Submits *cb on aiopoll and a copy on fs/aio; both must fail with the same errno, or both
 * succeed with events of the same res. Returns the aiopoll result.
 */
static long diff_submit(struct __test_metadata *_metadata, int fd, struct iocb *cb)
{
	aio_context_t actx = 0;
	struct iocb cb2 = *cb, *p = cb, *p2 = &cb2;
	struct io_event ev, ev2;
	long r1, r2;
	int e1, e2;

	if (sys_io_setup(8, &actx))
		return -2;
	errno = 0;
	r1 = actx_submit(fd, 1, &p);
	e1 = errno;
	errno = 0;
	r2 = sys_io_submit(actx, 1, &p2);
	e2 = errno;
	EXPECT_EQ(r2, r1) TH_LOG("opcode %d: fs/aio %ld/%s, aiopoll %ld/%s", cb->aio_lio_opcode,
				 r2, strerror(e2), r1, strerror(e1));
	if (r1 < 0 && r2 < 0)
		EXPECT_EQ(e2, e1) TH_LOG("opcode %d: fs/aio %s, aiopoll %s", cb->aio_lio_opcode,
					 strerror(e2), strerror(e1));
	if (r1 == 1 && r2 == 1) {
		ASSERT_EQ(1, wait_one(fd, &ev));
		ASSERT_EQ(1, sys_io_getevents(actx, 1, 1, &ev2, NULL));
		EXPECT_EQ(ev2.res, ev.res);
	}
	sys_io_destroy(actx);
	errno = e1;
	return r1;
}

TEST(setup_errors)
{
	struct aiopoll_setup s;
	int fd = aiopoll_open();
	aio_context_t a = 0;

	ASSERT_LE(0, fd);
	memset(&s, 0, sizeof(s));
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));	/* nr_events 0 */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, sys_io_setup(0, &a));
	EXPECT_EQ(EINVAL, errno);

	s.nr_events = 0x10000000;				/* too large: EINVAL as fs/aio */
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, sys_io_setup(0x10000000, &a));
	EXPECT_EQ(EINVAL, errno);

	s.nr_events = 65537;					/* over the limit: EAGAIN */
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, sys_io_setup(65537, &a));
	EXPECT_EQ(EAGAIN, errno);

	s.nr_events = 8;
	s.flags = 1;
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(EINVAL, errno);
	s.flags = 0;
	s.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(EINVAL, errno);
	s.reserved[1] = 0;
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, NULL));
	EXPECT_EQ(EFAULT, errno);

	ASSERT_EQ(0, ioctl(fd, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SETUP, &s));	/* once per context */
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(not_set_up)
{
	struct aiopoll_getevents g = { 0 };
	struct aiopoll_submit s = { 0 };
	int fd = aiopoll_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_GETEVENTS, &g));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(ring_layout_matches_fs_aio)
{
	unsigned int sizes[] = { 1, 2, 31, 128, 1000, 4096 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		aio_context_t a = 0;
		struct aiopoll_ring *ar;
		struct actx c;

		ASSERT_EQ(0, actx_init(&c, sizes[i]));
		ASSERT_EQ(0, sys_io_setup(sizes[i], &a));
		ar = (struct aiopoll_ring *)a;
		EXPECT_EQ(ar->nr, c.nr) TH_LOG("nr_events %u", sizes[i]);
		EXPECT_EQ(c.nr, c.ring->nr);
		EXPECT_EQ(AIOPOLL_RING_MAGIC, c.ring->magic);
		EXPECT_EQ(ar->magic, c.ring->magic);
		EXPECT_EQ(ar->compat_features, c.ring->compat_features);
		EXPECT_EQ(ar->incompat_features, c.ring->incompat_features);
		EXPECT_EQ(ar->header_length, c.ring->header_length);
		EXPECT_EQ(32, c.ring->header_length);
		EXPECT_EQ((unsigned int)c.fd, c.ring->id);
		EXPECT_EQ(0, c.ring->head);
		EXPECT_EQ(0, c.ring->tail);
		EXPECT_EQ(0, c.ring_size % sysconf(_SC_PAGESIZE));
		sys_io_destroy(a);
		actx_fini(&c);
	}
}

TEST_F(ctx, mmap_rules)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p, *q;
	char buf[64];

	/* The fixture holds the one mapping. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, self->c.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->c.fd, 0));
	EXPECT_EQ(EBUSY, errno);
	/* Whole ring only, never grown. */
	EXPECT_EQ(MAP_FAILED, mremap(self->c.ring, self->c.ring_size, self->c.ring_size + page,
				     0));
	if (self->c.ring_size > (size_t)page) {
		EXPECT_EQ(-1, munmap((char *)self->c.ring + page, page));
		EXPECT_EQ(EINVAL, errno);
	}
	/*
	 * Moved by mremap between submit and reap: the event submitted before the move is
	 * reaped at the new address, and the context follows (fdinfo shows the new address).
	 */
	{
		struct iocb cb;
		struct io_event ev;
		char path[64], info[1024] = { 0 }, want[64];
		int f;

		prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
		ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
		q = mmap(NULL, self->c.ring_size * 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, q);
		p = mremap(self->c.ring, self->c.ring_size, self->c.ring_size,
			   MREMAP_MAYMOVE | MREMAP_FIXED, q);
		ASSERT_EQ(q, p);
		self->c.ring = p;
		ASSERT_EQ(1, ring_reap(self->c.ring, &ev, 1));
		EXPECT_EQ((unsigned long)&cb, ev.obj);
		/* And one submitted after the move. */
		ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
		ASSERT_EQ(1, wait_one(self->c.fd, &ev));
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", self->c.fd);
		f = open(path, O_RDONLY);
		ASSERT_LE(0, f);
		ASSERT_LT(0, read(f, info, sizeof(info) - 1));
		close(f);
		snprintf(want, sizeof(want), "ring-addr:\t%#lx\n", (unsigned long)p);
		EXPECT_NE(NULL, strstr(info, want)) TH_LOG("%s", info);
		(void)buf;
	}
	/* Unmapped, it can be mapped again; a private, offset or short mapping cannot. */
	ASSERT_EQ(0, munmap(self->c.ring, self->c.ring_size));
	self->c.ring = NULL;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, self->c.ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   self->c.fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->c.fd, page));
	EXPECT_EQ(EINVAL, errno);
	if (self->c.ring_size > (size_t)page) {
		EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, self->c.fd, 0));
		EXPECT_EQ(EINVAL, errno);
	}
	p = mmap(NULL, self->c.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->c.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->c.ring = p;
	EXPECT_EQ(AIOPOLL_RING_MAGIC, self->c.ring->magic);
	EXPECT_EQ(2, self->c.ring->tail);
}

TEST_F(ctx, noop_and_key)
{
	struct iocb cb;
	struct io_event ev;

	prep_rw(&cb, IOCB_CMD_NOOP, -1, NULL, 0, 0);
	cb.aio_key = 0x1234;
	cb.aio_data = 0xfeedbeefcafe;
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, cb.aio_key);			/* KIOCB_KEY written back */
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(0xfeedbeefcafe, ev.data);
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	EXPECT_EQ(0, ev.res);
	EXPECT_EQ(0, ev.res2);
	/* A NOOP carries no buffer, length, offset or flags. */
	cb.aio_nbytes = 1;
	EXPECT_EQ(-1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(ctx, pwrite_pread_file)
{
	char out[8192], in[8192];
	struct iocb w, r;
	struct io_event ev;
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = i * 7 + 3;
	prep_rw(&w, IOCB_CMD_PWRITE, self->file, out, sizeof(out), 4096);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &w));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(out), ev.res);
	EXPECT_EQ((unsigned long)&w, ev.obj);

	memset(in, 0, sizeof(in));
	prep_rw(&r, IOCB_CMD_PREAD, self->file, in, sizeof(in), 4096);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(in), ev.res);
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
	/* Read past the end: a short read, then zero. */
	prep_rw(&r, IOCB_CMD_PREAD, self->file, in, sizeof(in), 8192);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(4096, ev.res);
	prep_rw(&r, IOCB_CMD_PREAD, self->file, in, sizeof(in), 1 << 20);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(0, ev.res);
	/* The data really is in the file. */
	ASSERT_EQ(sizeof(in), pread(self->file, in, sizeof(in), 4096));
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
}

TEST_F(ctx, pwritev_preadv)
{
	char a[100], b[3000], c[17], all[3117], back[3117];
	struct iovec wv[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct iovec rv[2] = { { back, 1000 }, { back + 1000, sizeof(back) - 1000 } };
	struct iocb w, r;
	struct io_event ev;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	memset(c, 'c', sizeof(c));
	memcpy(all, a, sizeof(a));
	memcpy(all + sizeof(a), b, sizeof(b));
	memcpy(all + sizeof(a) + sizeof(b), c, sizeof(c));
	prep_rw(&w, IOCB_CMD_PWRITEV, self->file, wv, 3, 10);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &w));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(all), ev.res);
	prep_rw(&r, IOCB_CMD_PREADV, self->file, rv, 2, 10);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(back), ev.res);
	EXPECT_EQ(0, memcmp(all, back, sizeof(all)));
	/*
	 * One segment (import_iovec() turns it into a single buffer through a scratch iovec:
	 * the fuzzer found it crashing) and none (0 bytes), writing and reading.
	 */
	memset(back, 0, sizeof(back));
	prep_rw(&r, IOCB_CMD_PREADV, self->file, rv, 1, 10);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(1000, ev.res);
	EXPECT_EQ(0, memcmp(all, back, 1000));
	prep_rw(&w, IOCB_CMD_PWRITEV, self->file, wv + 2, 1, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &w));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(c), ev.res);
	prep_rw(&r, IOCB_CMD_PREADV, self->file, rv, 0, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(0, ev.res);
	/* Too many segments (UIO_MAXIOV is 1024): EINVAL, as fs/aio. */
	prep_rw(&r, IOCB_CMD_PREADV, self->file, rv, 1025, 0);
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &r));
	EXPECT_EQ(EINVAL, errno);
	/* A bad iovec array: EFAULT, as fs/aio. */
	prep_rw(&r, IOCB_CMD_PREADV, self->file, (void *)8, 2, 0);
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &r));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(ctx, pipe_and_socket)
{
	char msg[] = "through the pipe", got[64];
	struct iocb w, r;
	struct io_event ev;
	int p[2], s[2];

	ASSERT_EQ(0, pipe(p));
	prep_rw(&w, IOCB_CMD_PWRITE, p[1], msg, sizeof(msg), 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &w));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(msg), ev.res);
	prep_rw(&r, IOCB_CMD_PREAD, p[0], got, sizeof(got), 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(msg), ev.res);
	EXPECT_STREQ(msg, got);
	/* Non-blocking read of an empty pipe: the event says EAGAIN. */
	prep_rw(&r, IOCB_CMD_PREAD, p[0], got, sizeof(got), 0);
	r.aio_rw_flags = RWF_NOWAIT;
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(-EAGAIN, ev.res);
	/* fsync of a pipe: EINVAL at submission, as fs/aio. */
	prep_rw(&r, IOCB_CMD_FSYNC, p[0], NULL, 0, 0);
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &r));
	EXPECT_EQ(EINVAL, errno);
	close(p[0]);
	close(p[1]);

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	prep_rw(&w, IOCB_CMD_PWRITE, s[0], msg, sizeof(msg), 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &w));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(msg), ev.res);
	memset(got, 0, sizeof(got));
	prep_rw(&r, IOCB_CMD_PREAD, s[1], got, sizeof(got), 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &r));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(sizeof(msg), ev.res);
	EXPECT_STREQ(msg, got);
	close(s[0]);
	close(s[1]);
}

TEST_F(ctx, fsync_fdsync)
{
	struct iocb cb;
	struct io_event ev;
	int op;

	ASSERT_EQ(4, write(self->file, "data", 4));
	for (op = IOCB_CMD_FSYNC; op <= IOCB_CMD_FDSYNC; op++) {
		prep_rw(&cb, op, self->file, NULL, 0, 0);
		ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
		ASSERT_EQ(1, wait_one(self->c.fd, &ev));
		EXPECT_EQ(0, ev.res);
		EXPECT_EQ((unsigned long)&cb, ev.obj);
		/* Buffer, length, offset or flags: EINVAL, as fs/aio. */
		prep_rw(&cb, op, self->file, NULL, 1, 0);
		EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
		EXPECT_EQ(EINVAL, errno);
	}
}

TEST_F(ctx, submit_errors_match_fs_aio)
{
	char buf[16];
	struct iocb cb;
	int wronly = open(self->path, O_WRONLY), rdonly = open(self->path, O_RDONLY);

	ASSERT_LE(0, wronly);
	ASSERT_LE(0, rdonly);
	prep_rw(&cb, IOCB_CMD_PREAD, 9999, buf, sizeof(buf), 0);	/* bad fd */
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EBADF, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, wronly, buf, sizeof(buf), 0);	/* read a write-only fd */
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EBADF, errno);
	prep_rw(&cb, IOCB_CMD_PWRITE, rdonly, buf, sizeof(buf), 0);	/* write a read-only fd */
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EBADF, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), -1);	/* negative offset */
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, (void *)0xffff888000000000UL, 16, 0);
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));	/* kernel buffer */
	EXPECT_EQ(EFAULT, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
	cb.aio_reserved2 = 1;
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, 4, self->file, buf, sizeof(buf), 0);		/* no such opcode */
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, -1, 0);		/* negative length */
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);	/* unknown RWF flag */
	cb.aio_rw_flags = 0x40000000;
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EOPNOTSUPP, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);	/* RESFD not an eventfd */
	cb.aio_flags = IOCB_FLAG_RESFD;
	cb.aio_resfd = self->file;
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	cb.aio_resfd = 9999;
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EBADF, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);	/* bad I/O priority */
	cb.aio_flags = IOCB_FLAG_IOPRIO;
	cb.aio_reqprio = 7 << 13;
	EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);	/* a good priority */
	cb.aio_flags = IOCB_FLAG_IOPRIO;
	cb.aio_reqprio = (2 << 13) | 4;
	EXPECT_EQ(1, diff_submit(_metadata, self->c.fd, &cb));

	/* aiopoll's own refusals: unknown aio_flags bits, RWF_HIPRI without O_DIRECT. */
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
	cb.aio_flags = 1 << 5;
	EXPECT_EQ(-1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
	cb.aio_rw_flags = RWF_HIPRI;
	EXPECT_EQ(-1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(EOPNOTSUPP, errno);
	close(wronly);
	close(rdonly);
}

TEST_F(ctx, ioprio_permission_as_fs_aio)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		char buf[8];
		struct iocb cb;
		struct actx c;

		/* Real-time I/O priority needs CAP_SYS_ADMIN or CAP_SYS_NICE. */
		if (setgid(65534) || setuid(65534))
			_exit(10);
		/* A context of the child's own: the parent's belongs to the parent's mm. */
		if (actx_init(&c, 8))
			_exit(13);
		prep_rw(&cb, IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
		cb.aio_flags = IOCB_FLAG_IOPRIO;
		cb.aio_reqprio = (1 << 13) | 0;
		if (diff_submit(_metadata, c.fd, &cb) != -1 || errno != EPERM)
			_exit(11);
		_exit(_metadata->exit_code ? 12 : 0);
	}
	EXPECT_EQ(0, child_exit_status(pid));
}

TEST_F(ctx, direct_io_on_regular_file)
{
	enum { BS = 4096 };
	struct iocb cb;
	struct io_event ev;
	char *buf;
	int f = open(self->path, O_RDWR | O_DIRECT);

	if (f < 0)
		SKIP(return, "O_DIRECT not supported on /tmp: %s", strerror(errno));
	ASSERT_EQ(0, posix_memalign((void **)&buf, BS, 2 * BS));
	memset(buf, 'd', 2 * BS);
	prep_rw(&cb, IOCB_CMD_PWRITE, f, buf, 2 * BS, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(2 * BS, ev.res);
	memset(buf, 0, 2 * BS);
	prep_rw(&cb, IOCB_CMD_PREAD, f, buf + BS, BS, BS);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	EXPECT_EQ(BS, ev.res);
	EXPECT_EQ('d', buf[BS]);
	EXPECT_EQ('d', buf[2 * BS - 1]);
	free(buf);
	close(f);
}

TEST_F(ctx, submit_array_errors)
{
	struct aiopoll_submit s = { 0 };
	struct iocb cb[3], *list[3] = { &cb[0], &cb[1], &cb[2] };
	struct io_event ev[3];
	char buf[8];

	/* nr < 0: EINVAL; nr == 0: 0; bad array or iocb pointer: EFAULT. */
	EXPECT_EQ(-1, actx_submit(self->c.fd, -1, list));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, actx_submit(self->c.fd, 0, list));
	EXPECT_EQ(-1, actx_submit(self->c.fd, 1, (struct iocb **)8));
	EXPECT_EQ(EFAULT, errno);
	list[0] = (struct iocb *)8;
	EXPECT_EQ(-1, actx_submit(self->c.fd, 1, list));
	EXPECT_EQ(EFAULT, errno);
	list[0] = &cb[0];
	s.nr = 1;
	s.iocbpp = (unsigned long)list;
	s.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_SUBMIT, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* A batch that fails part way returns how many went in; those complete. */
	prep_rw(&cb[0], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	prep_rw(&cb[1], IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
	prep_rw(&cb[2], IOCB_CMD_PREAD, 9999, buf, sizeof(buf), 0);
	EXPECT_EQ(2, actx_submit(self->c.fd, 3, list));
	EXPECT_EQ(2, actx_getevents(self->c.fd, 2, 3, ev, NULL));
}

TEST_F(ctx, getevents_errors_and_timeouts)
{
	struct timespec zero = { 0 }, short_wait = { 0, 50 * 1000 * 1000 };
	struct aiopoll_getevents g = { 0 };
	struct io_event ev[4];
	struct iocb cb;
	double t;

	EXPECT_EQ(-1, actx_getevents(self->c.fd, 2, 1, ev, &zero));	/* min_nr > nr */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, actx_getevents(self->c.fd, -1, 1, ev, &zero));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, actx_getevents(self->c.fd, 0, -1, ev, &zero));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, actx_getevents(self->c.fd, 1, 1, ev, (struct timespec *)8));
	EXPECT_EQ(EFAULT, errno);
	g.nr = 1;
	g.events = (unsigned long)ev;
	g.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_GETEVENTS, &g));
	EXPECT_EQ(EINVAL, errno);
	g.reserved = 0;
	g.sigsetsize = 3;			/* a size without a mask is ignored, as fs/aio */
	EXPECT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_GETEVENTS, &g));

	/* Zero timeout: returns at once; a timeout returns 0 events after waiting. */
	EXPECT_EQ(0, actx_getevents(self->c.fd, 1, 4, ev, &zero));
	t = now_sec();
	EXPECT_EQ(0, actx_getevents(self->c.fd, 1, 4, ev, &short_wait));
	EXPECT_LE(0.05, now_sec() - t);

	/* A bad events buffer with an event pending: EFAULT, and the event stays. */
	prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(-1, actx_getevents(self->c.fd, 1, 1, (struct io_event *)8, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, actx_getevents(self->c.fd, 1, 4, ev, NULL));
	EXPECT_EQ((unsigned long)&cb, ev[0].obj);
}

struct delayed {
	int fd;
	struct iocb cb;
};

static void *submit_later(void *arg)
{
	struct delayed *d = arg;

	usleep(100 * 1000);
	prep_rw(&d->cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	actx_submit1(d->fd, &d->cb);
	return NULL;
}

TEST_F(ctx, getevents_wakes_up)
{
	struct delayed d = { .fd = self->c.fd };
	struct io_event ev;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, submit_later, &d));
	EXPECT_EQ(1, actx_getevents(self->c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ((unsigned long)&d.cb, ev.obj);
	pthread_join(t, NULL);
}

/* A thread blocked in GETEVENTS (or fs/aio's io_getevents) without a timeout. */
struct blocked {
	int fd;			/* an aiopoll context, or -1 */
	aio_context_t actx;	/* else this fs/aio context */
	long ret;
	int err;
};

static void *wait_blocked(void *arg)
{
	struct blocked *b = arg;
	struct io_event ev;

	b->ret = b->fd >= 0 ? actx_getevents(b->fd, 1, 1, &ev, NULL) :
			      sys_io_getevents(b->actx, 1, 1, &ev, NULL);
	b->err = errno;
	return NULL;
}

/*
 * DESTROY wakes a thread waiting on the context, whose wait fails with EINVAL, as fs/aio's
 * io_destroy() does (checked side by side); and it is final: every later ioctl but VERSION,
 * a second DESTROY and mmap fail with EINVAL.
 */
TEST_F(ctx, destroy_wakes_waiters_as_fs_aio)
{
	struct blocked a = { .fd = self->c.fd }, f = { .fd = -1 };
	struct aiopoll_version v;
	struct io_event ev;
	struct iocb cb;
	pthread_t ta, tf;

	ASSERT_EQ(0, sys_io_setup(8, &f.actx));
	ASSERT_EQ(0, pthread_create(&ta, NULL, wait_blocked, &a));
	ASSERT_EQ(0, pthread_create(&tf, NULL, wait_blocked, &f));
	usleep(200 * 1000);
	EXPECT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_DESTROY));
	EXPECT_EQ(0, sys_io_destroy(f.actx));
	pthread_join(ta, NULL);
	pthread_join(tf, NULL);
	EXPECT_EQ(-1, f.ret);
	EXPECT_EQ(EINVAL, f.err);
	EXPECT_EQ(-1, a.ret);
	EXPECT_EQ(EINVAL, a.err);

	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_DESTROY));
	EXPECT_EQ(EINVAL, errno);
	prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	EXPECT_EQ(-1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, actx_getevents(self->c.fd, 0, 1, &ev, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, self->c.ring_size, PROT_READ, MAP_SHARED, self->c.fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_VERSION, &v));
	EXPECT_TRUE(v.features & AIOPOLL_FEAT_DESTROY);
}

/* A waiter with events in the ring when DESTROY comes gets them, as on fs/aio. */
TEST_F(ctx, destroy_leaves_reaped_events_to_the_waiter)
{
	struct iocb cbs[2], *list[2] = { &cbs[0], &cbs[1] };
	struct io_event ev[2];

	prep_rw(&cbs[0], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	prep_rw(&cbs[1], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(2, actx_submit(self->c.fd, 2, list));
	EXPECT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_DESTROY));
	/* The events are still in the mapped ring; only the ioctls are gone. */
	EXPECT_EQ(2, ring_reap(self->c.ring, ev, 2));
}

/* DESTROY cancels armed polls and returns with their events posted; not before SETUP. */
TEST_F(ctx, destroy_cancels_polls_before_returning)
{
	struct io_event ev;
	struct iocb cb;
	int p[2], fd;

	ASSERT_EQ(0, pipe(p));
	prep_rw(&cb, IOCB_CMD_POLL, p[0], NULL, 0, 0);
	cb.aio_buf = POLLIN;
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, ring_reap(self->c.ring, &ev, 1));
	EXPECT_EQ(0, ioctl(self->c.fd, AIOPOLL_IOC_DESTROY));
	ASSERT_EQ(1, ring_reap(self->c.ring, &ev, 1));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	EXPECT_EQ(0, ev.res);
	close(p[0]);
	close(p[1]);

	fd = aiopoll_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_DESTROY));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

static void on_alarm(int sig)
{
}

TEST_F(ctx, getevents_interrupted)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct io_event ev;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	alarm(1);
	EXPECT_EQ(-1, actx_getevents(self->c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ(EINTR, errno);
	signal(SIGALRM, SIG_DFL);
}

TEST_F(ctx, cancel_rules)
{
	struct aiopoll_cancel cn = { 0 };
	struct iocb cb;
	struct io_event ev;

	prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, wait_one(self->c.fd, &ev));
	cn.iocb = (unsigned long)&cb;
	cn.result = (unsigned long)&ev;
	/* Nothing cancellable (completed, or not cancellable as in fs/aio): EINVAL. */
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINVAL, errno);
	cb.aio_key = 1;					/* a key that was never ours */
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINVAL, errno);
	cn.iocb = 8;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EFAULT, errno);
	cn.iocb = (unsigned long)&cb;
	cn.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * User pointers at the edges of the address space: just below 2^64, where adding a field's
 * offset wraps around, the kernel half, just below TASK_SIZE (x86-64, 4-level paging: the
 * last user page is 0x7ffffffff000 - 4096, unmapped unless the stack sits at the very top)
 * and TASK_SIZE itself.
 */
static const __u64 edge_ptrs[] = {
	~0ULL, ~0ULL - 7, ~0ULL - 63, 0xffff888000000000ULL, 0x00007ffffffff000ULL - 8,
	0x0000800000000000ULL,
};

#define NR_EDGE_PTRS (sizeof(edge_ptrs) / sizeof(edge_ptrs[0]))

/* Whether the page of addr is mapped in this process (mincore: ENOMEM when it is not). */
static int page_mapped(__u64 addr)
{
	unsigned char vec;

	return !mincore((void *)(uintptr_t)(addr & ~4095ULL), 4096, &vec);
}

/* A call's result and errno, taken together. */
struct outcome {
	long ret;
	int err;
};

#define OUTCOME(call) ({ long r_; errno = 0; r_ = (call); (struct outcome){ r_, errno }; })

/* Both aiopoll (a) and fs/aio (f) failed with EFAULT. */
static void expect_both_efault(struct __test_metadata *_metadata, const char *what, __u64 p,
			       struct outcome a, struct outcome f)
{
	EXPECT_EQ(-1, f.ret) TH_LOG("fs/aio %s %#llx: %ld", what, p, f.ret);
	EXPECT_EQ(EFAULT, f.err) TH_LOG("fs/aio %s %#llx: %s", what, p, strerror(f.err));
	EXPECT_EQ(-1, a.ret) TH_LOG("%s %#llx: %ld", what, p, a.ret);
	EXPECT_EQ(EFAULT, a.err) TH_LOG("%s %#llx: %s", what, p, strerror(a.err));
}

/*
 * Submits n reads of file (tmpfs: they complete within the submission) to aiopoll and to
 * fs/aio (which has no NOOP), for events that are really in the rings.
 */
static void pend_reads(struct __test_metadata *_metadata, int fd, aio_context_t a, int file,
		       struct iocb *cbs, int n)
{
	static char buf[16];
	struct iocb *list[4];
	int i;

	for (i = 0; i < n; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, file, buf, sizeof(buf), 0);
		list[i] = &cbs[i];
	}
	ASSERT_EQ(n, actx_submit(fd, n, list));
	ASSERT_EQ(n, sys_io_submit(a, n, list));
}

TEST_F(ctx, edge_pointers_fault_as_fs_aio)
{
	struct timespec zero = { 0 };
	struct iocb good[2], reads[2], cb, *list[3];
	struct io_event ev[4];
	aio_context_t a = 0;
	char buf[16];
	size_t i;
	int n;

	/*
	 * Every user address aiopoll computes from one of these values must answer EFAULT (a
	 * wrapping sum never reaches memory, nor panics an overflow check), exactly where
	 * fs/aio's system calls answer EFAULT for the same value. CANCEL with the two values
	 * whose aio_key address wraps is aiopoll_dev_test's last test (it panics the old
	 * module).
	 */
	ASSERT_EQ(0, sys_io_setup(16, &a));
	for (i = 0; i < NR_EDGE_PTRS; i++) {
		__u64 p = edge_ptrs[i];
		void *bad = (void *)(uintptr_t)p;
		struct aio_sigset as = { bad, 8 };
		struct aiopoll_getevents g = {
			.min_nr = 1, .nr = 4, .events = (uintptr_t)ev,
			.timeout = (uintptr_t)&zero, .sigmask = p, .sigsetsize = 8,
		};
		struct aiopoll_cancel cn = { .iocb = p };

		if (page_mapped(p)) {
			TH_LOG("%#llx is mapped in this process: not a bad pointer here", p);
			continue;
		}
		/* SUBMIT: the array pointer, then arrays with a bad iocb pointer at 0, 1, 2. */
		expect_both_efault(_metadata, "iocbpp", p,
				   OUTCOME(actx_submit(self->c.fd, 1, bad)),
				   OUTCOME(sys_io_submit(a, 1, bad)));
		expect_both_efault(_metadata, "iocbpp, 2", p,
				   OUTCOME(actx_submit(self->c.fd, 2, bad)),
				   OUTCOME(sys_io_submit(a, 2, bad)));
		for (n = 0; n < 3; n++) {
			struct outcome r1, r2;

			prep_rw(&good[0], IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
			prep_rw(&good[1], IOCB_CMD_PREAD, self->file, buf, sizeof(buf), 0);
			list[0] = &good[0];
			list[1] = &good[1];
			list[n] = bad;
			if (!n) {
				expect_both_efault(_metadata, "iocb", p,
						   OUTCOME(actx_submit(self->c.fd, 1, list)),
						   OUTCOME(sys_io_submit(a, 1, list)));
				continue;
			}
			/* The good ones before it go in: their count, as fs/aio. */
			r1 = OUTCOME(actx_submit(self->c.fd, n + 1, list));
			r2 = OUTCOME(sys_io_submit(a, n + 1, list));
			EXPECT_EQ(n, r2.ret) TH_LOG("fs/aio iocb %#llx at %d: %s", p, n,
						    strerror(r2.err));
			EXPECT_EQ(n, r1.ret) TH_LOG("iocb %#llx at %d: %ld/%s", p, n, r1.ret,
						    strerror(r1.err));
			if (r1.ret > 0)
				EXPECT_EQ(r1.ret, actx_getevents(self->c.fd, r1.ret, r1.ret, ev,
								 &zero));
			if (r2.ret > 0)
				EXPECT_EQ(r2.ret, sys_io_getevents(a, r2.ret, r2.ret, ev, &zero));
		}

		/*
		 * GETEVENTS with two events pending (the copy-out is really attempted, 64 bytes:
		 * from ~0ULL - 63 it ends at 2^64): EFAULT, and the events stay in the ring, as
		 * in fs/aio, whose ring head moves only after a successful copy.
		 */
		pend_reads(_metadata, self->c.fd, a, self->file, reads, 2);
		expect_both_efault(_metadata, "events", p,
				   OUTCOME(actx_getevents(self->c.fd, 1, 4, bad, &zero)),
				   OUTCOME(sys_io_getevents(a, 1, 4, bad, &zero)));
		expect_both_efault(_metadata, "timeout", p,
				   OUTCOME(actx_getevents(self->c.fd, 1, 4, ev, bad)),
				   OUTCOME(sys_io_getevents(a, 1, 4, ev, bad)));
		expect_both_efault(_metadata, "sigmask", p,
				   OUTCOME(ioctl(self->c.fd, AIOPOLL_IOC_GETEVENTS, &g)),
				   OUTCOME(sys_io_pgetevents(a, 1, 4, ev, &zero, &as)));
		EXPECT_EQ(2, sys_io_getevents(a, 2, 4, ev, &zero)) TH_LOG("fs/aio %#llx", p);
		memset(ev, 0, sizeof(ev));
		ASSERT_EQ(2, actx_getevents(self->c.fd, 2, 4, ev, &zero)) TH_LOG("%#llx", p);
		EXPECT_EQ((uintptr_t)&reads[0], ev[0].obj);
		EXPECT_EQ((uintptr_t)&reads[1], ev[1].obj);

		/* CANCEL, for the values whose aio_key address does not wrap. */
		if (p + 8 > p)
			expect_both_efault(_metadata, "cancel iocb", p,
					   OUTCOME(ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn)),
					   OUTCOME(sys_io_cancel(a, bad, ev)));

		/* Reads and writes whose iovec array is there: EFAULT at submission. */
		prep_rw(&cb, IOCB_CMD_PREADV, self->file, bad, 2, 0);
		EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb)) TH_LOG("preadv %#llx", p);
		EXPECT_EQ(EFAULT, errno) TH_LOG("preadv %#llx: %s", p, strerror(errno));
		prep_rw(&cb, IOCB_CMD_PWRITEV, self->file, bad, 1, 0);
		EXPECT_EQ(-1, diff_submit(_metadata, self->c.fd, &cb)) TH_LOG("pwritev %#llx", p);
		EXPECT_EQ(EFAULT, errno) TH_LOG("pwritev %#llx: %s", p, strerror(errno));
		/* A buffer there, plain or in an iovec: whatever fs/aio does (diff_submit). */
		prep_rw(&cb, IOCB_CMD_PWRITE, self->file, bad, sizeof(buf), 0);
		diff_submit(_metadata, self->c.fd, &cb);
		prep_rw(&cb, IOCB_CMD_PREAD, self->file, bad, sizeof(buf), 0);
		diff_submit(_metadata, self->c.fd, &cb);
		{
			struct iovec iov[2] = { { buf, sizeof(buf) }, { bad, 16 } };

			prep_rw(&cb, IOCB_CMD_PWRITEV, self->file, iov, 2, 0);
			diff_submit(_metadata, self->c.fd, &cb);
		}
	}
	sys_io_destroy(a);
}

TEST_F(ctx, iocb_key_write_back_faults_as_fs_aio)
{
	struct iocb *cb, *list[1];
	aio_context_t a = 0;
	long page = sysconf(_SC_PAGESIZE);

	/*
	 * An iocb that can be read but not written: the aio_key write-back fails, EFAULT, as
	 * fs/aio's put_user() of KIOCB_KEY.
	 */
	cb = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cb);
	prep_rw(cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(0, mprotect(cb, page, PROT_READ));
	list[0] = cb;
	ASSERT_EQ(0, sys_io_setup(4, &a));
	expect_both_efault(_metadata, "read-only iocb", (uintptr_t)cb,
			   OUTCOME(actx_submit(self->c.fd, 1, list)),
			   OUTCOME(sys_io_submit(a, 1, list)));
	sys_io_destroy(a);
	munmap(cb, page);
}

TEST(ring_never_overflows)
{
	struct io_event ev[64];
	struct iocb *cbs;
	struct actx c;
	unsigned int i, n;

	ASSERT_EQ(0, actx_init(&c, 1));
	n = c.nr - 1;				/* slots that may be taken at once */
	cbs = calloc(c.nr, sizeof(*cbs));
	ASSERT_NE(NULL, cbs);
	for (i = 0; i < n; i++) {
		prep_rw(&cbs[i], IOCB_CMD_NOOP, 0, NULL, 0, 0);
		ASSERT_EQ(1, actx_submit1(c.fd, &cbs[i])) TH_LOG("request %u: %s", i, strerror(errno));
	}
	prep_rw(&cbs[n], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	EXPECT_EQ(-1, actx_submit1(c.fd, &cbs[n]));
	EXPECT_EQ(EAGAIN, errno);
	/* Reaping from user space frees slots without a system call. */
	EXPECT_EQ(5, ring_reap(c.ring, ev, 5));
	for (i = 0; i < 5; i++)
		EXPECT_EQ((unsigned long)&cbs[i], ev[i].obj);
	for (i = 0; i < 5; i++)
		EXPECT_EQ(1, actx_submit1(c.fd, &cbs[n]));
	EXPECT_EQ(-1, actx_submit1(c.fd, &cbs[n]));
	EXPECT_EQ(EAGAIN, errno);
	free(cbs);
	actx_fini(&c);
}

TEST_F(ctx, reap_ring_then_ioctl)
{
	struct io_event ev[16];
	struct iocb cbs[10], *list[10];
	int i, got = 0;

	for (i = 0; i < 10; i++) {
		prep_rw(&cbs[i], IOCB_CMD_NOOP, 0, NULL, 0, 0);
		cbs[i].aio_data = 100 + i;
		list[i] = &cbs[i];
	}
	ASSERT_EQ(10, actx_submit(self->c.fd, 10, list));
	/* Four from the ring with no system call, the rest through the ioctl. */
	got = ring_reap(self->c.ring, ev, 4);
	ASSERT_EQ(4, got);
	got += actx_getevents(self->c.fd, 6, 16, ev + 4, NULL);
	ASSERT_EQ(10, got);
	for (i = 0; i < 10; i++)
		EXPECT_EQ(100 + i, ev[i].data);
	EXPECT_EQ(self->c.ring->head, self->c.ring->tail);
}

TEST_F(ctx, eventfd_notification)
{
	struct iocb cbs[3], *list[3];
	struct io_event ev[3];
	uint64_t count = 0;
	int efd = eventfd(0, EFD_NONBLOCK), i;

	ASSERT_LE(0, efd);
	for (i = 0; i < 3; i++) {
		prep_rw(&cbs[i], IOCB_CMD_NOOP, 0, NULL, 0, 0);
		cbs[i].aio_flags = IOCB_FLAG_RESFD;
		cbs[i].aio_resfd = efd;
		list[i] = &cbs[i];
	}
	ASSERT_EQ(3, actx_submit(self->c.fd, 3, list));
	ASSERT_EQ(3, actx_getevents(self->c.fd, 3, 3, ev, NULL));
	ASSERT_EQ(8, read(efd, &count, 8));
	EXPECT_EQ(3, count);
	close(efd);
}

TEST_F(ctx, poll_and_epoll_on_context)
{
	struct pollfd pfd = { .fd = self->c.fd, .events = POLLIN };
	struct epoll_event ee = { .events = EPOLLIN }, out;
	struct io_event ev;
	struct iocb cb;
	int ep = epoll_create1(0);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->c.fd, &ee));
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
	EXPECT_TRUE(pfd.revents & POLLIN);
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 1000));
	EXPECT_TRUE(out.events & EPOLLIN);
	ASSERT_EQ(1, ring_reap(self->c.ring, &ev, 1));
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	close(ep);
}

TEST_F(ctx, fdinfo_counts)
{
	char path[64], info[1024] = { 0 }, want[64];
	struct io_event ev[2];
	struct iocb cb[2], *list[2] = { &cb[0], &cb[1] };
	int f;

	prep_rw(&cb[0], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	prep_rw(&cb[1], IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(2, actx_submit(self->c.fd, 2, list));
	ASSERT_EQ(2, actx_getevents(self->c.fd, 2, 2, ev, NULL));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", self->c.fd);
	f = open(path, O_RDONLY);
	ASSERT_LE(0, f);
	ASSERT_LT(0, read(f, info, sizeof(info) - 1));
	close(f);
	snprintf(want, sizeof(want), "ring-entries:\t%u\n", self->c.nr);
	EXPECT_NE(NULL, strstr(info, want)) TH_LOG("%s", info);
	snprintf(want, sizeof(want), "ring-size:\t%zu\n", self->c.ring_size);
	EXPECT_NE(NULL, strstr(info, want)) TH_LOG("%s", info);
	EXPECT_NE(NULL, strstr(info, "in-flight:\t0\n")) TH_LOG("%s", info);
	EXPECT_NE(NULL, strstr(info, "completed:\t2\n")) TH_LOG("%s", info);
}

TEST_F(ctx, fork_child_cannot_use_context)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iocb cb, *p = &cb;
		struct aiopoll_version v;
		FILE *maps;
		char line[256];

		prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
		if (actx_submit(self->c.fd, 1, &p) != -1 || errno != EINVAL)
			_exit(10);
		if (ioctl(self->c.fd, AIOPOLL_IOC_VERSION, &v))
			_exit(11);
		/* The ring mapping was not inherited. */
		maps = fopen("/proc/self/maps", "r");
		if (!maps)
			_exit(12);
		while (fgets(line, sizeof(line), maps))
			if (strstr(line, "/dev/aiopoll"))
				_exit(13);
		_exit(0);
	}
	EXPECT_EQ(0, child_exit_status(pid));
}

TEST_F(ctx, ring_never_inherited_nor_executable)
{
	pid_t pid;
	void *p;

	/*
	 * The ring is not inherited across fork (a child sharing the parent's ring pages could
	 * forge the parent's events), and MADV_DOFORK must not turn that back on: EINVAL.
	 */
	errno = 0;
	EXPECT_EQ(-1, madvise(self->c.ring, self->c.ring_size, MADV_DOFORK));
	EXPECT_EQ(EINVAL, errno) TH_LOG("MADV_DOFORK: %s", strerror(errno));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char vec;
		char line[256];
		FILE *maps;

		/* mincore(): ENOMEM for a range with an unmapped page. */
		if (!mincore(self->c.ring, self->c.ring_size, &vec) || errno != ENOMEM)
			_exit(10);
		maps = fopen("/proc/self/maps", "r");
		if (!maps)
			_exit(11);
		while (fgets(line, sizeof(line), maps))
			if (strstr(line, "/dev/aiopoll"))
				_exit(12);
		_exit(0);
	}
	EXPECT_EQ(0, child_exit_status(pid)) TH_LOG("10, 12: the child has the ring mapped");

	/* Never executable: mprotect() to PROT_EXEC fails with EACCES (no VM_MAYEXEC)... */
	errno = 0;
	EXPECT_EQ(-1, mprotect(self->c.ring, self->c.ring_size, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno) TH_LOG("mprotect(PROT_READ | PROT_EXEC): %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, mprotect(self->c.ring, self->c.ring_size,
			       PROT_READ | PROT_WRITE | PROT_EXEC));
	EXPECT_EQ(EACCES, errno) TH_LOG("mprotect(PROT_RWX): %s", strerror(errno));
	/* ...and mmap() with PROT_EXEC with EPERM. */
	ASSERT_EQ(0, munmap(self->c.ring, self->c.ring_size));
	self->c.ring = NULL;
	errno = 0;
	p = mmap(NULL, self->c.ring_size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED,
		 self->c.fd, 0);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("mmap(PROT_RWX) succeeded");
	EXPECT_EQ(EPERM, errno) TH_LOG("mmap(PROT_RWX): %s", strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, self->c.ring_size);
	errno = 0;
	p = mmap(NULL, self->c.ring_size, PROT_READ | PROT_EXEC, MAP_SHARED, self->c.fd, 0);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("mmap(PROT_READ | PROT_EXEC) succeeded");
	EXPECT_EQ(EPERM, errno) TH_LOG("mmap(PROT_READ | PROT_EXEC): %s", strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, self->c.ring_size);
	/* Without PROT_EXEC it maps again, and works. */
	p = mmap(NULL, self->c.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->c.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->c.ring = p;
	EXPECT_EQ(AIOPOLL_RING_MAGIC, self->c.ring->magic);
}

TEST(events_limit_across_contexts)
{
	struct aiopoll_setup s = { .nr_events = 40000 };
	int a = aiopoll_open(), b = aiopoll_open();

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, ioctl(a, AIOPOLL_IOC_SETUP, &s));
	EXPECT_EQ(-1, ioctl(b, AIOPOLL_IOC_SETUP, &s));	/* 80000 > 65536 */
	EXPECT_EQ(EAGAIN, errno);
	close(a);					/* gives its events back */
	EXPECT_EQ(0, ioctl(b, AIOPOLL_IOC_SETUP, &s));
	close(b);
}

/* Null block device with memory backing: O_DIRECT goes through the real block layer. */
static int open_nullb(int flags)
{
	return open("/dev/nullb0", flags | O_DIRECT);
}

TEST_F(ctx, direct_io_on_block_device)
{
	enum { BS = 4096, N = 16 };
	struct iocb cbs[N], *list[N];
	struct io_event ev[N];
	char *buf;
	int dev = open_nullb(O_RDWR), i, j;

	if (dev < 0)
		SKIP(return, "no /dev/nullb0 (null_blk not loaded)");
	ASSERT_EQ(0, posix_memalign((void **)&buf, BS, BS * N));
	for (i = 0; i < N; i++) {
		memset(buf + i * BS, 'A' + i, BS);
		prep_rw(&cbs[i], IOCB_CMD_PWRITE, dev, buf + i * BS, BS, (long long)i * BS * 3);
		list[i] = &cbs[i];
	}
	ASSERT_EQ(N, actx_submit(self->c.fd, N, list));
	ASSERT_EQ(N, actx_getevents(self->c.fd, N, N, ev, NULL));
	for (i = 0; i < N; i++)
		EXPECT_EQ(BS, ev[i].res);
	memset(buf, 0, BS * N);
	for (i = 0; i < N; i++)
		prep_rw(&cbs[i], IOCB_CMD_PREAD, dev, buf + i * BS, BS, (long long)i * BS * 3);
	ASSERT_EQ(N, actx_submit(self->c.fd, N, list));
	ASSERT_EQ(N, actx_getevents(self->c.fd, N, N, ev, NULL));
	for (i = 0; i < N; i++) {
		EXPECT_EQ(BS, ev[i].res);
		for (j = 0; j < BS; j++)
			if (buf[i * BS + j] != 'A' + i)
				break;
		EXPECT_EQ(BS, j) TH_LOG("block %d differs at %d", i, j);
	}
	/* Misaligned O_DIRECT: EINVAL in the event, as fs/aio. */
	prep_rw(&cbs[0], IOCB_CMD_PREAD, dev, buf + 1, BS, 0);
	EXPECT_EQ(1, diff_submit(_metadata, self->c.fd, &cbs[0]));
	free(buf);
	close(dev);
}

/* Stress tests run longer than the harness's default 30 s limit with STRESS=full. */
FIXTURE(stress) {
	int unused;
};
FIXTURE_SETUP(stress) {}
FIXTURE_TEARDOWN(stress) {}

TEST_F_TIMEOUT(stress, close_and_exit_with_requests_in_flight, 1200)
{
	enum { BS = 4096, N = 64 };
	int rounds = stress_rounds(5, 50), r;

	for (r = 0; r < rounds; r++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct iocb cbs[N], *list[N];
			struct actx c;
			char *buf;
			int dev = open_nullb(O_RDONLY), i;

			if (actx_init(&c, N))
				_exit(10);
			if (posix_memalign((void **)&buf, BS, BS * N))
				_exit(11);
			for (i = 0; i < N; i++) {
				if (dev >= 0)
					prep_rw(&cbs[i], IOCB_CMD_PREAD, dev, buf + i * BS, BS,
						(long long)i * BS);
				else
					prep_rw(&cbs[i], IOCB_CMD_NOOP, 0, NULL, 0, 0);
				list[i] = &cbs[i];
			}
			if (actx_submit(c.fd, N, list) < 1)
				_exit(12);
			/* Odd rounds close the context with requests in flight; even ones exit. */
			if (r & 1)
				actx_fini(&c);
			_exit(0);
		}
		EXPECT_EQ(0, child_exit_status(pid));
	}
}

struct stress_arg {
	int fd;
	int id;
	long rounds;
	unsigned char *seen;	/* one byte per (thread, round) */
	atomic_long *dups;
};

static void *stress_submitter(void *arg)
{
	struct stress_arg *a = arg;
	struct iocb cb[8], *list[8];
	long r;
	int i;

	for (r = 0; r < a->rounds; r += 8) {
		int n = a->rounds - r < 8 ? a->rounds - r : 8, done = 0;

		for (i = 0; i < n; i++) {
			prep_rw(&cb[i], IOCB_CMD_NOOP, 0, NULL, 0, 0);
			cb[i].aio_data = ((unsigned long)a->id << 32) | (r + i);
			list[i] = &cb[i];
		}
		while (done < n) {
			long k = actx_submit(a->fd, n - done, list + done);

			if (k > 0)
				done += k;
			else if (errno == EAGAIN)
				usleep(100);
			else
				return (void *)1;
		}
	}
	return NULL;
}

struct reaper_arg {
	int fd;
	long rounds;
	long total;
	unsigned char *seen;
	atomic_long *got;
	atomic_long dups;
	atomic_long bad;
};

/* Reaps through the ioctl until every event of the test was seen, by anyone. */
static void *stress_reaper(void *arg)
{
	struct reaper_arg *a = arg;
	struct io_event ev[32];

	while (atomic_load(a->got) < a->total) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		long n = actx_getevents(a->fd, 1, 32, ev, &ts), k;

		if (n < 0) {
			a->bad++;
			break;
		}
		for (k = 0; k < n; k++) {
			long id = ev[k].data >> 32, r = ev[k].data & 0xffffffff;

			if (id >= 4 || r >= a->rounds) {
				a->bad++;
				continue;
			}
			/* Each byte is touched by one reaper only if every event comes once. */
			if (__atomic_fetch_add(&a->seen[id * a->rounds + r], 1, __ATOMIC_RELAXED))
				a->dups++;
		}
		atomic_fetch_add(a->got, n);
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, many_threads_every_event_once, 1200)
{
	enum { SUBMITTERS = 4, REAPERS = 3 };
	long rounds = stress_rounds(2000, 50000), total = SUBMITTERS * rounds, i;
	struct stress_arg args[SUBMITTERS];
	struct reaper_arg reap[REAPERS];
	pthread_t t[SUBMITTERS], r[REAPERS];
	unsigned char *seen;
	atomic_long got = 0, unused = 0;
	struct io_event ev[64];
	struct actx c;

	/*
	 * Four threads submit; three reap through the ioctl at once (its readers are
	 * serialised in the kernel). Every event must be seen exactly once.
	 */
	ASSERT_EQ(0, actx_init(&c, 256));
	seen = calloc(total, 1);
	ASSERT_NE(NULL, seen);
	for (i = 0; i < REAPERS; i++) {
		reap[i] = (struct reaper_arg){ .fd = c.fd, .rounds = rounds, .total = total,
					       .seen = seen, .got = &got };
		ASSERT_EQ(0, pthread_create(&r[i], NULL, stress_reaper, &reap[i]));
	}
	for (i = 0; i < SUBMITTERS; i++) {
		args[i] = (struct stress_arg){ c.fd, i, rounds, seen, &unused };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, stress_submitter, &args[i]));
	}
	for (i = 0; i < SUBMITTERS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		EXPECT_EQ(NULL, ret);
	}
	for (i = 0; i < REAPERS; i++) {
		pthread_join(r[i], NULL);
		EXPECT_EQ(0, reap[i].dups);
		EXPECT_EQ(0, reap[i].bad);
	}
	EXPECT_EQ(total, atomic_load(&got));
	for (i = 0; i < total; i++)
		if (seen[i] != 1)
			break;
	EXPECT_EQ(total, i);
	EXPECT_EQ(0, actx_getevents(c.fd, 0, 64, ev, &(struct timespec){ 0, 0 }));
	free(seen);
	actx_fini(&c);
}

TEST_HARNESS_MAIN
