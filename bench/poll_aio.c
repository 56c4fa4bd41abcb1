// SPDX-License-Identifier: GPL-2.0
/*
 * The libaio engines of poll_bench: IOCB_CMD_POLL through the libaio API.
 *
 * This file is compiled twice from the same source, so that aiopoll and fs/aio run literally
 * the same code:
 *
 *  - with -DAIOPOLL, against libaiopoll's <libaio.h> and <libaiopoll.h>: the aiopoll engines
 *    (one-shot reaped with io_getevents(), i.e. the AIOPOLL_IOC_GETEVENTS ioctl; one-shot
 *    reaped from the mmap'ed ring with aiopoll_getevents(); multishot);
 *  - without it, against the system's <libaio.h>: the fs/aio engine, linked with the system's
 *    libaio (libaio.a) into one object whose libaio symbols are then made local, so that they
 *    cannot meet libaiopoll's functions of the same names (bench/Makefile).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#ifdef AIOPOLL
#include <libaiopoll.h>
#else
#include <libaio.h>
#endif

#include "poll_bench.h"

enum mode {
	WAIT,	/* reap with io_getevents(): a system call (fs/aio) or ioctl (aiopoll) */
	RING,	/* reap from the ring in user space, io_getevents() only when it is empty */
	MULTI,	/* multishot polls, reaped from the ring */
};

struct aio {
	io_context_t ctx;
	const int *fds;
	int nfds;
	enum mode mode;
	struct iocb *cbs;	/* one per fd: an armed poll's iocb must stay valid */
	struct iocb **list;
	struct io_event ev[MAXBATCH];
};

static void *aio_create(const int *fds, int nfds, enum mode mode)
{
	struct aio *a = calloc(1, sizeof(*a));
	int ret;

	if (!a)
		die("calloc", -ENOMEM);
	a->cbs = calloc(nfds, sizeof(*a->cbs));
	a->list = calloc(nfds, sizeof(*a->list));
	if (!a->cbs || !a->list)
		die("calloc", -ENOMEM);
	a->fds = fds;
	a->nfds = nfds;
	a->mode = mode;
	/* Every armed poll holds a ring slot, and so does every event not yet reaped. */
	ret = io_setup(nfds + 2 * MAXBATCH, &a->ctx);
	if (ret)
		die("io_setup", ret);
	return a;
}

static void submit(struct aio *a, struct iocb **list, long n)
{
	while (n > 0) {
		int ret = io_submit(a->ctx, n, list);

		if (ret <= 0)
			die("io_submit", ret ? ret : -EAGAIN);
		list += ret;
		n -= ret;
	}
}

static void prep(struct aio *a, int i)
{
	struct iocb *cb = &a->cbs[i];

#ifdef AIOPOLL
	if (a->mode == MULTI)
		io_prep_poll_multishot(cb, a->fds[i], POLLIN);
	else
#endif
		io_prep_poll(cb, a->fds[i], POLLIN);
	cb->data = (void *)(long)i;
}

static void aio_arm(void *ctx, const int *idx, int n)
{
	struct aio *a = ctx;
	int i;

	for (i = 0; i < n; i++) {
		prep(a, idx[i]);
		a->list[i] = &a->cbs[idx[i]];
	}
	submit(a, a->list, n);
}

/* At least one event, at most nr. */
static int reap(struct aio *a, long nr, struct io_event *ev)
{
	int n;

	do {
#ifdef AIOPOLL
		if (a->mode != WAIT)
			n = aiopoll_getevents(a->ctx, 1, nr, ev, NULL);
		else
#endif
			n = io_getevents(a->ctx, 1, nr, ev, NULL);
	} while (n == -EINTR || n == 0);
	if (n < 0)
		die("io_getevents", n);
	return n;
}

static int aio_wait(void *ctx, int *idx, int max)
{
	struct aio *a = ctx;
	int n = reap(a, max, a->ev), i, k = 0;

	for (i = 0; i < n; i++) {
		struct io_event *e = &a->ev[i];
		long res = (long)e->res;
		int j = (int)(long)e->data;

		if (j < 0 || j >= a->nfds || e->obj != &a->cbs[j])
			die("event of an unknown iocb", -EPROTO);
#ifdef AIOPOLL
		if (a->mode == MULTI && e->res2 != AIOPOLL_POLL_MORE) {
			/* It ended for want of a ring slot: arm it again (it posts at once). */
			if (res != -EOVERFLOW)
				die("multishot poll ended", res < 0 ? res : -EPROTO);
			aio_arm(a, &j, 1);
			continue;
		}
#endif
		if (res < 0 || !(res & POLLIN))
			die("poll event", res < 0 ? res : -EPROTO);
		idx[k++] = j;
	}
	return k;
}

static void aio_cancel(void *ctx, int i, long ops)
{
	struct aio *a = ctx;
	struct iocb *list[1] = { &a->cbs[i] };
	struct io_event ev;
	long k;

	for (k = 0; k < ops; k++) {
		int ret;

		prep(a, i);
		submit(a, list, 1);
		/* A poll's cancellation is asynchronous: EINPROGRESS, and the event follows. */
		ret = io_cancel(a->ctx, list[0], &ev);
		if (ret != -EINPROGRESS)
			die("io_cancel", ret ? ret : -EPROTO);
		reap(a, 1, &ev);
		if (ev.obj != list[0] || ev.res != 0)
			die("cancelled poll's event", -EPROTO);
	}
}

static void aio_destroy(void *ctx)
{
	struct aio *a = ctx;
	int ret = io_destroy(a->ctx);

	if (ret)
		die("io_destroy", ret);
	free(a->cbs);
	free(a->list);
	free(a);
}

#ifdef AIOPOLL
static void *create_wait(const int *fds, int nfds)
{
	return aio_create(fds, nfds, WAIT);
}

static void *create_ring(const int *fds, int nfds)
{
	return aio_create(fds, nfds, RING);
}

static void *create_multi(const int *fds, int nfds)
{
	return aio_create(fds, nfds, MULTI);
}

const struct engine aiopoll_wait_engine = {
	"aiopoll-wait", 1, create_wait, aio_arm, aio_wait, aio_cancel, aio_destroy,
};

const struct engine aiopoll_ring_engine = {
	"aiopoll-ring", 1, create_ring, aio_arm, aio_wait, aio_cancel, aio_destroy,
};

const struct engine aiopoll_multi_engine = {
	"aiopoll-multi", 0, create_multi, aio_arm, aio_wait, NULL, aio_destroy,
};
#else
static void *create_fsaio(const int *fds, int nfds)
{
	return aio_create(fds, nfds, WAIT);
}

const struct engine fsaio_engine = {
	"fsaio", 1, create_fsaio, aio_arm, aio_wait, aio_cancel, aio_destroy,
};
#endif
