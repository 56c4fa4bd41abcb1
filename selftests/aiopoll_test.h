/* SPDX-License-Identifier: GPL-2.0 */
/* Shared helpers of the aiopoll selftests. */
#ifndef AIOPOLL_TEST_H
#define AIOPOLL_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/aiopoll.h>

/*
 * Round counts of stress tests: the small default keeps `make check` short under
 * emulation; STRESS=full (AIOPOLL_STRESS=full in the guest) gives the issues' full counts.
 */
static inline long stress_rounds(long quick, long full)
{
	const char *s = getenv("AIOPOLL_STRESS");

	return s && !strcmp(s, "full") ? full : quick;
}

static inline int aiopoll_open(void)
{
	return open(AIOPOLL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

#endif /* AIOPOLL_TEST_H */
