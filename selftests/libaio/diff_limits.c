// SPDX-License-Identifier: GPL-2.0
/*
 * libaio differential test: how many requests a context takes before io_submit() says
 * -EAGAIN, an io_submit() asking for more than the context holds, and a forked child using
 * its parent's context (which is not its own: -EINVAL everywhere).
 */
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"

#define MAXREQ 4096

static struct iocb cbs[MAXREQ], *ptrs[MAXREQ];

/* Submits one poll at a time on a pipe nobody writes to, until io_submit() refuses. */
static void fill(int nr_events, int rfd)
{
	io_context_t ctx = NULL;
	int i, ret = 0, n = 0;
	char what[64];

	snprintf(what, sizeof(what), "io_setup(%d)", nr_events);
	EXPECT(what, io_setup(nr_events, &ctx), 0);
	for (i = 0; i < MAXREQ; i++) {
		io_prep_poll(&cbs[i], rfd, POLLIN);
		ret = io_submit(ctx, 1, &ptrs[i]);
		if (ret != 1)
			break;
		n++;
	}
	/*
	 * Not in the transcript: fs/aio's count depends on its per-CPU slot caches (which CPU
	 * the task ran on); aiopoll always takes ring_nr - 1. Only the bounds are compared.
	 */
	fprintf(stderr, "%d polls armed before io_submit() returned %d\n", n, ret);
	EXPECT("  at least nr_events armed", n >= nr_events, 1);
	EXPECT("  refused with -EAGAIN", ret, -EAGAIN);
	EXPECT("  io_destroy", io_destroy(ctx), 0);

	ctx = NULL;
	EXPECT(what, io_setup(nr_events, &ctx), 0);
	for (i = 0; i < MAXREQ; i++)
		io_prep_poll(&cbs[i], rfd, POLLIN);
	ret = io_submit(ctx, MAXREQ, ptrs);
	fprintf(stderr, "one io_submit() of %d polls returned %d\n", MAXREQ, ret);
	EXPECT("  one io_submit() of 4096 polls takes at least nr_events", ret >= nr_events, 1);
	EXPECT("  io_destroy", io_destroy(ctx), 0);
}

static void child_of_fork(int rfd)
{
	io_context_t ctx = NULL;
	pid_t pid;
	int status;

	EXPECT("io_setup(8)", io_setup(8, &ctx), 0);
	io_prep_poll(&cbs[0], rfd, POLLIN);
	EXPECT("io_submit in the parent", io_submit(ctx, 1, ptrs), 1);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		EXPECT("child: io_submit", io_submit(ctx, 1, ptrs), -EINVAL);
		/*
		 * Not io_getevents(): libaio reads the ring first, which the child does not have
		 * (fs/aio does not copy it into children), and faults; libaiopoll says -EINVAL.
		 */
		EXPECT("child: io_destroy", io_destroy(ctx), -EINVAL);
		_exit(diff_failed);
	}
	waitpid(pid, &status, 0);
	EXPECT("child exit status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       0);
	EXPECT("parent: io_submit still works", io_submit(ctx, 1, ptrs), 1);
	EXPECT("parent: io_destroy", io_destroy(ctx), 0);
}

int main(void)
{
	int fds[2], i;

	for (i = 0; i < MAXREQ; i++)
		ptrs[i] = &cbs[i];
	if (pipe(fds))
		return 2;
	fill(1, fds[0]);
	fill(8, fds[0]);
	fill(100, fds[0]);
	fill(1000, fds[0]);
	child_of_fork(fds[0]);
	return diff_exit();
}
