// SPDX-License-Identifier: GPL-2.0
/*
 * The epoll engines of poll_bench: level-triggered and edge-triggered. epoll has no one-shot
 * poll to re-arm in these modes: an fd stays in the set, and the loop's read(2) of the byte
 * ends its readiness (level) or the next write makes a new edge (edge). The epoll analogue
 * of arming and cancelling a poll is EPOLL_CTL_ADD followed by EPOLL_CTL_DEL.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "poll_bench.h"

struct ep {
	int ep;
	const int *fds;
	int nfds;
	unsigned int flags;
	struct epoll_event ev[MAXBATCH];
};

static void *ep_create(const int *fds, int nfds, unsigned int flags)
{
	struct ep *p = calloc(1, sizeof(*p));

	if (!p)
		die("calloc", -ENOMEM);
	p->fds = fds;
	p->nfds = nfds;
	p->flags = flags;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0)
		die("epoll_create1", 0);
	return p;
}

static void *create_lt(const int *fds, int nfds)
{
	return ep_create(fds, nfds, 0);
}

static void *create_et(const int *fds, int nfds)
{
	return ep_create(fds, nfds, EPOLLET);
}

static void ctl(struct ep *p, int op, int i)
{
	struct epoll_event e = { .events = EPOLLIN | p->flags, .data.u32 = i };

	nsys++;
	if (epoll_ctl(p->ep, op, p->fds[i], &e))
		die(op == EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : "EPOLL_CTL_DEL", 0);
}

static void ep_arm(void *ctx, const int *idx, int n)
{
	int i;

	for (i = 0; i < n; i++)
		ctl(ctx, EPOLL_CTL_ADD, idx[i]);
}

static int ep_wait(void *ctx, int *idx, int max)
{
	struct ep *p = ctx;
	int n, i;

	do {
		nsys++;
		n = epoll_wait(p->ep, p->ev, max, -1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		die("epoll_wait", 0);
	for (i = 0; i < n; i++) {
		int j = p->ev[i].data.u32;

		if (j >= p->nfds || !(p->ev[i].events & EPOLLIN))
			die("epoll event", -EPROTO);
		idx[i] = j;
	}
	return n;
}

static void ep_cancel(void *ctx, int i, long ops)
{
	long k;

	for (k = 0; k < ops; k++) {
		ctl(ctx, EPOLL_CTL_ADD, i);
		ctl(ctx, EPOLL_CTL_DEL, i);
	}
}

static void ep_destroy(void *ctx)
{
	struct ep *p = ctx;

	if (close(p->ep))
		die("close", 0);
	free(p);
}

const struct engine epoll_lt_engine = {
	"epoll-lt", 0, create_lt, ep_arm, ep_wait, ep_cancel, ep_destroy,
};

const struct engine epoll_et_engine = {
	"epoll-et", 0, create_et, ep_arm, ep_wait, NULL, ep_destroy,
};
