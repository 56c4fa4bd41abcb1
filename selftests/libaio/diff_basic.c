// SPDX-License-Identifier: GPL-2.0
/*
 * libaio differential test: context setup and teardown, reads and writes (plain and
 * vectored), fsync, the errors of io_setup/io_submit/io_getevents/io_destroy, the zero
 * timeout shortcut, io_queue_run callbacks, io_queue_wait and eventfd notification, and
 * io_destroy() of a context that another thread waits on in io_getevents().
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "diff.h"

#define AIO_RING_MAGIC 0xa10a10a1

/* The header of fs/aio's ring, at the address io_setup() returns. */
struct ring_hdr {
	unsigned int id, nr, head, tail, magic, compat_features, incompat_features, header_length;
};

static int callbacks;

static void cb(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	say("callback %d: key %ld res %ld res2 %ld", ++callbacks,
	    (long)(intptr_t)iocb->u.c.offset / 512, res, res2);
}

static void setup_errors(void)
{
	io_context_t ctx = NULL;

	EXPECT("io_setup(0)", io_setup(0, &ctx), -EINVAL);
	EXPECT("io_setup(-1)", io_setup(-1, &ctx), -EINVAL);
	ctx = (io_context_t)1;
	EXPECT("io_setup(8) with *ctxp != 0", io_setup(8, &ctx), -EINVAL);
	ctx = NULL;
	EXPECT("io_setup(1 << 20) over the system limit", io_setup(1 << 20, &ctx), -EAGAIN);
	EXPECT("io_queue_init(0)", io_queue_init(0, &ctx), -EINVAL);
	EXPECT("io_destroy(NULL)", io_destroy(NULL), -EINVAL);
	EXPECT("io_submit(NULL)", io_submit(NULL, 0, NULL), -EINVAL);
	EXPECT("io_getevents(NULL)", io_getevents(NULL, 0, 1, NULL, NULL), -EINVAL);
}

static void ring_header(io_context_t ctx)
{
	struct ring_hdr *r = (struct ring_hdr *)ctx;

	EXPECT("ring magic is AIO_RING_MAGIC", r->magic == AIO_RING_MAGIC, 1);
	say("ring nr %u compat %u incompat %u header_length %u", r->nr, r->compat_features,
	    r->incompat_features, r->header_length);
	EXPECT("ring empty", r->head == r->tail, 1);
}

static void rw(io_context_t ctx, int fd)
{
	static char wbuf[4][512], rbuf[4][512], v1[100], v2[300], v3[112];
	struct iocb cbs[4], *ptrs[4];
	struct io_event ev[4];
	struct iovec wv[3] = { { v1, sizeof(v1) }, { v2, sizeof(v2) }, { v3, sizeof(v3) } };
	struct iovec rv[3];
	char rv1[100], rv2[300], rv3[112];
	int i, n, ok;

	for (i = 0; i < 4; i++) {
		memset(wbuf[i], 'a' + i, sizeof(wbuf[i]));
		io_prep_pwrite(&cbs[i], fd, wbuf[i], 512, i * 512);
		cbs[i].data = (void *)(intptr_t)(i + 1);
		ptrs[i] = &cbs[i];
	}
	EXPECT("io_submit(4 writes)", io_submit(ctx, 4, ptrs), 4);
	n = io_getevents(ctx, 4, 4, ev, NULL);
	EXPECT("io_getevents(4, 4)", n, 4);
	qsort(ev, n > 0 ? n : 0, sizeof(ev[0]), ev_cmp);
	for (i = 0; i < n; i++) {
		say("  event data %ld res %ld res2 %ld obj is its iocb %d",
		    (long)(intptr_t)ev[i].data, (long)ev[i].res, (long)ev[i].res2,
		    ev[i].obj == &cbs[i]);
	}
	for (i = 0; i < 4; i++) {
		io_prep_pread(&cbs[i], fd, rbuf[i], 512, i * 512);
		cbs[i].data = (void *)(intptr_t)(i + 11);
	}
	EXPECT("io_submit(4 reads)", io_submit(ctx, 4, ptrs), 4);
	EXPECT("io_getevents(4, 4)", io_getevents(ctx, 4, 4, ev, NULL), 4);
	EXPECT("data read back", !memcmp(rbuf, wbuf, sizeof(rbuf)), 1);

	memset(v1, '1', sizeof(v1));
	memset(v2, '2', sizeof(v2));
	memset(v3, '3', sizeof(v3));
	io_prep_pwritev(&cbs[0], fd, wv, 3, 4096);
	EXPECT("io_submit(pwritev)", io_submit(ctx, 1, ptrs), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, ev, NULL), 1);
	EXPECT("  pwritev res", ev[0].res, 512);
	rv[0] = (struct iovec){ rv1, sizeof(rv1) };
	rv[1] = (struct iovec){ rv2, sizeof(rv2) };
	rv[2] = (struct iovec){ rv3, sizeof(rv3) };
	io_prep_preadv(&cbs[0], fd, rv, 3, 4096);
	EXPECT("io_submit(preadv)", io_submit(ctx, 1, ptrs), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, ev, NULL), 1);
	EXPECT("  preadv res", ev[0].res, 512);
	ok = !memcmp(rv1, v1, 100) && !memcmp(rv2, v2, 300) && !memcmp(rv3, v3, 112);
	EXPECT("  vectored data read back", ok, 1);

	io_prep_preadv(&cbs[0], fd, rv, 1, 4096);
	EXPECT("io_submit(preadv, one segment)", io_submit(ctx, 1, ptrs), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, ev, NULL), 1);
	EXPECT("  preadv one segment res", ev[0].res, 100);

	io_prep_preadv2(&cbs[0], fd, rv, 3, 4096, 0);
	EXPECT("io_submit(preadv2 flags 0)", io_submit(ctx, 1, ptrs), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, ev, NULL), 1);
	EXPECT("  preadv2 res", ev[0].res, 512);

	io_prep_pread(&cbs[0], fd, rbuf[0], 512, 1 << 20);
	EXPECT("io_submit(pread past EOF)", io_submit(ctx, 1, ptrs), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, ev, NULL), 1);
	EXPECT("  pread past EOF res", ev[0].res, 0);

	io_prep_fsync(&cbs[0], fd);
	io_prep_fdsync(&cbs[1], fd);
	EXPECT("io_submit(fsync, fdsync)", io_submit(ctx, 2, ptrs), 2);
	EXPECT("io_getevents", io_getevents(ctx, 2, 2, ev, NULL), 2);
	EXPECT("  fsync res", ev[0].res, 0);
	EXPECT("  fdsync res", ev[1].res, 0);
}

static void submit_errors(io_context_t ctx, int fd, int wronly)
{
	static char buf[512];
	struct iocb cbs[2], *ptrs[2] = { &cbs[0], &cbs[1] };

	EXPECT("io_submit(nr -1)", io_submit(ctx, -1, ptrs), -EINVAL);
	EXPECT("io_submit(nr 0)", io_submit(ctx, 0, ptrs), 0);
	io_prep_pread(&cbs[0], 9999, buf, 512, 0);
	EXPECT("io_submit(bad fd)", io_submit(ctx, 1, ptrs), -EBADF);
	io_prep_pread(&cbs[0], fd, buf, 512, 0);
	cbs[0].aio_lio_opcode = 4;
	EXPECT("io_submit(opcode 4)", io_submit(ctx, 1, ptrs), -EINVAL);
	io_prep_pread(&cbs[0], wronly, buf, 512, 0);
	EXPECT("io_submit(pread on O_WRONLY)", io_submit(ctx, 1, ptrs), -EBADF);
	io_prep_pread(&cbs[0], fd, buf, 512, -512);
	EXPECT("io_submit(negative offset)", io_submit(ctx, 1, ptrs), -EINVAL);
	io_prep_pread(&cbs[0], fd, buf, 512, 0);
	io_prep_pread(&cbs[1], 9999, buf, 512, 0);
	EXPECT("io_submit(good, bad fd)", io_submit(ctx, 2, ptrs), 1);
	EXPECT("io_getevents for the good one", io_getevents(ctx, 1, 1, (struct io_event[1]){}, NULL), 1);
}

static void getevents(io_context_t ctx)
{
	struct io_event ev[2];
	struct timespec zero = ms(0), t = ms(30);

	EXPECT("io_getevents(min 2 > nr 1)", io_getevents(ctx, 2, 1, ev, NULL), -EINVAL);
	EXPECT("io_getevents(nr -1)", io_getevents(ctx, 0, -1, ev, NULL), -EINVAL);
	EXPECT("io_getevents(zero timeout, empty)", io_getevents(ctx, 1, 2, ev, &zero), 0);
	EXPECT("io_getevents(30 ms, empty)", io_getevents(ctx, 1, 2, ev, &t), 0);
	EXPECT("io_queue_wait(zero timeout)", io_queue_wait(ctx, &zero), 0);
}

static void queue_run_and_eventfd(io_context_t ctx, int fd)
{
	static char buf[3][512];
	struct iocb cbs[3], *ptrs[3];
	struct io_event ev;
	uint64_t count = 0;
	int i, efd;

	for (i = 0; i < 3; i++) {
		io_prep_pwrite(&cbs[i], fd, buf[i], 512, i * 512);
		io_set_callback(&cbs[i], cb);
		ptrs[i] = &cbs[i];
	}
	EXPECT("io_submit(3 writes with callbacks)", io_submit(ctx, 3, ptrs), 3);
	/* tmpfs completes them in io_submit, so all three are in the ring now. */
	EXPECT("io_queue_run", io_queue_run(ctx), 0);
	EXPECT("callbacks called", callbacks, 3);

	efd = eventfd(0, EFD_CLOEXEC);
	io_prep_pwrite(&cbs[0], fd, buf[0], 512, 0);
	io_set_eventfd(&cbs[0], efd);
	io_prep_pwrite(&cbs[1], fd, buf[1], 512, 512);
	io_set_eventfd(&cbs[1], efd);
	EXPECT("io_submit(2 writes with eventfd)", io_submit(ctx, 2, ptrs), 2);
	EXPECT("eventfd read", read(efd, &count, 8), 8);
	EXPECT("eventfd count", count, 2);
	EXPECT("io_getevents", io_getevents(ctx, 2, 2, (struct io_event[2]){}, NULL), 2);
	(void)ev;
	close(efd);
}

struct waiter {
	io_context_t ctx;
	int ret;
};

static void *wait_forever(void *arg)
{
	struct waiter *w = arg;
	struct io_event ev;

	w->ret = io_getevents(w->ctx, 1, 1, &ev, NULL);
	return NULL;
}

/*
 * io_destroy() wakes a thread blocked in io_getevents() on the context, whose call fails
 * with -EINVAL (fs/aio's io_destroy(); programs such as MariaDB's reaper rely on it).
 */
static void destroy_wakes_waiter(void)
{
	struct waiter w = { .ret = 1 };
	pthread_t t;

	EXPECT("io_setup(8) for a waiter", io_setup(8, &w.ctx), 0);
	if (pthread_create(&t, NULL, wait_forever, &w)) {
		EXPECT("pthread_create", 1, 0);
		return;
	}
	usleep(200 * 1000);
	EXPECT("io_destroy of a context with a waiter", io_destroy(w.ctx), 0);
	pthread_join(t, NULL);
	EXPECT("the waiter's io_getevents", w.ret, -EINVAL);
}

int main(void)
{
	char path[] = "/tmp/aiodiff.XXXXXX";
	io_context_t ctx = NULL, ctx2 = NULL;
	int fd, wronly;

	setup_errors();
	EXPECT("io_setup(64)", io_setup(64, &ctx), 0);
	EXPECT("io_context_t set", ctx != NULL, 1);
	if (!ctx)
		return diff_exit() | 1;
	ring_header(ctx);
	EXPECT("io_queue_init(16) (a second context)", io_queue_init(16, &ctx2), 0);

	fd = mkstemp(path);
	wronly = open(path, O_WRONLY);
	unlink(path);
	rw(ctx, fd);
	submit_errors(ctx, fd, wronly);
	getevents(ctx);
	queue_run_and_eventfd(ctx, fd);

	destroy_wakes_waiter();
	EXPECT("io_queue_release(second)", io_queue_release(ctx2), 0);
	EXPECT("io_destroy", io_destroy(ctx), 0);
	EXPECT("io_destroy again", io_destroy(ctx), -EINVAL);
	/* Not io_getevents(): libaio reads the (now unmapped) ring first and faults. */
	EXPECT("io_submit after destroy", io_submit(ctx, 0, NULL), -EINVAL);
	close(fd);
	close(wronly);
	return diff_exit();
}
