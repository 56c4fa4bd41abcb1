/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * aiopoll: asynchronous readiness polling and async I/O through /dev/aiopoll.
 *
 * Each open of /dev/aiopoll is an async I/O context, driven by the ioctls below.
 * The reference for every ioctl, structure, flag and errno is
 * Documentation/abi.rst in the aiopoll repository.
 *
 * Rules that hold for every argument structure: fixed size, no implicit padding,
 * little or big endian as the host, and reserved fields that must be zero.
 */
#ifndef _UAPI_LINUX_AIOPOLL_H
#define _UAPI_LINUX_AIOPOLL_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The device node: misc character device, mode 0666. */
#define AIOPOLL_DEVICE_PATH	"/dev/aiopoll"

/*
 * ABI version. The major number changes only if an existing ioctl changes
 * incompatibly (never, once released); the minor number grows when ioctls or
 * flags are added. Feature bits say which optional parts this module has.
 */
#define AIOPOLL_ABI_MAJOR	1
#define AIOPOLL_ABI_MINOR	0

/* ioctl type byte (unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst). */
#define AIOPOLL_IOC_MAGIC	0xA9

/**
 * struct aiopoll_version - answer of %AIOPOLL_IOC_VERSION
 * @major:	%AIOPOLL_ABI_MAJOR of the running module
 * @minor:	%AIOPOLL_ABI_MINOR of the running module
 * @features:	AIOPOLL_FEAT_* bits (none are defined in ABI 1.0)
 */
struct aiopoll_version {
	__u32	major;
	__u32	minor;
	__u64	features;
};

/* Read the ABI version of the module. Errors: EFAULT (bad pointer). */
#define AIOPOLL_IOC_VERSION	_IOR(AIOPOLL_IOC_MAGIC, 0x00, struct aiopoll_version)

#endif /* _UAPI_LINUX_AIOPOLL_H */
