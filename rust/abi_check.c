// SPDX-License-Identifier: GPL-2.0
/*
 * Build-time check of the C side of the ABI. rust/uapi.rs asserts the same sizes,
 * offsets and ioctl numbers on the Rust side, so a change to one of uapi/linux/aiopoll.h
 * or rust/uapi.rs that is not made to the other breaks the build.
 */
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include "../uapi/linux/aiopoll.h"

static_assert(AIOPOLL_ABI_MAJOR == 1 && AIOPOLL_ABI_MINOR == 7);
static_assert(AIOPOLL_IOC_MAGIC == 0xA9);
static_assert(AIOPOLL_FEAT_CONTEXT == 1 && AIOPOLL_FEAT_SIGMASK == 2 && AIOPOLL_FEAT_POLL == 4);
static_assert(AIOPOLL_FEAT_HIPRI == 8 && AIOPOLL_FEAT_COMPAT == 16 && AIOPOLL_FEAT_SUBMIT_WAIT == 32);
static_assert(AIOPOLL_FEAT_DESTROY == 64 && AIOPOLL_FEATURES == 127);
static_assert(AIOPOLL_IOCB_FLAG_MULTISHOT == (1 << 16) && AIOPOLL_POLL_MORE == 1);
static_assert(AIOPOLL_IOCB_FLAGS == (IOCB_FLAG_RESFD | IOCB_FLAG_IOPRIO | (1 << 16)));

static_assert(sizeof(struct aiopoll_version) == 16);
static_assert(offsetof(struct aiopoll_version, major) == 0);
static_assert(offsetof(struct aiopoll_version, minor) == 4);
static_assert(offsetof(struct aiopoll_version, features) == 8);

static_assert(sizeof(struct aiopoll_ring) == AIOPOLL_RING_HEADER_LENGTH);
static_assert(AIOPOLL_RING_HEADER_LENGTH == 32);
static_assert(offsetof(struct aiopoll_ring, id) == 0);
static_assert(offsetof(struct aiopoll_ring, nr) == 4);
static_assert(offsetof(struct aiopoll_ring, head) == 8);
static_assert(offsetof(struct aiopoll_ring, tail) == 12);
static_assert(offsetof(struct aiopoll_ring, magic) == 16);
static_assert(offsetof(struct aiopoll_ring, compat_features) == 20);
static_assert(offsetof(struct aiopoll_ring, incompat_features) == 24);
static_assert(offsetof(struct aiopoll_ring, header_length) == 28);
static_assert(AIOPOLL_RING_MAGIC == 0xa10a10a1);

static_assert(sizeof(struct io_event) == 32);
static_assert(sizeof(struct iocb) == 64);
static_assert(offsetof(struct iocb, aio_key) == 8);
static_assert(offsetof(struct iocb, aio_rw_flags) == 12);
static_assert(offsetof(struct iocb, aio_fildes) == 20);
static_assert(offsetof(struct iocb, aio_reserved2) == 48);
static_assert(offsetof(struct iocb, aio_resfd) == 60);

static_assert(sizeof(struct aiopoll_setup) == 40);
static_assert(offsetof(struct aiopoll_setup, ring_id) == 4);
static_assert(offsetof(struct aiopoll_setup, flags) == 8);
static_assert(offsetof(struct aiopoll_setup, ring_nr) == 12);
static_assert(offsetof(struct aiopoll_setup, ring_size) == 16);
static_assert(offsetof(struct aiopoll_setup, reserved) == 24);

static_assert(sizeof(struct aiopoll_submit) == 24);
static_assert(offsetof(struct aiopoll_submit, iocbpp) == 8);
static_assert(offsetof(struct aiopoll_submit, reserved) == 16);

static_assert(sizeof(struct aiopoll_getevents) == 56);
static_assert(offsetof(struct aiopoll_getevents, nr) == 8);
static_assert(offsetof(struct aiopoll_getevents, events) == 16);
static_assert(offsetof(struct aiopoll_getevents, timeout) == 24);
static_assert(offsetof(struct aiopoll_getevents, sigmask) == 32);
static_assert(offsetof(struct aiopoll_getevents, sigsetsize) == 40);
static_assert(offsetof(struct aiopoll_getevents, reserved) == 48);

static_assert(sizeof(struct aiopoll_submit_wait) == 80);
static_assert(offsetof(struct aiopoll_submit_wait, iocbpp) == 8);
static_assert(offsetof(struct aiopoll_submit_wait, min_nr) == 16);
static_assert(offsetof(struct aiopoll_submit_wait, max_nr) == 24);
static_assert(offsetof(struct aiopoll_submit_wait, events) == 32);
static_assert(offsetof(struct aiopoll_submit_wait, timeout) == 40);
static_assert(offsetof(struct aiopoll_submit_wait, sigmask) == 48);
static_assert(offsetof(struct aiopoll_submit_wait, sigsetsize) == 56);
static_assert(offsetof(struct aiopoll_submit_wait, submitted) == 64);
static_assert(offsetof(struct aiopoll_submit_wait, reserved) == 72);

static_assert(sizeof(struct aiopoll_cancel) == 24);
static_assert(offsetof(struct aiopoll_cancel, result) == 8);
static_assert(offsetof(struct aiopoll_cancel, reserved) == 16);

static_assert(AIOPOLL_IOC_VERSION == 0x8010a900);
static_assert(AIOPOLL_IOC_SETUP == 0xc028a901);
static_assert(AIOPOLL_IOC_SUBMIT == 0x4018a902);
static_assert(AIOPOLL_IOC_GETEVENTS == 0x4038a903);
static_assert(AIOPOLL_IOC_CANCEL == 0x4018a904);
static_assert(AIOPOLL_IOC_SUBMIT_WAIT == 0xc050a905);
static_assert(AIOPOLL_IOC_DESTROY == 0x0000a906);
