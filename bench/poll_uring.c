// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring engines of poll_bench: IORING_OP_POLL_ADD, one-shot and multishot, through
 * liburing, on a ring set up with default flags.
 *
 * liburing enters the kernel with inline assembly, which the link-time wrappers of
 * poll_bench.c do not see: this file counts the io_uring_enter() calls instead, knowing when
 * liburing makes one (without SQPOLL): io_uring_submit() and io_uring_submit_and_wait() with
 * SQEs pending always enter once; io_uring_wait_cqe() enters once when the CQ ring is empty
 * (it peeks first) and not at all otherwise, and is only called when io_uring_cq_ready() said
 * the ring was empty.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>

#include "poll_bench.h"

#define ENTRIES 256	/* SQ size; the CQ ring has twice as many, >= 2 * MAXBATCH */

struct uring {
	struct io_uring ring;
	const int *fds;
	int nfds, multi, pending;
	int rearm[2 * ENTRIES];
};

static void *ur_create(const int *fds, int nfds, int multi)
{
	struct uring *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		die("calloc", -ENOMEM);
	u->fds = fds;
	u->nfds = nfds;
	u->multi = multi;
	ret = io_uring_queue_init(ENTRIES, &u->ring, 0);
	if (ret)
		die("io_uring_queue_init", ret);
	return u;
}

static void *create_oneshot(const int *fds, int nfds)
{
	return ur_create(fds, nfds, 0);
}

static void *create_multi(const int *fds, int nfds)
{
	return ur_create(fds, nfds, 1);
}

static void ur_submit(struct uring *u)
{
	int ret;

	if (!u->pending)
		return;
	nsys++;
	ret = io_uring_submit(&u->ring);
	if (ret != u->pending)
		die("io_uring_submit", ret < 0 ? ret : -EAGAIN);
	u->pending = 0;
}

static struct io_uring_sqe *ur_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		ur_submit(u);
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			die("io_uring_get_sqe", -EBUSY);
	}
	u->pending++;
	return sqe;
}

static void ur_arm(void *ctx, const int *idx, int n)
{
	struct uring *u = ctx;
	int i;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = ur_sqe(u);

		if (u->multi)
			io_uring_prep_poll_multishot(sqe, u->fds[idx[i]], POLLIN);
		else
			io_uring_prep_poll_add(sqe, u->fds[idx[i]], POLLIN);
		io_uring_sqe_set_data64(sqe, idx[i]);
	}
	ur_submit(u);
}

/* Waits until the CQ ring has at least one CQE. */
static void ur_wait_cqe(struct uring *u)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (io_uring_cq_ready(&u->ring))
		return;
	do {
		nsys++;
		ret = io_uring_wait_cqe(&u->ring, &cqe);
	} while (ret == -EINTR);
	if (ret)
		die("io_uring_wait_cqe", ret);
}

static int ur_wait(void *ctx, int *idx, int max)
{
	struct uring *u = ctx;
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;
	int k = 0, nre = 0;

	ur_wait_cqe(u);
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		long j = (long)cqe->user_data;
		int more = cqe->flags & IORING_CQE_F_MORE;

		if (k == max)
			break;
		seen++;
		if (j < 0 || j >= u->nfds)
			die("CQE of an unknown poll", -EPROTO);
		if (u->multi && !more)
			u->rearm[nre++] = j;	/* the multishot poll ended: arm it again */
		if (u->multi && !more && cqe->res < 0)
			continue;
		if (cqe->res < 0 || !(cqe->res & POLLIN))
			die("poll CQE", cqe->res < 0 ? cqe->res : -EPROTO);
		idx[k++] = j;
	}
	io_uring_cq_advance(&u->ring, seen);
	if (nre)
		ur_arm(u, u->rearm, nre);
	return k;
}

static void ur_cancel(void *ctx, int i, long ops)
{
	struct uring *u = ctx;
	long k;

	for (k = 0; k < ops; k++) {
		struct io_uring_sqe *sqe = ur_sqe(u);
		struct io_uring_cqe *cqe;
		unsigned int head;
		int ret, got = 0;

		io_uring_prep_poll_add(sqe, u->fds[i], POLLIN);
		io_uring_sqe_set_data64(sqe, 1);
		ur_submit(u);
		sqe = ur_sqe(u);
		io_uring_prep_cancel64(sqe, 1, 0);
		io_uring_sqe_set_data64(sqe, 2);
		/* Submits the cancel and waits for both CQEs: one io_uring_enter(). */
		nsys++;
		ret = io_uring_submit_and_wait(&u->ring, 2);
		if (ret != 1)
			die("io_uring_submit_and_wait", ret < 0 ? ret : -EAGAIN);
		u->pending = 0;
		while (got < 2) {
			unsigned int seen = 0;

			ur_wait_cqe(u);
			io_uring_for_each_cqe(&u->ring, head, cqe) {
				int want = cqe->user_data == 1 ? -ECANCELED : 0;

				if (cqe->user_data < 1 || cqe->user_data > 2 || cqe->res != want)
					die("cancel CQE", cqe->res < 0 ? cqe->res : -EPROTO);
				seen++;
			}
			io_uring_cq_advance(&u->ring, seen);
			got += seen;
		}
		if (got != 2)
			die("cancel CQEs", -EPROTO);
	}
}

static void ur_destroy(void *ctx)
{
	struct uring *u = ctx;

	io_uring_queue_exit(&u->ring);
	free(u);
}

const struct engine uring_engine = {
	"uring", 1, create_oneshot, ur_arm, ur_wait, ur_cancel, ur_destroy,
};

const struct engine uring_multi_engine = {
	"uring-multi", 0, create_multi, ur_arm, ur_wait, NULL, ur_destroy,
};
