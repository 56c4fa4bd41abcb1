// SPDX-License-Identifier: GPL-2.0
/*
 * aiopoll fault-injection test: makes allocations fail at random (failslab and
 * fail_page_alloc, limited to this process and to call chains that pass through aiopoll.ko)
 * while contexts are set up, mapped, used for reads, writes, vectored I/O, polls and fsync,
 * waited on, cancelled and closed. Every call must succeed or fail cleanly with ENOMEM or
 * EAGAIN (EINPROGRESS/EINVAL for cancel, as always), every event must carry its normal result
 * or -ENOMEM/-EAGAIN, and the kernel log must stay free of reports (the runner checks it; the
 * stack dumps of the provoked allocation failures are expected and filtered, between the
 * "aiopoll-fault" markers this test writes to /dev/kmsg). Leaks are left to kmemleak and to
 * the module's unload at the end of the suite.
 */
#include <poll.h>
#include <stdio.h>
#include <sys/uio.h>

#include <linux/time_types.h>

#include "kselftest_harness.h"
#include "aiopoll_test.h"

#define DBG "/sys/kernel/debug"

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -errno;
	close(fd);
	return ret;
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 0) : -1;
}

static void kmsg(const char *msg)
{
	write_str("/dev/kmsg", msg);
}

/* The address range of aiopoll.ko's code, from /proc/kallsyms. */
static int module_text(unsigned long *start, unsigned long *end)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], type;
	unsigned long a;

	*start = ~0ul;
	*end = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[aiopoll]") || sscanf(line, "%lx %c", &a, &type) != 2)
			continue;
		if ((type == 't' || type == 'T') && a) {
			if (a < *start)
				*start = a;
			if (a > *end)
				*end = a;
		}
	}
	fclose(f);
	*end += 0x2000;	/* past the last function */
	return *start < *end ? 0 : -1;
}

/* Sets one fault-injection attribute of both capabilities (page_alloc lacks some). */
static void both(const char *attr, const char *val)
{
	char p[128];

	snprintf(p, sizeof(p), DBG "/failslab/%s", attr);
	write_str(p, val);
	snprintf(p, sizeof(p), DBG "/fail_page_alloc/%s", attr);
	write_str(p, val);
}

static int allowed(int err, int a, int b)
{
	return err == a || err == b;
}

/* Counts outcomes, and the first bad one. */
struct tally {
	long ok, nomem, bad;
	char first_bad[160];
};

static void judge(struct tally *t, const char *what, long ret, int err, int ok_a, int ok_b)
{
	if (ret >= 0) {
		t->ok++;
	} else if (allowed(err, ok_a, ok_b)) {
		t->nomem++;
	} else {
		if (!t->bad)
			snprintf(t->first_bad, sizeof(t->first_bad), "%s: %s", what, strerror(err));
		t->bad++;
	}
}

/* One round of everything a context does; returns nothing, records in t. */
static void one_round(struct tally *t, int file, int round)
{
	struct aiopoll_setup s = { .nr_events = 1 + (round % 64) * 4 };
	static char buf[4][4096], a[100], b[200], c[300];
	struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct iocb cbs[8], *ptrs[8];
	struct io_event ev[16];
	struct __kernel_timespec ts = { 0, 50 * 1000000 };
	struct aiopoll_getevents g = { .nr = 16, .events = (uintptr_t)ev,
				       .timeout = (uintptr_t)&ts };
	struct aiopoll_submit sub = { .iocbpp = (uintptr_t)ptrs };
	struct aiopoll_cancel can = { 0 };
	int fd, p[2], i, n, got = 0;
	void *ring;
	long ret;

	fd = open(AIOPOLL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	judge(t, "open", fd, errno, ENOMEM, ENOMEM);
	if (fd < 0)
		return;
	ret = ioctl(fd, AIOPOLL_IOC_SETUP, &s);
	judge(t, "setup", ret, errno, ENOMEM, EAGAIN);
	if (ret < 0)
		goto out;
	ring = mmap(NULL, s.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	judge(t, "mmap", ring == MAP_FAILED ? -1 : 0, errno, ENOMEM, EAGAIN);
	if (pipe(p))
		goto out_unmap;
	memset(cbs, 0, sizeof(cbs));
	for (i = 0; i < 8; i++) {
		ptrs[i] = &cbs[i];
		cbs[i].aio_data = i;
		cbs[i].aio_fildes = file;
	}
	cbs[0].aio_lio_opcode = IOCB_CMD_PWRITE;
	cbs[0].aio_buf = (uintptr_t)buf[0];
	cbs[0].aio_nbytes = sizeof(buf[0]);
	cbs[0].aio_offset = 4096 * (round % 16);
	cbs[1].aio_lio_opcode = IOCB_CMD_PREAD;
	cbs[1].aio_buf = (uintptr_t)buf[1];
	cbs[1].aio_nbytes = sizeof(buf[1]);
	cbs[2].aio_lio_opcode = IOCB_CMD_PWRITEV;
	cbs[2].aio_buf = (uintptr_t)iov;
	cbs[2].aio_nbytes = 3;
	cbs[3].aio_lio_opcode = IOCB_CMD_PREADV;
	cbs[3].aio_buf = (uintptr_t)iov;
	cbs[3].aio_nbytes = 3;
	cbs[4].aio_lio_opcode = IOCB_CMD_POLL;
	cbs[4].aio_fildes = p[0];
	cbs[4].aio_buf = POLLIN;
	cbs[5].aio_lio_opcode = IOCB_CMD_POLL;
	cbs[5].aio_fildes = p[0];
	cbs[5].aio_buf = POLLIN;
	cbs[5].aio_flags = AIOPOLL_IOCB_FLAG_MULTISHOT;
	cbs[6].aio_lio_opcode = IOCB_CMD_FSYNC;
	cbs[7].aio_lio_opcode = IOCB_CMD_NOOP;
	for (i = 0; i < 8; i += n) {
		sub.nr = 8 - i;
		sub.iocbpp = (uintptr_t)(ptrs + i);
		n = ioctl(fd, AIOPOLL_IOC_SUBMIT, &sub);
		judge(t, "submit", n, errno, ENOMEM, EAGAIN);
		if (n <= 0)
			n = 1;	/* skip the one that failed */
		else
			got += n;
	}
	if (write(p[1], "x", 1) != 1)
		t->bad++;
	/* The multishot poll stays armed: cancel it (and the one-shot, if still armed). */
	can.iocb = (uintptr_t)&cbs[5];
	ret = ioctl(fd, AIOPOLL_IOC_CANCEL, &can);
	judge(t, "cancel", ret, errno, EINPROGRESS, EINVAL);
	for (i = 0; i < 20 && got > 0; i++) {
		n = ioctl(fd, AIOPOLL_IOC_GETEVENTS, &g);
		judge(t, "getevents", n, errno, ENOMEM, EAGAIN);
		for (int k = 0; k < n; k++) {
			long res = (long)ev[k].res;

			if (res < 0 && !allowed((int)-res, ENOMEM, EAGAIN)) {
				if (!t->bad)
					snprintf(t->first_bad, sizeof(t->first_bad),
						 "event of iocb %llu: res %ld", ev[k].data, res);
				t->bad++;
			}
			/* The multishot poll's events do not end it until its last. */
			if (ev[k].data != 5 || ev[k].res2 != AIOPOLL_POLL_MORE)
				got--;
		}
	}
	close(p[0]);
	close(p[1]);
out_unmap:
	if (ring != MAP_FAILED)
		munmap(ring, s.ring_size);
out:
	close(fd);	/* cancels and waits for whatever is left */
}

/* A fixture only for TEST_F_TIMEOUT: STRESS=full rounds outlast the harness's 30 s. */
FIXTURE(fault) {
	int unused;
};
FIXTURE_SETUP(fault)
{
}
FIXTURE_TEARDOWN(fault)
{
}

TEST_F_TIMEOUT(fault, allocation_failures_fail_cleanly, 3600)
{
	unsigned long start, end;
	char range[32], path[] = "/tmp/aiopoll_fault.XXXXXX";
	long slab_before, slab_after, page_before, page_after;
	long rounds = stress_rounds(150, 3000);
	struct tally t = { 0 };
	int status, file;
	pid_t pid;

	if (access(DBG "/failslab/probability", W_OK) ||
	    access(DBG "/failslab/require-start", W_OK))
		SKIP(return, "no failslab with a stacktrace filter in this kernel");
	ASSERT_EQ(0, module_text(&start, &end)) TH_LOG("aiopoll.ko not in /proc/kallsyms");
	file = mkstemp(path);
	ASSERT_LE(0, file);
	unlink(path);

	both("probability", "15");
	both("interval", "1");
	both("times", "1000000");
	both("space", "0");
	both("verbose", "0");
	both("task-filter", "Y");
	both("ignore-gfp-wait", "N");
	write_str(DBG "/fail_page_alloc/ignore-gfp-highmem", "N");
	write_str(DBG "/fail_page_alloc/min-order", "0");
	snprintf(range, sizeof(range), "%lu", start);
	both("require-start", range);
	snprintf(range, sizeof(range), "%lu", end);
	both("require-end", range);
	both("stacktrace-depth", "32");
	slab_before = read_long(DBG "/failslab/times");
	page_before = read_long(DBG "/fail_page_alloc/times");

	kmsg("aiopoll-fault: begin");
	pid = fork();
	if (pid == 0) {
		long r;

		/* No page faults inside the calls: a failed fault would read as EFAULT. */
		mlockall(MCL_CURRENT | MCL_FUTURE);
		if (write_str("/proc/self/make-it-fail", "1"))
			_exit(2);
		for (r = 0; r < rounds; r++)
			one_round(&t, file, (int)r);
		write_str("/proc/self/make-it-fail", "0");
		printf("# %ld rounds: %ld calls succeeded, %ld failed with ENOMEM/EAGAIN, %ld bad\n",
		       rounds, t.ok, t.nomem, t.bad);
		if (t.bad)
			printf("# first bad: %s\n", t.first_bad);
		fflush(stdout);
		_exit(t.bad ? 1 : 0);
	}
	ASSERT_LT(0, pid);
	status = child_exit_status(pid);
	slab_after = read_long(DBG "/failslab/times");
	page_after = read_long(DBG "/fail_page_alloc/times");
	both("probability", "0");
	both("times", "1");
	both("task-filter", "N");
	both("require-start", "0");
	both("require-end", "18446744073709551615");
	kmsg("aiopoll-fault: end");
	close(file);

	TH_LOG("injected: %ld slab, %ld page allocation failures", slab_before - slab_after,
	       page_before - page_after);
	EXPECT_EQ(0, status);
	/* The test proves nothing unless failures were injected into aiopoll's paths. */
	EXPECT_LT(0, slab_before - slab_after);
}

TEST_HARNESS_MAIN
