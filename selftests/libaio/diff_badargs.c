// SPDX-License-Identifier: GPL-2.0
/*
 * libaio differential test: bad arguments. libaio's io_setup(), io_destroy(), io_submit()
 * and io_cancel() are bare system calls, so fs/aio's checks and their order decide the
 * answer: a context pointer that cannot be read or written is -EFAULT, a context id that is
 * not 0 on entry or 0 events is -EINVAL, anything that is not a context is -EINVAL (after
 * the iocb key of io_cancel() and the timeout and signal mask of io_[p]getevents(), which
 * are read first and give -EFAULT). None of it may kill the caller: every case runs in a
 * child of its own, whose death by a signal is in the transcript.
 *
 * Not here: io_getevents() on a non-NULL pointer that is not mapped, or on a destroyed
 * context, which libaio itself dereferences (it reads the ring's magic) and faults on.
 */
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"

/*
 * An address in the kernel's half of x86-64 (its text), never readable from user space,
 * and one in the never-mapped first page. Volatile, so that the compiler does not warn
 * about (or act on) what it would know of them.
 */
static volatile uintptr_t kernel_addr = 0xffffffff81000000UL, bad_addr = 1;
#define KERNEL_ADDR ((void *)kernel_addr)
#define BAD_PTR ((void *)bad_addr)

static int rfd;

/* Runs one case in a child; a child killed by a signal shows as 128 + the signal. */
static void in_child(const char *what, void (*fn)(void))
{
	char line[128];
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* The child's status is its own case's, not what failed before the fork. */
		diff_failed = 0;
		fn();
		fflush(stdout);
		_exit(diff_failed);
	}
	waitpid(pid, &status, 0);
	snprintf(line, sizeof(line), "%s: child exit status", what);
	EXPECT(line, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
}

/* A page that reads as zeroes (or as val) and cannot be written. */
static void *ro_page(unsigned long val)
{
	long sz = sysconf(_SC_PAGESIZE);
	unsigned long *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	if (p == MAP_FAILED)
		exit(2);
	*p = val;
	if (mprotect(p, sz, PROT_READ))
		exit(2);
	return p;
}

/* After a failed io_setup(), contexts can still be made and destroyed. */
static void setup_still_works(void)
{
	io_context_t ctx = NULL;

	EXPECT("  io_setup(1) afterwards", io_setup(1, &ctx), 0);
	EXPECT("  io_destroy afterwards", io_destroy(ctx), 0);
}

static void setup_kernel_addr(void)
{
	EXPECT("io_setup(-1000, kernel address)", io_setup(-1000, KERNEL_ADDR), -EFAULT);
	EXPECT("io_setup(1, kernel address)", io_setup(1, KERNEL_ADDR), -EFAULT);
}

static void setup_null(void)
{
	EXPECT("io_setup(1, NULL)", io_setup(1, NULL), -EFAULT);
	EXPECT("io_setup(0, NULL)", io_setup(0, NULL), -EFAULT);
}

static void setup_bad_ptr(void)
{
	EXPECT("io_setup(1, (void *)1)", io_setup(1, BAD_PTR), -EFAULT);
	setup_still_works();
}

static void setup_nonzero(void)
{
	io_context_t ctx = (io_context_t)0x1234;

	EXPECT("io_setup(1, &ctx) with ctx != 0", io_setup(1, &ctx), -EINVAL);
	EXPECT("  ctx left as it was", ctx == (io_context_t)0x1234, 1);
}

static void setup_nr(void)
{
	io_context_t ctx = NULL;

	EXPECT("io_setup(0, &ctx)", io_setup(0, &ctx), -EINVAL);
	/* fs/aio doubles nr_events in 32 bits: these wrap to too many, and to 0. */
	EXPECT("io_setup(-1000, &ctx)", io_setup(-1000, &ctx), -EINVAL);
	EXPECT("io_setup(-1, &ctx)", io_setup(-1, &ctx), -EINVAL);
	EXPECT("io_setup(INT_MIN, &ctx)", io_setup(INT_MIN, &ctx), -EAGAIN);
	EXPECT("  ctx still NULL", ctx == NULL, 1);
	setup_still_works();
}

/* *ctxp reads as 0 but cannot be written: the context is made, then undone (-EFAULT). */
static void setup_read_only(void)
{
	io_context_t *ro = ro_page(0);

	EXPECT("io_setup(1, read-only zero)", io_setup(1, ro), -EFAULT);
	EXPECT("  *ctxp still NULL", *ro == NULL, 1);
	setup_still_works();
	ro = ro_page(0x1234);
	EXPECT("io_setup(1, read-only non-zero)", io_setup(1, ro), -EINVAL);
}

static void destroy_bad(void)
{
	io_context_t ctx = NULL;
	unsigned long zeroes[8] = { 0 };

	EXPECT("io_destroy(NULL)", io_destroy(NULL), -EINVAL);
	EXPECT("io_destroy((void *)1)", io_destroy(BAD_PTR), -EINVAL);
	EXPECT("io_destroy(kernel address)", io_destroy(KERNEL_ADDR), -EINVAL);
	EXPECT("io_destroy(not a context)", io_destroy((io_context_t)zeroes), -EINVAL);
	EXPECT("io_setup(1)", io_setup(1, &ctx), 0);
	EXPECT("io_destroy", io_destroy(ctx), 0);
	EXPECT("io_destroy(destroyed context)", io_destroy(ctx), -EINVAL);
}

static void submit_bad(void)
{
	io_context_t ctx = NULL;
	unsigned long zeroes[8] = { 0 };
	struct iocb cb, *cbp = &cb;

	io_prep_poll(&cb, rfd, POLLIN);
	EXPECT("io_submit(NULL)", io_submit(NULL, 1, &cbp), -EINVAL);
	EXPECT("io_submit((void *)1)", io_submit(BAD_PTR, 1, &cbp), -EINVAL);
	EXPECT("io_submit(kernel address)", io_submit(KERNEL_ADDR, 1, &cbp), -EINVAL);
	EXPECT("io_submit(not a context)", io_submit((io_context_t)zeroes, 1, &cbp), -EINVAL);
	EXPECT("io_submit(NULL, -1)", io_submit(NULL, -1, &cbp), -EINVAL);
	EXPECT("io_submit(NULL, 1, bad iocb array)", io_submit(NULL, 1, BAD_PTR), -EINVAL);
	EXPECT("io_setup(1)", io_setup(1, &ctx), 0);
	EXPECT("io_destroy", io_destroy(ctx), 0);
	EXPECT("io_submit(destroyed context)", io_submit(ctx, 1, &cbp), -EINVAL);
}

static void cancel_bad(void)
{
	io_context_t ctx = NULL;
	struct io_event ev;
	struct iocb cb;

	io_prep_poll(&cb, rfd, POLLIN);
	EXPECT("io_cancel(NULL)", io_cancel(NULL, &cb, &ev), -EINVAL);
	EXPECT("io_cancel((void *)1)", io_cancel(BAD_PTR, &cb, &ev), -EINVAL);
	EXPECT("io_cancel(kernel address)", io_cancel(KERNEL_ADDR, &cb, &ev), -EINVAL);
	/* The iocb's key is read first. */
	EXPECT("io_cancel(NULL, NULL iocb)", io_cancel(NULL, NULL, &ev), -EFAULT);
	EXPECT("io_cancel((void *)1, bad iocb)", io_cancel(BAD_PTR, BAD_PTR, &ev), -EFAULT);
	cb.key = 1;
	EXPECT("io_cancel(NULL, iocb with a key)", io_cancel(NULL, &cb, &ev), -EINVAL);
	cb.key = 0;
	EXPECT("io_setup(1)", io_setup(1, &ctx), 0);
	EXPECT("io_cancel(context, NULL iocb)", io_cancel(ctx, NULL, &ev), -EFAULT);
	EXPECT("io_destroy", io_destroy(ctx), 0);
	EXPECT("io_cancel(destroyed context)", io_cancel(ctx, &cb, &ev), -EINVAL);
}

static void getevents_bad(void)
{
	unsigned long zeroes[8] = { 0 };
	struct timespec zero = { 0, 0 };
	struct io_event ev;
	sigset_t mask;

	sigemptyset(&mask);
	EXPECT("io_getevents(NULL)", io_getevents(NULL, 0, 1, &ev, &zero), -EINVAL);
	EXPECT("io_getevents(NULL, no timeout)", io_getevents(NULL, 1, 1, &ev, NULL), -EINVAL);
	EXPECT("io_getevents(not a context)", io_getevents((io_context_t)zeroes, 0, 1, &ev, &zero),
	       -EINVAL);
	/* The timeout is read first. */
	EXPECT("io_getevents(NULL, bad timeout)", io_getevents(NULL, 0, 1, &ev, BAD_PTR), -EFAULT);
	EXPECT("io_pgetevents(NULL)", io_pgetevents(NULL, 0, 1, &ev, &zero, &mask), -EINVAL);
	EXPECT("io_pgetevents(NULL, bad timeout)", io_pgetevents(NULL, 0, 1, &ev, BAD_PTR, &mask),
	       -EFAULT);
	EXPECT("io_pgetevents(NULL, bad mask)", io_pgetevents(NULL, 0, 1, &ev, &zero, BAD_PTR),
	       -EFAULT);
}

int main(void)
{
	int fds[2];

	if (pipe(fds))
		return 2;
	rfd = fds[0];
	in_child("io_setup(kernel address)", setup_kernel_addr);
	in_child("io_setup(NULL)", setup_null);
	in_child("io_setup((void *)1)", setup_bad_ptr);
	in_child("io_setup(ctx != 0)", setup_nonzero);
	in_child("io_setup(bad nr)", setup_nr);
	in_child("io_setup(read-only ctxp)", setup_read_only);
	in_child("io_destroy(bad)", destroy_bad);
	in_child("io_submit(bad)", submit_bad);
	in_child("io_cancel(bad)", cancel_bad);
	in_child("io_getevents(bad)", getevents_bad);
	return diff_exit();
}
