// SPDX-License-Identifier: GPL-2.0
/*
 * libaio differential test: IOCB_CMD_POLL on pipes, eventfd and sockets (the event masks
 * fs/aio reports), io_cancel of an armed poll and of unknown requests, many polls with a
 * subset made ready, and io_destroy with polls still armed.
 */
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diff.h"

#define NPIPES 32

static void pipe_poll(io_context_t ctx)
{
	struct iocb cb, cb2, *p = &cb, *p2 = &cb2;
	struct io_event ev;
	struct timespec zero = ms(0), t = ms(10000);
	int fds[2];

	if (pipe(fds))
		exit(2);
	io_prep_poll(&cb, fds[0], POLLIN);
	cb.data = (void *)1;
	EXPECT("io_submit(POLLIN on empty pipe)", io_submit(ctx, 1, &p), 1);
	EXPECT("io_getevents(zero timeout)", io_getevents(ctx, 1, 1, &ev, &zero), 0);
	EXPECT("write to the pipe", write(fds[1], "x", 1), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event data %ld res 0x%lx res2 %ld obj ok %d", (long)(intptr_t)ev.data,
	    (long)ev.res, (long)ev.res2, ev.obj == &cb);
	EXPECT("  POLLIN set", !!(ev.res & POLLIN), 1);

	io_prep_poll(&cb2, fds[1], POLLOUT);
	EXPECT("io_submit(POLLOUT on the write end)", io_submit(ctx, 1, &p2), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event res 0x%lx", (long)ev.res);

	io_prep_poll(&cb, fds[0], POLLIN);
	EXPECT("io_submit(POLLIN on a pipe with data)", io_submit(ctx, 1, &p), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event res 0x%lx", (long)ev.res);

	close(fds[1]);
	io_prep_poll(&cb, fds[0], POLLIN);
	EXPECT("io_submit(POLLIN after the writer closed)", io_submit(ctx, 1, &p), 1);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event res 0x%lx", (long)ev.res);
	close(fds[0]);
}

static void other_files(io_context_t ctx)
{
	struct iocb cb, *p = &cb;
	struct io_event ev;
	struct timespec t = ms(10000);
	uint64_t one = 1;
	int efd = eventfd(0, 0), sv[2];

	io_prep_poll(&cb, efd, POLLIN);
	EXPECT("io_submit(POLLIN on eventfd)", io_submit(ctx, 1, &p), 1);
	EXPECT("eventfd write", write(efd, &one, 8), 8);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event res 0x%lx", (long)ev.res);
	close(efd);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		exit(2);
	io_prep_poll(&cb, sv[0], POLLIN | POLLRDHUP);
	EXPECT("io_submit(POLLIN|POLLRDHUP on a socket)", io_submit(ctx, 1, &p), 1);
	EXPECT("send", send(sv[1], "hello", 5, 0), 5);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event res 0x%lx", (long)ev.res);
	io_prep_poll(&cb, sv[0], POLLRDHUP);
	EXPECT("io_submit(POLLRDHUP)", io_submit(ctx, 1, &p), 1);
	EXPECT("shutdown(SHUT_WR) of the peer", shutdown(sv[1], SHUT_WR), 0);
	EXPECT("io_getevents", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event res 0x%lx", (long)ev.res);
	close(sv[0]);
	close(sv[1]);
}

static void cancel(io_context_t ctx)
{
	struct iocb cb, other, *p = &cb;
	struct io_event ev, result;
	struct timespec t = ms(10000), zero = ms(0);
	int fds[2];

	if (pipe(fds))
		exit(2);
	io_prep_poll(&cb, fds[0], POLLIN);
	cb.data = (void *)7;
	EXPECT("io_submit(POLLIN)", io_submit(ctx, 1, &p), 1);
	EXPECT("io_cancel(armed poll)", io_cancel(ctx, &cb, &result), -EINPROGRESS);
	EXPECT("io_getevents (the cancelled poll's event)", io_getevents(ctx, 1, 1, &ev, &t), 1);
	say("  event data %ld res %ld res2 %ld", (long)(intptr_t)ev.data, (long)ev.res,
	    (long)ev.res2);
	EXPECT("io_cancel(same iocb again)", io_cancel(ctx, &cb, &result), -EINVAL);
	io_prep_poll(&other, fds[0], POLLIN);
	EXPECT("io_cancel(never submitted)", io_cancel(ctx, &other, &result), -EINVAL);
	EXPECT("io_getevents(zero timeout)", io_getevents(ctx, 1, 1, &ev, &zero), 0);
	close(fds[0]);
	close(fds[1]);
}

static void many(io_context_t ctx)
{
	struct iocb cbs[NPIPES], *ptrs[NPIPES];
	struct io_event ev[NPIPES];
	struct timespec t = ms(10000);
	int fds[NPIPES][2], i, n, got = 0, ok = 1;

	for (i = 0; i < NPIPES; i++) {
		if (pipe(fds[i]))
			exit(2);
		io_prep_poll(&cbs[i], fds[i][0], POLLIN);
		cbs[i].data = (void *)(intptr_t)i;
		ptrs[i] = &cbs[i];
	}
	EXPECT("io_submit(32 polls)", io_submit(ctx, NPIPES, ptrs), NPIPES);
	for (i = 0; i < NPIPES; i += 2)
		if (write(fds[i][1], "y", 1) != 1)
			exit(2);
	while (got < NPIPES / 2) {
		n = io_getevents(ctx, 1, NPIPES, ev + got, &t);
		if (n <= 0)
			break;
		got += n;
	}
	EXPECT("events for the 16 written pipes", got, NPIPES / 2);
	qsort(ev, got, sizeof(ev[0]), ev_cmp);
	for (i = 0; i < got; i++)
		if ((intptr_t)ev[i].data != 2 * i || !(ev[i].res & POLLIN))
			ok = 0;
	EXPECT("  exactly the even pipes, each with POLLIN", ok, 1);
	/* The other 16 stay armed: io_destroy must cancel them and return. */
	EXPECT("io_destroy with 16 polls armed", io_destroy(ctx), 0);
	for (i = 0; i < NPIPES; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
}

int main(void)
{
	io_context_t ctx = NULL;

	EXPECT("io_setup(128)", io_setup(128, &ctx), 0);
	if (!ctx)
		return diff_exit() | 1;
	pipe_poll(ctx);
	other_files(ctx);
	cancel(ctx);
	many(ctx);
	return diff_exit();
}
