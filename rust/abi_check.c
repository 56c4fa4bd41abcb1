// SPDX-License-Identifier: GPL-2.0
/*
 * Build-time check of the C side of the ABI. rust/uapi.rs asserts the same sizes,
 * offsets and ioctl numbers on the Rust side, so a change to one of uapi/linux/aiopoll.h
 * or rust/uapi.rs that is not made to the other breaks the build.
 */
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include "../uapi/linux/aiopoll.h"

static_assert(AIOPOLL_ABI_MAJOR == 1 && AIOPOLL_ABI_MINOR == 0);
static_assert(AIOPOLL_IOC_MAGIC == 0xA9);
static_assert(sizeof(struct aiopoll_version) == 16);
static_assert(offsetof(struct aiopoll_version, major) == 0);
static_assert(offsetof(struct aiopoll_version, minor) == 4);
static_assert(offsetof(struct aiopoll_version, features) == 8);
static_assert(AIOPOLL_IOC_VERSION == 0x8010a900);
