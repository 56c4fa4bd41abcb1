// SPDX-License-Identifier: GPL-2.0
/*
 * IOCB_CMD_POLL: readiness of every kind of pollable file compared with poll(2) and with
 * fs/aio, wake-ups (keyed and not), cancellation, two wait queues, POLLFREE, multishot, and
 * the races: cancel against completion, missed wake-ups, many armed requests, close and exit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <linux/io_uring.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

static void prep_poll(struct iocb *cb, int fd, short events)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = IOCB_CMD_POLL;
	cb->aio_fildes = fd;
	cb->aio_buf = (unsigned short)events;
	cb->aio_data = (unsigned long)cb;
}

static long wait_events(int fd, long min_nr, long nr, struct io_event *ev, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	return actx_getevents(fd, min_nr, nr, ev, &ts);
}

/* One event from aiopoll and one from fs/aio for the same poll; returns aiopoll's res. */
static long poll_both(struct __test_metadata *_metadata, int ctx, int fd, short events,
		      long *aio_res)
{
	aio_context_t a = 0;
	struct iocb cb, cb2, *p = &cb, *p2 = &cb2;
	struct io_event ev, ev2;
	long r;

	prep_poll(&cb, fd, events);
	cb2 = cb;
	*aio_res = -9999;
	if (sys_io_setup(4, &a) == 0) {
		if (sys_io_submit(a, 1, &p2) == 1 &&
		    sys_io_getevents(a, 1, 1, &ev2, &(struct timespec){ 5, 0 }) == 1)
			*aio_res = ev2.res;
		sys_io_destroy(a);
	}
	r = actx_submit(ctx, 1, &p);
	if (r != 1)
		return -10000 - errno;
	if (wait_events(ctx, 1, 1, &ev, 5000) != 1)
		return -20000;
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	return ev.res;
}

FIXTURE(pctx) {
	struct actx c;
};

FIXTURE_SETUP(pctx)
{
	ASSERT_EQ(0, actx_init(&self->c, 256));
}

FIXTURE_TEARDOWN(pctx)
{
	actx_fini(&self->c);
}

/* Compares aiopoll, fs/aio and poll(2) on a file that is ready for some of `events`. */
static void check_ready(struct __test_metadata *_metadata, int ctx, int fd, short events,
			const char *what)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long aio_res, res;

	ASSERT_EQ(1, poll(&pfd, 1, 0)) TH_LOG("%s not ready", what);
	res = poll_both(_metadata, ctx, fd, events, &aio_res);
	EXPECT_EQ(pfd.revents, res) TH_LOG("%s: poll(2) %#x, aiopoll %#lx", what, pfd.revents,
					   res);
	EXPECT_EQ(aio_res, res) TH_LOG("%s: fs/aio %#lx, aiopoll %#lx", what, aio_res, res);
}

TEST_F(pctx, results_match_poll_and_fs_aio)
{
	int p[2], s[2], efd, sfd, ep, master, slave, other_fd;
	struct pollfd other_pfd = { .events = POLLIN };
	struct epoll_event ee = { .events = EPOLLIN };
	long aio_res, res;
	struct actx other;
	struct iocb noop;
	sigset_t mask;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(1, write(p[1], "x", 1));
	check_ready(_metadata, self->c.fd, p[0], POLLIN | POLLOUT, "pipe read end");
	check_ready(_metadata, self->c.fd, p[1], POLLOUT | POLLIN, "pipe write end");
	close(p[1]);
	check_ready(_metadata, self->c.fd, p[0], POLLIN, "pipe with writer gone");

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	ASSERT_EQ(3, write(s[0], "abc", 3));
	check_ready(_metadata, self->c.fd, s[1], POLLIN | POLLOUT | POLLPRI, "socketpair");
	shutdown(s[0], SHUT_WR);
	check_ready(_metadata, self->c.fd, s[1], POLLIN | POLLRDHUP, "socketpair shut down");

	efd = eventfd(3, 0);
	ASSERT_LE(0, efd);
	check_ready(_metadata, self->c.fd, efd, POLLIN | POLLOUT, "eventfd");

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &mask, NULL));
	sfd = signalfd(-1, &mask, 0);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(0, raise(SIGUSR2));
	check_ready(_metadata, self->c.fd, sfd, POLLIN, "signalfd");

	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ee));
	check_ready(_metadata, self->c.fd, ep, POLLIN, "epoll fd");

	master = posix_openpt(O_RDWR | O_NOCTTY);
	ASSERT_LE(0, master);
	ASSERT_EQ(0, grantpt(master));
	ASSERT_EQ(0, unlockpt(master));
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	ASSERT_LE(0, slave);
	check_ready(_metadata, self->c.fd, slave, POLLOUT, "pty slave");

	/* Another aiopoll context with an event waiting. */
	ASSERT_EQ(0, actx_init(&other, 8));
	other_fd = other.fd;
	prep_rw(&noop, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(other_fd, &noop));
	other_pfd.fd = other_fd;
	ASSERT_EQ(1, poll(&other_pfd, 1, 1000));
	res = poll_both(_metadata, self->c.fd, other_fd, POLLIN, &aio_res);
	EXPECT_EQ(other_pfd.revents, res);
	actx_fini(&other);

	close(p[0]);
	close(s[0]);
	close(s[1]);
	close(efd);
	close(sfd);
	close(ep);
	close(slave);
	close(master);
}

TEST_F(pctx, tcp_loopback)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct io_event ev;
	struct iocb cb;
	int l, c, a;

	l = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, bind(l, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(l, 4));
	ASSERT_EQ(0, getsockname(l, (struct sockaddr *)&sa, &len));
	/* Wait for a connection, then for data. */
	prep_poll(&cb, l, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 1, &ev, 50));
	c = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_TRUE(ev.res & POLLIN);
	a = accept(l, NULL, NULL);
	ASSERT_LE(0, a);
	prep_poll(&cb, a, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 1, &ev, 50));
	ASSERT_EQ(4, write(c, "ping", 4));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_EQ(POLLIN, ev.res & (POLLIN | POLLERR));
	close(a);
	close(c);
	close(l);
}

TEST_F(pctx, waits_then_completes)
{
	struct io_event ev;
	struct iocb cb;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	prep_poll(&cb, p[0], POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 1, &ev, 100));
	ASSERT_EQ(1, write(p[1], "y", 1));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	/* The pipe writer's wake-up key, whole, as fs/aio's aio_poll_wake() reports it. */
	EXPECT_EQ(POLLIN | POLLRDNORM, ev.res);
	EXPECT_EQ(0, ev.res2);
	close(p[0]);
	close(p[1]);
}

TEST_F(pctx, errors_match_fs_aio)
{
	int p[2], f = open("/proc/self/status", O_RDONLY);
	aio_context_t a = 0;
	struct {
		unsigned long long buf, nbytes;
		long long offset;
		int rw_flags, fd;
	} cases[4];
	int i;

	ASSERT_EQ(0, pipe(p));
	ASSERT_LE(0, f);
	ASSERT_EQ(0, sys_io_setup(4, &a));
	cases[0] = (typeof(cases[0])){ 0x10000 | POLLIN, 0, 0, 0, p[0] };	/* bits above 16 */
	cases[1] = (typeof(cases[0])){ POLLIN, 1, 0, 0, p[0] };		/* nbytes */
	cases[2] = (typeof(cases[0])){ POLLIN, 0, 1, 0, p[0] };		/* offset */
	cases[3] = (typeof(cases[0])){ POLLIN, 0, 0, RWF_NOWAIT, p[0] };	/* rw_flags */
	for (i = 0; i < 4; i++) {
		struct iocb cb, cb2, *pp = &cb, *pp2 = &cb2;
		long r1, r2;
		int e1, e2;

		prep_poll(&cb, cases[i].fd, 0);
		cb.aio_buf = cases[i].buf;
		cb.aio_nbytes = cases[i].nbytes;
		cb.aio_offset = cases[i].offset;
		cb.aio_rw_flags = cases[i].rw_flags;
		cb2 = cb;
		errno = 0;
		r1 = actx_submit(self->c.fd, 1, &pp);
		e1 = errno;
		errno = 0;
		r2 = sys_io_submit(a, 1, &pp2);
		e2 = errno;
		EXPECT_EQ(-1, r1) TH_LOG("case %d", i);
		EXPECT_EQ(EINVAL, e1) TH_LOG("case %d", i);
		EXPECT_EQ(r2, r1) TH_LOG("case %d", i);
		EXPECT_EQ(e2, e1) TH_LOG("case %d", i);
	}
	/* A file without ->poll: ready at once for what it always is (fs/aio's behaviour)... */
	{
		long aio_res, res = poll_both(_metadata, self->c.fd, f, POLLIN, &aio_res);

		EXPECT_EQ(aio_res, res);
		EXPECT_EQ(POLLIN, res & POLLIN);
	}
	/* ...and EINVAL for what it never is. */
	{
		struct iocb cb, cb2, *pp = &cb, *pp2 = &cb2;

		prep_poll(&cb, f, POLLPRI);
		cb2 = cb;
		EXPECT_EQ(-1, actx_submit(self->c.fd, 1, &pp));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(-1, sys_io_submit(a, 1, &pp2));
		EXPECT_EQ(EINVAL, errno);
	}
	sys_io_destroy(a);
	close(p[0]);
	close(p[1]);
	close(f);
}

TEST_F(pctx, cancel_as_fs_aio)
{
	struct aiopoll_cancel cn = { 0 };
	struct iocb cb, cb2, *pp = &cb2;
	aio_context_t a = 0;
	struct io_event ev;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	prep_poll(&cb, p[0], POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	cn.iocb = (unsigned long)&cb;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINPROGRESS, errno);
	/* A poll nothing woke is cancelled synchronously: the event is in the ring already. */
	EXPECT_NE(__atomic_load_n(&self->c.ring->head, __ATOMIC_RELAXED),
		  __atomic_load_n(&self->c.ring->tail, __ATOMIC_ACQUIRE));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	EXPECT_EQ(0, ev.res);
	/* Once only. */
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINVAL, errno);
	/* fs/aio does the same. */
	ASSERT_EQ(0, sys_io_setup(4, &a));
	prep_poll(&cb2, p[0], POLLIN);
	ASSERT_EQ(1, sys_io_submit(a, 1, &pp));
	EXPECT_EQ(-1, sys_io_cancel(a, &cb2, &ev));
	EXPECT_EQ(EINPROGRESS, errno);
	ASSERT_EQ(1, sys_io_getevents(a, 1, 1, &ev, NULL));
	EXPECT_EQ(0, ev.res);
	EXPECT_EQ(-1, sys_io_cancel(a, &cb2, &ev));
	EXPECT_EQ(EINVAL, errno);
	sys_io_destroy(a);
	close(p[0]);
	close(p[1]);
}

TEST_F(pctx, two_wait_queues)
{
	char path[64];
	struct io_event ev;
	struct iocb cb;
	int f, w;

	/* A FIFO open for reading and writing polls two queues: fs/aio refuses, aiopoll takes it. */
	snprintf(path, sizeof(path), "/tmp/aiopoll-fifo-%d", getpid());
	ASSERT_EQ(0, mkfifo(path, 0600));
	f = open(path, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, f);
	w = open(path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	prep_poll(&cb, f, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 1, &ev, 100));
	ASSERT_EQ(1, write(w, "z", 1));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_TRUE(ev.res & POLLIN);
	close(w);
	close(f);
	unlink(path);
}

TEST_F(pctx, polled_fd_closed_under_armed_poll)
{
	struct io_event ev;
	struct iocb cb;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	prep_poll(&cb, p[0], POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	/* The request holds its own reference: closing the fd changes nothing... */
	ASSERT_EQ(0, close(p[0]));
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 1, &ev, 50));
	/* ...until the writer goes away: POLLHUP. */
	ASSERT_EQ(0, close(p[1]));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_TRUE(ev.res & POLLHUP);
}

TEST_F(pctx, eventfd_resfd_with_poll)
{
	struct io_event ev;
	struct iocb cb;
	uint64_t n = 0;
	int p[2], efd = eventfd(0, 0);

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, pipe(p));
	prep_poll(&cb, p[0], POLLIN);
	cb.aio_flags = IOCB_FLAG_RESFD;
	cb.aio_resfd = efd;
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, write(p[1], "e", 1));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	ASSERT_EQ(8, read(efd, &n, 8));
	EXPECT_EQ(1, n);
	close(efd);
	close(p[0]);
	close(p[1]);
}

TEST_F(pctx, chain_through_epoll_and_another_context)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct io_event ev;
	struct iocb cb, noop;
	struct actx b;
	int ep;

	/*
	 * A polls an epoll fd that watches context B's fd. B's completion wakes B's queue,
	 * which wakes epoll's, which wakes A's request: nested wake-ups of aiopoll queues.
	 */
	ASSERT_EQ(0, actx_init(&b, 8));
	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, b.fd, &ee));
	prep_poll(&cb, ep, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 1, &ev, 50));
	prep_rw(&noop, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(b.fd, &noop));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_TRUE(ev.res & POLLIN);
	/* And A polling B directly. */
	prep_poll(&cb, b.fd, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	close(ep);
	actx_fini(&b);
}

/*
 * Lock chains between epoll and contexts, both ways, in one boot: a context's completion
 * wakes an epoll set that watches the context (context queue -> epoll locks), and a request
 * of a context polling an epoll set completes inline in epoll's wake-up (epoll's poll_wait
 * lock -> context). Before the context's pollers got a queue of their own, woken outside
 * foreign wake-ups, lockdep reported this pair as a possible deadlock (found by the fuzzer).
 */
TEST_F(pctx, epoll_both_ways_inline)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct io_event ev;
	struct iocb cb, cb2, noop;
	struct actx b;
	int ep1, ep2, p[2];
	char c;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, actx_init(&b, 8));
	/* Context -> epoll: epoll set 1 watches B and is polled by A. */
	ep1 = epoll_create1(0);
	ASSERT_LE(0, ep1);
	ASSERT_EQ(0, epoll_ctl(ep1, EPOLL_CTL_ADD, b.fd, &ee));
	prep_poll(&cb, ep1, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	prep_rw(&noop, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	ASSERT_EQ(1, actx_submit1(b.fd, &noop));
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	EXPECT_TRUE(ev.res & POLLIN);
	/* Epoll -> context: B polls epoll set 2, which watches a pipe; a write completes it. */
	ep2 = epoll_create1(0);
	ASSERT_LE(0, ep2);
	ASSERT_EQ(0, epoll_ctl(ep2, EPOLL_CTL_ADD, p[0], &ee));
	ASSERT_EQ(1, wait_events(b.fd, 1, 1, &ev, 5000)); /* the NOOP */
	prep_poll(&cb2, ep2, POLLIN);
	ASSERT_EQ(1, actx_submit1(b.fd, &cb2));
	EXPECT_EQ(0, wait_events(b.fd, 1, 1, &ev, 50));
	/* A watches B's fd as well, so B's inline completion has a poller to wake. */
	prep_poll(&cb, b.fd, POLLIN);
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	ASSERT_EQ(1, write(p[1], "x", 1));
	/* A first: B's event, once reaped, no longer makes B's fd readable. */
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 5000));
	EXPECT_EQ((unsigned long)&cb, ev.obj);
	EXPECT_TRUE(ev.res & POLLIN);
	ASSERT_EQ(1, wait_events(b.fd, 1, 1, &ev, 5000));
	EXPECT_EQ((unsigned long)&cb2, ev.obj);
	EXPECT_TRUE(ev.res & POLLIN);
	ASSERT_EQ(1, read(p[0], &c, 1));
	close(ep1);
	close(ep2);
	close(p[0]);
	close(p[1]);
	actx_fini(&b);
}

TEST_F(pctx, multishot)
{
	struct io_event ev[4];
	struct aiopoll_cancel cn = { 0 };
	struct iocb cb;
	char c;
	int p[2], i;

	ASSERT_EQ(0, pipe(p));
	prep_poll(&cb, p[0], POLLIN);
	cb.aio_flags = AIOPOLL_IOCB_FLAG_MULTISHOT;
	ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(1, write(p[1], "m", 1));
		ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, ev, 5000)) TH_LOG("round %d", i);
		EXPECT_EQ(POLLIN | POLLRDNORM, ev[0].res);	/* the writer's wake-up key */
		EXPECT_EQ(AIOPOLL_POLL_MORE, ev[0].res2);
		ASSERT_EQ(1, read(p[0], &c, 1));
	}
	cn.iocb = (unsigned long)&cb;
	EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
	EXPECT_EQ(EINPROGRESS, errno);
	ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, ev, 5000));
	EXPECT_EQ(0, ev[0].res);
	EXPECT_EQ(0, ev[0].res2);
	close(p[0]);
	close(p[1]);
}

TEST(multishot_ends_when_the_ring_is_full)
{
	struct io_event *ev;
	struct iocb cb;
	struct actx c;
	char ch;
	int p[2], i, n, more = 0, last = 0;

	ASSERT_EQ(0, actx_init(&c, 1));
	ev = calloc(c.nr, sizeof(*ev));
	ASSERT_NE(NULL, ev);
	ASSERT_EQ(0, pipe(p));
	prep_poll(&cb, p[0], POLLIN);
	cb.aio_flags = AIOPOLL_IOCB_FLAG_MULTISHOT;
	ASSERT_EQ(1, actx_submit1(c.fd, &cb));
	/* Many readinesses, nothing reaped: the ring fills, then the request ends. */
	for (i = 0; i < (int)c.nr + 10; i++) {
		ASSERT_EQ(1, write(p[1], "f", 1));
		usleep(2000);
		ASSERT_EQ(1, read(p[0], &ch, 1));
	}
	usleep(100 * 1000);
	n = ring_reap(c.ring, ev, c.nr);
	for (i = 0; i < n; i++) {
		if (ev[i].res2 == AIOPOLL_POLL_MORE)
			more++;
		else
			last++;
	}
	EXPECT_EQ(1, last);
	EXPECT_EQ(-EOVERFLOW, ev[n - 1].res);
	EXPECT_EQ(0, ev[n - 1].res2);
	EXPECT_EQ(c.nr - 1, (unsigned int)n);
	EXPECT_LT(0, more);
	free(ev);
	close(p[0]);
	close(p[1]);
	actx_fini(&c);
}

TEST(pollfree_signalfd_of_an_exiting_process)
{
	char path[64], info[1024];
	int sv[2], f, i;
	pid_t pid;

	/*
	 * The child polls a signalfd, whose wait queue is the child's own sighand, then hands
	 * the context to the parent and exits: freeing the sighand sends POLLFREE to the armed
	 * request, which must detach and complete.
	 */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { "c", 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		struct iocb *cb = malloc(sizeof(*cb));
		struct actx c;
		sigset_t m;
		int sfd;

		sigemptyset(&m);
		sigaddset(&m, SIGUSR1);
		sfd = signalfd(-1, &m, 0);
		if (sfd < 0 || actx_init(&c, 8) || !cb)
			_exit(10);
		prep_poll(cb, sfd, POLLIN);
		if (actx_submit1(c.fd, cb) != 1)
			_exit(11);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &c.fd, sizeof(int));
		if (sendmsg(sv[1], &mh, 0) != 1)
			_exit(12);
		_exit(0);
	}
	{
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, b;
		struct iovec iov = { &b, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		int ctx;

		ASSERT_EQ(1, recvmsg(sv[0], &mh, 0));
		memcpy(&ctx, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
		ASSERT_EQ(0, child_exit_status(pid));
		/* The request completed once the sighand was gone: fdinfo says so. */
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ctx);
		for (i = 0; i < 100; i++) {
			memset(info, 0, sizeof(info));
			f = open(path, O_RDONLY);
			ASSERT_LE(0, f);
			ASSERT_LT(0, read(f, info, sizeof(info) - 1));
			close(f);
			if (strstr(info, "completed:\t1\n"))
				break;
			usleep(20 * 1000);
		}
		EXPECT_NE(NULL, strstr(info, "completed:\t1\n")) TH_LOG("%s", info);
		EXPECT_NE(NULL, strstr(info, "in-flight:\t0\n")) TH_LOG("%s", info);
		close(ctx);
	}
	close(sv[0]);
	close(sv[1]);
}

TEST(poll_reference_cycles_refused)
{
	long before = module_refcnt(), now = -1;
	struct io_event ev;
	struct actx a, b, c;
	struct iocb cb[6];
	int i;

	/*
	 * A poll holds a reference to the file it polls, so polls among contexts could form
	 * cycles that keep every context in them alive after user space closed its fds (the
	 * fuzzer found one). Every poll that could close a cycle fails with ELOOP.
	 */
	ASSERT_LT(0, before + 1);
	ASSERT_EQ(0, actx_init(&a, 8));
	ASSERT_EQ(0, actx_init(&b, 8));
	ASSERT_EQ(0, actx_init(&c, 8));
	prep_poll(&cb[0], a.fd, POLLIN);		/* a polls itself */
	EXPECT_EQ(-1, actx_submit1(a.fd, &cb[0]));
	EXPECT_EQ(ELOOP, errno);
	prep_poll(&cb[1], b.fd, POLLIN);		/* a polls b: fine */
	ASSERT_EQ(1, actx_submit1(a.fd, &cb[1]));
	prep_poll(&cb[2], a.fd, POLLIN);		/* b polls a: would close a ring */
	EXPECT_EQ(-1, actx_submit1(b.fd, &cb[2]));
	EXPECT_EQ(ELOOP, errno);
	prep_poll(&cb[3], a.fd, POLLIN);		/* c polls a, which polls b: a chain */
	EXPECT_EQ(-1, actx_submit1(c.fd, &cb[3]));
	EXPECT_EQ(ELOOP, errno);
	prep_poll(&cb[4], c.fd, POLLIN);		/* b, polled by a, polls c: a chain */
	EXPECT_EQ(-1, actx_submit1(b.fd, &cb[4]));
	EXPECT_EQ(ELOOP, errno);
	prep_poll(&cb[5], b.fd, POLLIN);		/* c polls b too: fine */
	ASSERT_EQ(1, actx_submit1(c.fd, &cb[5]));
	/* Once a's and c's polls of b are gone (cancelled, reaped), b may poll a. */
	EXPECT_EQ(-1, ioctl(a.fd, AIOPOLL_IOC_CANCEL,
			    &(struct aiopoll_cancel){ .iocb = (unsigned long)&cb[1] }));
	EXPECT_EQ(EINPROGRESS, errno);
	ASSERT_EQ(1, actx_getevents(a.fd, 1, 1, &ev, NULL));
	EXPECT_EQ((unsigned long)&cb[1], ev.obj);
	prep_poll(&cb[2], a.fd, POLLIN);		/* b is still polled by c */
	EXPECT_EQ(-1, actx_submit1(b.fd, &cb[2]));
	EXPECT_EQ(ELOOP, errno);
	EXPECT_EQ(-1, ioctl(c.fd, AIOPOLL_IOC_CANCEL,
			    &(struct aiopoll_cancel){ .iocb = (unsigned long)&cb[5] }));
	EXPECT_EQ(EINPROGRESS, errno);
	ASSERT_EQ(1, actx_getevents(c.fd, 1, 1, &ev, NULL));
	EXPECT_EQ((unsigned long)&cb[5], ev.obj);
	for (i = 0; i < 250; i++) {	/* the request is dropped by its work item */
		prep_poll(&cb[2], a.fd, POLLIN);
		if (actx_submit1(b.fd, &cb[2]) == 1 || errno != ELOOP)
			break;
		usleep(20 * 1000);
	}
	EXPECT_LT(i, 250) TH_LOG("b still cannot poll a: %s", strerror(errno));
	/* Closing every fd (no process exit) releases every context: nothing pins another. */
	actx_fini(&a);
	actx_fini(&b);
	actx_fini(&c);
	for (i = 0; i < 250; i++) {
		now = module_refcnt();
		if (now == before)
			break;
		usleep(20 * 1000);
	}
	EXPECT_EQ(before, now);
}

/*
 * Reference cycles through files that are not contexts, which the ELOOP check cannot see: a
 * context polls a file that (indirectly) holds a reference to the context's own file, so the
 * poll request pins the file that pins the context. Two kinds: a unix socket whose receive
 * queue holds the context's fd in an SCM_RIGHTS message nobody receives, and an io_uring
 * whose fixed-file table holds the context's fd. The poll waits for what never comes
 * (POLLPRI on a datagram socket, POLLIN on an io_uring with nothing completed), so it stays
 * armed. When the process that created the context has gone away, its polls must be
 * cancelled, which breaks the cycle, whether the process closed its fds itself before it
 * exited or left them to exit: the module's use count (one per open context) comes back.
 */
FIXTURE(owner_exit) {
	long before;
};

FIXTURE_VARIANT(owner_exit) {
	int io_uring;		/* the context polls an io_uring, else a unix socket */
	int close_first;	/* the child closes every fd itself before it exits */
};

FIXTURE_VARIANT_ADD(owner_exit, scm_rights_closed) { .io_uring = 0, .close_first = 1 };
FIXTURE_VARIANT_ADD(owner_exit, io_uring_closed) { .io_uring = 1, .close_first = 1 };
/* Controls: exit closes the fds, and the old flush-time cancel already breaks the cycle. */
FIXTURE_VARIANT_ADD(owner_exit, scm_rights_left_to_exit) { .io_uring = 0, .close_first = 0 };
FIXTURE_VARIANT_ADD(owner_exit, io_uring_left_to_exit) { .io_uring = 1, .close_first = 0 };

FIXTURE_SETUP(owner_exit)
{
	self->before = module_refcnt();
	ASSERT_LE(0, self->before);
}

FIXTURE_TEARDOWN(owner_exit)
{
}

/* Sends fd over the socket s as SCM_RIGHTS; returns 0 or -1. */
static int send_fd(int s, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { "f", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(s, &mh, 0) == 1 ? 0 : -1;
}

/* The child: builds the cycle, checks the poll is armed, closes its fds or not, exits. */
static int cycle_child(int io_uring, int close_first)
{
	struct io_uring_params up = { 0 };
	struct io_event ev;
	struct iocb cb;
	struct actx a;
	int s[2] = { -1, -1 }, ring = -1;

	if (actx_init(&a, 8))
		return 10;
	if (io_uring) {
		ring = syscall(__NR_io_uring_setup, 4, &up);
		if (ring < 0)
			return 11;
		/* The ring's fixed-file table takes a reference to the context's file. */
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_FILES, &a.fd, 1))
			return 12;
		prep_poll(&cb, ring, POLLIN);
	} else {
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, s))
			return 11;
		/* The message, never received, holds a reference to the context's file. */
		if (send_fd(s[0], a.fd))
			return 12;
		prep_poll(&cb, s[1], POLLPRI);
	}
	if (actx_submit1(a.fd, &cb) != 1)
		return 13;
	if (wait_events(a.fd, 1, 1, &ev, 50) != 0)
		return 14;	/* the poll must stay armed */
	if (close_first) {
		actx_fini(&a);
		if (io_uring) {
			close(ring);
		} else {
			close(s[0]);
			close(s[1]);
		}
	}
	return 0;
}

TEST_F(owner_exit, cycle_broken)
{
	long now;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(cycle_child(variant->io_uring, variant->close_first));
	ASSERT_EQ(0, child_exit_status(pid));
	now = refcnt_settles(self->before);
	EXPECT_EQ(self->before, now)
		TH_LOG("use count %ld, %ld before the child: its context is pinned by its own poll",
		       now, self->before);
}

/* Stress tests run longer than the harness's default 30 s limit with STRESS=full. */
FIXTURE(stress) {
	struct actx c;
};
FIXTURE_SETUP(stress)
{
	ASSERT_EQ(0, actx_init(&self->c, 8192));
}
FIXTURE_TEARDOWN(stress)
{
	actx_fini(&self->c);
}

struct splicer {
	int src[2], dst;
	long rounds;
	atomic_int go;
	atomic_int stop;
};

static void *splice_loop(void *arg)
{
	struct splicer *s = arg;
	long r;

	for (r = 0; r < s->rounds && !atomic_load(&s->stop); r++) {
		while (atomic_load(&s->go) == 0 && !atomic_load(&s->stop))
			;
		atomic_store(&s->go, 0);
		if (write(s->src[1], "s", 1) != 1 ||
		    splice(s->src[0], NULL, s->dst, NULL, 1, 0) != 1)
			break;
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, missed_wakeup_splice, 1800)
{
	long rounds = stress_rounds(300, 5000), r;
	struct splicer sp = { .rounds = rounds };
	struct io_event ev;
	struct iocb cb;
	int p[2];
	char c;
	pthread_t t;

	/* One thread polls a pipe; another splices a byte into it; this one reads it back. */
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pipe(sp.src));
	sp.dst = p[1];
	ASSERT_EQ(0, pthread_create(&t, NULL, splice_loop, &sp));
	for (r = 0; r < rounds; r++) {
		prep_poll(&cb, p[0], POLLIN);
		ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
		atomic_store(&sp.go, 1);
		ASSERT_EQ(1, wait_events(self->c.fd, 1, 1, &ev, 10000)) TH_LOG("round %ld", r);
		EXPECT_TRUE(ev.res & POLLIN);
		ASSERT_EQ(1, read(p[0], &c, 1));
	}
	atomic_store(&sp.stop, 1);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
}

struct racer {
	int wfd;
	atomic_int stop;
};

static void *write_read_loop(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop))
		if (write(r->wfd, "r", 1) != 1)
			break;
	return NULL;
}

TEST_F_TIMEOUT(stress, cancel_races_completion, 1800)
{
	long rounds = stress_rounds(2000, 10000), r, events = 0, cancelled = 0, completed = 0;
	struct racer rc;
	struct io_event ev[64];
	struct iocb *cbs;
	pthread_t t;
	int p[2];
	char buf[4096];

	/* Poll then cancel at once, while another thread makes the pipe ready and we drain it:
	 * every request must end exactly once, cancelled (res 0) or completed (POLLIN). */
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	rc.wfd = p[1];
	atomic_store(&rc.stop, 0);
	cbs = calloc(rounds, sizeof(*cbs));
	ASSERT_NE(NULL, cbs);
	ASSERT_EQ(0, pthread_create(&t, NULL, write_read_loop, &rc));
	for (r = 0; r < rounds; r++) {
		struct aiopoll_cancel cn = { .iocb = (unsigned long)&cbs[r] };
		long n, k;

		prep_poll(&cbs[r], p[0], POLLIN);
		ASSERT_EQ(1, actx_submit1(self->c.fd, &cbs[r]));
		ASSERT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn));
		ASSERT_TRUE(errno == EINPROGRESS || errno == EINVAL);
		while (read(p[0], buf, sizeof(buf)) > 0)
			;
		n = actx_getevents(self->c.fd, 0, 64, ev, &(struct timespec){ 0, 0 });
		for (k = 0; k < n; k++) {
			if (ev[k].res == 0)
				cancelled++;
			else
				completed++;
		}
		events += n > 0 ? n : 0;
	}
	atomic_store(&rc.stop, 1);
	pthread_join(t, NULL);
	while (events < rounds) {
		long n = wait_events(self->c.fd, 1, 64, ev, 10000), k;

		ASSERT_LT(0, n) TH_LOG("%ld of %ld events", events, rounds);
		for (k = 0; k < n; k++) {
			if (ev[k].res == 0)
				cancelled++;
			else
				completed++;
		}
		events += n;
	}
	EXPECT_EQ(rounds, events);
	EXPECT_EQ(0, wait_events(self->c.fd, 1, 64, ev, 100));
	EXPECT_EQ(rounds, cancelled + completed);
	free(cbs);
	close(p[0]);
	close(p[1]);
}

static void scale(struct __test_metadata *_metadata, int ctx, int multishot)
{
	long npipes = stress_rounds(300, 5000), rounds = stress_rounds(10, 1000), r, i;
	struct iocb *cbs = calloc(npipes, sizeof(*cbs));
	struct iocb **list = calloc(npipes, sizeof(*list));
	struct io_event *ev = calloc(npipes, sizeof(*ev));
	int (*p)[2] = calloc(npipes, sizeof(*p));
	struct rlimit rl = { npipes * 2 + 64, npipes * 2 + 64 };
	char c;

	ASSERT_TRUE(cbs && list && ev && p);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	for (i = 0; i < npipes; i++) {
		ASSERT_EQ(0, pipe(p[i])) TH_LOG("pipe %ld: %s", i, strerror(errno));
		prep_poll(&cbs[i], p[i][0], POLLIN);
		cbs[i].aio_data = i;
		if (multishot)
			cbs[i].aio_flags = AIOPOLL_IOCB_FLAG_MULTISHOT;
		list[i] = &cbs[i];
	}
	ASSERT_EQ(npipes, actx_submit(ctx, npipes, list));
	for (r = 0; r < rounds; r++) {
		long got = 0;

		for (i = 0; i < npipes; i++)
			ASSERT_EQ(1, write(p[i][1], "w", 1));
		while (got < npipes) {
			long n = wait_events(ctx, 1, npipes - got, ev + got, 10000);

			ASSERT_LT(0, n) TH_LOG("round %ld: %ld of %ld", r, got, npipes);
			got += n;
		}
		for (i = 0; i < npipes; i++) {
			long id = ev[i].data;

			ASSERT_LT(id, npipes);
			EXPECT_TRUE(ev[i].res & POLLIN);
			EXPECT_EQ(multishot ? AIOPOLL_POLL_MORE : 0, ev[i].res2);
			ASSERT_EQ(1, read(p[id][0], &c, 1));
		}
		if (!multishot)
			ASSERT_EQ(npipes, actx_submit(ctx, npipes, list));
		if ((r + 1) % 100 == 0)
			printf("# %ld pipes: %ld of %ld rounds\n", npipes, r + 1, rounds);
	}
	for (i = 0; i < npipes; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	free(cbs);
	free(list);
	free(ev);
	free(p);
}

struct noop_loop {
	int ctx;
	long rounds;
	atomic_long done;
};

static void *submit_noops(void *arg)
{
	struct noop_loop *n = arg;
	struct iocb cb;

	prep_rw(&cb, IOCB_CMD_NOOP, 0, NULL, 0, 0);
	while (atomic_load(&n->done) < n->rounds) {
		if (actx_submit1(n->ctx, &cb) == 1)
			atomic_fetch_add(&n->done, 1);
		else if (errno == EAGAIN)
			sched_yield();
		else
			break;
	}
	return NULL;
}

/*
 * A context polls an epoll set that watches the context itself and a pipe, while another
 * thread completes NOOPs on the context: the pipe's wake-up completes the poll inline under
 * the epoll set's lock while the NOOPs' completions wake the epoll set through the context.
 * With one shared queue this is an ABBA deadlock between two CPUs.
 */
TEST_F_TIMEOUT(stress, epoll_loop_through_context, 1800)
{
	struct noop_loop n = { .ctx = self->c.fd, .rounds = stress_rounds(300, 5000) };
	struct epoll_event ee = { .events = EPOLLIN };
	struct io_event ev[64];
	long polls = stress_rounds(300, 5000), noops = 0, r, got, i;
	struct iocb cb;
	pthread_t t;
	int ep, p[2];
	char c;

	ASSERT_EQ(0, pipe(p));
	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ee));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->c.fd, &ee));
	ASSERT_EQ(0, pthread_create(&t, NULL, submit_noops, &n));
	for (r = 0; r < polls; r++) {
		int seen = 0;

		prep_poll(&cb, ep, POLLIN);
		ASSERT_EQ(1, actx_submit1(self->c.fd, &cb));
		ASSERT_EQ(1, write(p[1], "x", 1));
		while (!seen) {
			got = wait_events(self->c.fd, 1, 64, ev, 10000);
			ASSERT_LT(0, got) TH_LOG("round %ld: no event", r);
			for (i = 0; i < got; i++) {
				if (ev[i].obj == (unsigned long)&cb) {
					EXPECT_TRUE(ev[i].res & POLLIN);
					seen = 1;
				} else {
					noops++;
				}
			}
		}
		ASSERT_EQ(1, read(p[0], &c, 1));
	}
	pthread_join(t, NULL);
	while (noops < n.rounds) {
		got = wait_events(self->c.fd, 1, 64, ev, 10000);
		ASSERT_LT(0, got) TH_LOG("%ld of %ld NOOP events", noops, n.rounds);
		noops += got;
	}
	EXPECT_EQ(n.rounds, noops);
	printf("# %ld polls and %ld NOOPs completed\n", polls, noops);
	close(ep);
	close(p[0]);
	close(p[1]);
}

/*
 * POLLFREE races a cancel. A child made with clone(CLONE_VM) shares the test's mm, so it may
 * submit on the test's context, but it has its own sighand: it arms a poll on a signalfd
 * (the entry sits on the child's sighand->signalfd_wqh) and exits. Its exit closes its copy
 * of the context fd, which cancels nothing (the child does not own the context); reaping it
 * with waitpid() frees the sighand, which sends POLLFREE. Meanwhile a thread cancels the same
 * iocb in a loop, starting at a delay that follows the race: longer while the cancel wins,
 * shorter while POLLFREE does. The wake callback's release of the entry's queue head must
 * be its last access to the request: anything after it may touch a request the cancel's side
 * already completed and freed (KASAN's use-after-free). Each round: exactly one event, res 0
 * either way, the ring empty after it, nothing in flight.
 */
#define CLONE_STACK (64 * 1024)

struct pollfree_child {
	int ctx;
	int notify;
	struct iocb *cb;
};

static int pollfree_child_fn(void *arg)
{
	struct pollfree_child *pc = arg;
	sigset_t m;
	int sfd;

	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);		/* not pending: the poll stays armed */
	sfd = signalfd(-1, &m, 0);
	if (sfd < 0)
		return 10;
	prep_poll(pc->cb, sfd, POLLIN);
	if (actx_submit1(pc->ctx, pc->cb) != 1)
		return 11;
	if (write(pc->notify, "a", 1) != 1)
		return 12;
	return 0;
}

struct pf_canceller {
	int ctx;
	struct iocb *cb;
	atomic_long go;		/* round to cancel in */
	atomic_long done;	/* last round finished */
	atomic_int reaped;	/* waitpid() returned in this round: POLLFREE was sent */
	atomic_int stop;
	atomic_long delay_ns;
	long cancel_won, pollfree_won, errors;
};

static void spin_ns(long ns)
{
	double end = now_sec() + ns / 1e9;

	while (now_sec() < end)
		;
}

static void *pf_cancel_loop(void *arg)
{
	struct pf_canceller *pc = arg;
	long seen = 0, g;

	while (!atomic_load(&pc->stop)) {
		struct aiopoll_cancel cn = { 0 };
		double end;

		g = atomic_load(&pc->go);
		if (g == seen)
			continue;
		seen = g;
		cn.iocb = (unsigned long)pc->cb;
		spin_ns(atomic_load(&pc->delay_ns));
		end = now_sec() + 10;
		for (;;) {
			if (ioctl(pc->ctx, AIOPOLL_IOC_CANCEL, &cn) != -1) {
				pc->errors++;
				break;
			}
			if (errno == EINPROGRESS) {
				pc->cancel_won++;
				break;
			}
			if (errno != EINVAL) {
				pc->errors++;
				break;
			}
			/* Not found: gone once POLLFREE was sent, else not armed yet. */
			if (atomic_load(&pc->reaped)) {
				pc->pollfree_won++;
				break;
			}
			if (now_sec() > end) {
				pc->errors++;
				break;
			}
		}
		atomic_store(&pc->done, g);
	}
	return NULL;
}

static int fdinfo_in_flight_zero(int ctx)
{
	char path[64], info[1024];
	int f, i;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ctx);
	for (i = 0; i < 100; i++) {
		memset(info, 0, sizeof(info));
		f = open(path, O_RDONLY);
		if (f < 0)
			return 0;
		if (read(f, info, sizeof(info) - 1) <= 0)
			info[0] = 0;
		close(f);
		if (strstr(info, "in-flight:\t0\n"))
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

TEST_F_TIMEOUT(stress, pollfree_races_cancel, 1800)
{
	long rounds = stress_rounds(200, 5000), r;
	struct pf_canceller pc = { .ctx = self->c.fd, .delay_ns = 20000 };
	struct io_event ev[2];
	struct iocb cb;
	pthread_t t;
	char *stack, c;
	int notify[2];

	stack = mmap(NULL, CLONE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, stack);
	ASSERT_EQ(0, pipe(notify));
	pc.cb = &cb;
	ASSERT_EQ(0, pthread_create(&t, NULL, pf_cancel_loop, &pc));
	for (r = 1; r <= rounds; r++) {
		struct pollfree_child ch = { .ctx = self->c.fd, .notify = notify[1], .cb = &cb };
		struct pollfd pfd = { .fd = notify[0], .events = POLLIN };
		long won = pc.cancel_won;
		siginfo_t si;
		pid_t pid;
		int status;

		pid = clone(pollfree_child_fn, stack + CLONE_STACK, CLONE_VM | SIGCHLD, &ch);
		ASSERT_LT(0, pid) TH_LOG("clone: %s", strerror(errno));
		ASSERT_EQ(1, poll(&pfd, 1, 10000)) TH_LOG("round %ld: the child did not arm", r);
		ASSERT_EQ(1, read(notify[0], &c, 1));
		/* A zombie now: its sighand lives until it is reaped. */
		ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
		atomic_store(&pc.reaped, 0);
		atomic_store(&pc.go, r);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));	/* POLLFREE */
		atomic_store(&pc.reaped, 1);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("round %ld: child status %#x", r, status);
		while (atomic_load(&pc.done) != r)
			;
		ASSERT_EQ(1, wait_events(self->c.fd, 1, 2, ev, 10000)) TH_LOG("round %ld", r);
		EXPECT_EQ((unsigned long)&cb, ev[0].obj);
		EXPECT_EQ(0, ev[0].res) TH_LOG("round %ld", r);
		/* Exactly one: nothing more comes, the ring is empty, nothing is in flight. */
		ASSERT_EQ(0, wait_events(self->c.fd, 0, 2, ev, 0)) TH_LOG("round %ld", r);
		EXPECT_EQ(__atomic_load_n(&self->c.ring->head, __ATOMIC_ACQUIRE),
			  __atomic_load_n(&self->c.ring->tail, __ATOMIC_ACQUIRE));
		ASSERT_TRUE(fdinfo_in_flight_zero(self->c.fd)) TH_LOG("round %ld", r);
		/* Follow the race: cancel later while it wins, sooner while POLLFREE does. */
		if (pc.cancel_won > won)
			atomic_store(&pc.delay_ns, pc.delay_ns + 2000 + (r * 7919) % 3000);
		else
			atomic_store(&pc.delay_ns, pc.delay_ns > 3000 ? pc.delay_ns - 3000 : 0);
	}
	atomic_store(&pc.stop, 1);
	pthread_join(t, NULL);
	EXPECT_EQ(0, pc.errors);
	printf("# %ld rounds: cancel first %ld, POLLFREE first %ld, final delay %ld ns\n", rounds,
	       pc.cancel_won, pc.pollfree_won, (long)pc.delay_ns);
	close(notify[0]);
	close(notify[1]);
	munmap(stack, CLONE_STACK);
}

TEST_F_TIMEOUT(stress, many_pipes_oneshot, 3600)
{
	scale(_metadata, self->c.fd, 0);
}

TEST_F_TIMEOUT(stress, many_pipes_multishot, 3600)
{
	scale(_metadata, self->c.fd, 1);
}

TEST_F_TIMEOUT(stress, close_context_with_polls_armed, 1800)
{
	long n = stress_rounds(1000, 5000), i;
	struct iocb *cbs = calloc(n, sizeof(*cbs));
	struct iocb **list = calloc(n, sizeof(*list));
	int p[2];

	ASSERT_TRUE(cbs && list);
	ASSERT_EQ(0, pipe(p));
	for (i = 0; i < n; i++) {
		prep_poll(&cbs[i], p[0], POLLIN);
		list[i] = &cbs[i];
	}
	ASSERT_EQ(n, actx_submit(self->c.fd, n, list));
	actx_fini(&self->c);
	/* The pipe works as before; the context is gone. */
	ASSERT_EQ(1, write(p[1], "k", 1));
	ASSERT_EQ(0, actx_init(&self->c, 8));
	close(p[0]);
	close(p[1]);
	free(cbs);
	free(list);
}

TEST_F_TIMEOUT(stress, exit_with_polls_armed, 1800)
{
	long rounds = stress_rounds(5, 50), r;

	for (r = 0; r < rounds; r++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct iocb cbs[100], *list[100];
			struct actx c;
			int p[2], i;

			if (pipe(p) || actx_init(&c, 128))
				_exit(10);
			for (i = 0; i < 100; i++) {
				prep_poll(&cbs[i], i & 1 ? p[0] : p[1], i & 1 ? POLLIN : POLLPRI);
				list[i] = &cbs[i];
			}
			if (actx_submit(c.fd, 100, list) != 100)
				_exit(11);
			_exit(0);
		}
		EXPECT_EQ(0, child_exit_status(pid));
	}
}

TEST_HARNESS_MAIN
