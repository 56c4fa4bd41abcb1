// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/aiopoll device itself: open and close, the version ioctl, unknown ioctls,
 * bad pointers, fdinfo, unprivileged use and many opens from many threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

#define MISC_MAJOR 10

TEST(open_close)
{
	int fd = open(AIOPOLL_DEVICE_PATH, O_RDWR);
	struct stat st;

	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0, close(fd));

	/* A read-only open is a context too. */
	fd = open(AIOPOLL_DEVICE_PATH, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, close(fd));
}

TEST(device_node)
{
	struct stat st;

	ASSERT_EQ(0, stat(AIOPOLL_DEVICE_PATH, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666, st.st_mode & 07777);
	EXPECT_EQ(MISC_MAJOR, major(st.st_rdev));
}

TEST(version)
{
	struct aiopoll_version v;
	int fd = aiopoll_open();

	ASSERT_LE(0, fd);
	memset(&v, 0xff, sizeof(v));
	ASSERT_EQ(0, ioctl(fd, AIOPOLL_IOC_VERSION, &v));
	EXPECT_EQ(AIOPOLL_ABI_MAJOR, v.major);
	EXPECT_EQ(AIOPOLL_ABI_MINOR, v.minor);
	/* The module and this header agree on every feature. */
	EXPECT_EQ(AIOPOLL_FEATURES, v.features);
	close(fd);
}

TEST(unknown_ioctl)
{
	const unsigned long cmds[] = {
		_IO(AIOPOLL_IOC_MAGIC, 0x7f),				/* unused number */
		_IOR(AIOPOLL_IOC_MAGIC, 0x00, __u32),			/* right nr, wrong size */
		_IOW(AIOPOLL_IOC_MAGIC, 0x00, struct aiopoll_version),	/* wrong direction */
		_IOR('x', 0x00, struct aiopoll_version),		/* wrong type */
		TCGETS,							/* a tty ioctl */
		0,
		~0UL,
	};
	struct aiopoll_version v;
	int fd = aiopoll_open();
	size_t i;

	ASSERT_LE(0, fd);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, cmds[i], &v)) TH_LOG("cmd %#lx", cmds[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("cmd %#lx: %s", cmds[i], strerror(errno));
	}
	/* The context still works afterwards. */
	EXPECT_EQ(0, ioctl(fd, AIOPOLL_IOC_VERSION, &v));
	close(fd);
}

TEST(bad_pointer)
{
	long page = sysconf(_SC_PAGESIZE);
	void *bad[4];
	char *map;
	int fd = aiopoll_open();
	size_t i;

	ASSERT_LE(0, fd);
	/* Two pages: the first read-only, the second unmapped. */
	map = mmap(NULL, 2 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + page, page));

	bad[0] = NULL;
	bad[1] = (void *)0xffff888000000000UL;			/* kernel address */
	bad[2] = map;						/* read-only page */
	bad[3] = map + page - sizeof(struct aiopoll_version) / 2;	/* straddles the hole */
	for (i = 0; i < 4; i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, AIOPOLL_IOC_VERSION, bad[i])) TH_LOG("pointer %p", bad[i]);
		EXPECT_EQ(EFAULT, errno) TH_LOG("pointer %p: %s", bad[i], strerror(errno));
	}
	munmap(map, page);
	close(fd);
}

TEST(no_read_write_seek)
{
	char buf[8];
	int fd = aiopoll_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	close(fd);
}

/* Reads /proc/self/fdinfo/FD into buf; returns the value of the "ctx-id:" line or -1. */
static long fdinfo_ctx_id(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	char *p;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	if (f < 0)
		return -1;
	n = read(f, buf, size - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "ctx-id:\t");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

TEST(fdinfo)
{
	char buf[1024], want[64];
	int a = aiopoll_open(), b = aiopoll_open();
	long ida, idb;

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ida = fdinfo_ctx_id(a, buf, sizeof(buf));
	snprintf(want, sizeof(want), "aiopoll-abi:\t%d.%d\n", AIOPOLL_ABI_MAJOR, AIOPOLL_ABI_MINOR);
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("fdinfo: %s", buf);
	idb = fdinfo_ctx_id(b, buf, sizeof(buf));
	EXPECT_LT(0, ida);
	EXPECT_LT(0, idb);
	EXPECT_NE(ida, idb);
	close(a);
	close(b);
}

TEST(unprivileged_open)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct aiopoll_version v;
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		fd = aiopoll_open();
		if (fd < 0)
			_exit(11);
		if (ioctl(fd, AIOPOLL_IOC_VERSION, &v) || v.major != AIOPOLL_ABI_MAJOR)
			_exit(12);
		_exit(close(fd) ? 13 : 0);
	}
	EXPECT_EQ(0, child_exit_status(pid));
}

struct opener {
	long rounds;
	long failures;
};

static void *open_loop(void *arg)
{
	struct opener *o = arg;
	struct aiopoll_version v;
	long i;

	for (i = 0; i < o->rounds; i++) {
		int fd = aiopoll_open();

		if (fd < 0 || ioctl(fd, AIOPOLL_IOC_VERSION, &v) ||
		    v.major != AIOPOLL_ABI_MAJOR || close(fd))
			o->failures++;
	}
	return NULL;
}

/* Stress tests run longer than the harness's default 30 s limit with STRESS=full. */
FIXTURE(stress) {
	int unused;
};
FIXTURE_SETUP(stress) {}
FIXTURE_TEARDOWN(stress) {}

TEST_F_TIMEOUT(stress, many_threads, 900)
{
	enum { THREADS = 8, HELD = 256 };
	struct opener o[THREADS];
	pthread_t t[THREADS];
	long ids[HELD];
	int held[HELD];
	char buf[1024];
	int i, j;

	/* Hold many contexts at once, each with its own id... */
	for (i = 0; i < HELD; i++) {
		held[i] = aiopoll_open();
		ASSERT_LE(0, held[i]) TH_LOG("open %d: %s", i, strerror(errno));
		ids[i] = fdinfo_ctx_id(held[i], buf, sizeof(buf));
		ASSERT_LT(0, ids[i]);
		for (j = 0; j < i; j++)
			ASSERT_NE(ids[j], ids[i]);
	}
	/* ...while threads open, use and close more, concurrently. */
	for (i = 0; i < THREADS; i++) {
		o[i].rounds = stress_rounds(300, 10000);
		o[i].failures = 0;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, open_loop, &o[i]));
	}
	for (i = 0; i < THREADS; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, o[i].failures) TH_LOG("thread %d", i);
	}
	for (i = 0; i < HELD; i++)
		EXPECT_EQ(0, close(held[i]));
}

/*
 * Last, because it panics the old module (a Rust overflow check on `iocb + 8`): CANCEL of an
 * iocb whose aio_key field (offset 8) lies past 2^64. fs/aio's io_cancel() answers EFAULT
 * (get_user() of the wrapped address fails), and so must aiopoll, on a set-up context. The
 * values whose aio_key does not wrap are in aiopoll_ctx_test's edge_pointers_fault_as_fs_aio.
 * The harness runs fixtures in the order they are defined, global tests first: this one has
 * a fixture of its own, defined last, so that every other result is out before it.
 */
FIXTURE(wrap) {
	struct actx c;
	aio_context_t a;
};

FIXTURE_SETUP(wrap)
{
	ASSERT_EQ(0, actx_init(&self->c, 8));
	self->a = 0;
	ASSERT_EQ(0, sys_io_setup(8, &self->a));
}

FIXTURE_TEARDOWN(wrap)
{
	sys_io_destroy(self->a);
	actx_fini(&self->c);
}

TEST_F(wrap, cancel_iocb_pointer_wraps)
{
	const __u64 wraps[] = { ~0ULL - 7, ~0ULL - 4, ~0ULL };
	struct aiopoll_cancel cn = { 0 };
	struct io_event ev;
	size_t i;

	cn.result = (unsigned long)&ev;
	for (i = 0; i < sizeof(wraps) / sizeof(wraps[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, sys_io_cancel(self->a, (struct iocb *)wraps[i], &ev));
		EXPECT_EQ(EFAULT, errno) TH_LOG("fs/aio %#llx: %s", wraps[i], strerror(errno));
		cn.iocb = wraps[i];
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->c.fd, AIOPOLL_IOC_CANCEL, &cn)) TH_LOG("iocb %#llx", wraps[i]);
		EXPECT_EQ(EFAULT, errno) TH_LOG("iocb %#llx: %s", wraps[i], strerror(errno));
	}
}

TEST_HARNESS_MAIN
