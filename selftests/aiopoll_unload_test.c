// SPDX-License-Identifier: GPL-2.0
/*
 * Module life cycle: rmmod is refused while a context is open, succeeds after use, and the
 * module loads again. Needs AIOPOLL_KO (set by the guest) and runs last, as it unloads the
 * module the other tests use.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include "aiopoll_test.h"
#include "kselftest_harness.h"

static int delete_module(const char *name)
{
	return syscall(__NR_delete_module, name, O_NONBLOCK);
}

static int load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(__NR_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

static int version_works(void)
{
	struct aiopoll_version v;
	int fd = aiopoll_open();
	int ok;

	if (fd < 0)
		return 0;
	ok = !ioctl(fd, AIOPOLL_IOC_VERSION, &v) && v.major == AIOPOLL_ABI_MAJOR;
	close(fd);
	return ok;
}

TEST(busy_while_open)
{
	int fd = aiopoll_open();

	ASSERT_LE(0, fd);
	errno = 0;
	EXPECT_EQ(-1, delete_module("aiopoll"));
	EXPECT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module: %s", strerror(errno));
	/* Still there and working, through the old and a new file. */
	struct aiopoll_version v;

	EXPECT_EQ(0, ioctl(fd, AIOPOLL_IOC_VERSION, &v));
	EXPECT_TRUE(version_works());
	EXPECT_EQ(0, close(fd));
}

TEST(unload_after_use_and_reload)
{
	const char *ko = getenv("AIOPOLL_KO");
	struct stat st;
	int fds[16], i;

	ASSERT_NE(NULL, ko) TH_LOG("AIOPOLL_KO is not set");
	for (i = 0; i < 16; i++) {
		fds[i] = aiopoll_open();
		ASSERT_LE(0, fds[i]);
	}
	for (i = 0; i < 16; i++)
		ASSERT_EQ(0, close(fds[i]));

	ASSERT_EQ(0, delete_module("aiopoll")) TH_LOG("delete_module: %s", strerror(errno));
	EXPECT_EQ(-1, stat(AIOPOLL_DEVICE_PATH, &st));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, stat("/sys/module/aiopoll", &st));

	ASSERT_EQ(0, load_module(ko)) TH_LOG("finit_module(%s): %s", ko, strerror(errno));
	ASSERT_EQ(0, stat(AIOPOLL_DEVICE_PATH, &st));
	EXPECT_TRUE(version_works());
}

TEST_HARNESS_MAIN
