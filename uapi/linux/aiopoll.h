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

#include <linux/aio_abi.h>
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
#define AIOPOLL_ABI_MINOR	7

/* ioctl type byte (unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst). */
#define AIOPOLL_IOC_MAGIC	0xA9

/* Feature bits of struct aiopoll_version. */
#define AIOPOLL_FEAT_CONTEXT	(1ULL << 0)	/* ring, submit, getevents, cancel (ABI 1.1) */
#define AIOPOLL_FEAT_SIGMASK	(1ULL << 1)	/* getevents swaps the signal mask (ABI 1.2) */
#define AIOPOLL_FEAT_POLL	(1ULL << 2)	/* IOCB_CMD_POLL, cancel, multishot (ABI 1.3) */
#define AIOPOLL_FEAT_HIPRI	(1ULL << 3)	/* polled block I/O with RWF_HIPRI (ABI 1.4) */
#define AIOPOLL_FEAT_COMPAT	(1ULL << 4)	/* 32-bit callers (ABI 1.5) */
#define AIOPOLL_FEAT_SUBMIT_WAIT (1ULL << 5)	/* AIOPOLL_IOC_SUBMIT_WAIT (ABI 1.6) */
#define AIOPOLL_FEAT_DESTROY	(1ULL << 6)	/* AIOPOLL_IOC_DESTROY (ABI 1.7) */
#define AIOPOLL_FEATURES	(AIOPOLL_FEAT_CONTEXT | AIOPOLL_FEAT_SIGMASK | \
				 AIOPOLL_FEAT_POLL | AIOPOLL_FEAT_HIPRI | \
				 AIOPOLL_FEAT_COMPAT | AIOPOLL_FEAT_SUBMIT_WAIT | \
				 AIOPOLL_FEAT_DESTROY) /* all known */

/**
 * struct aiopoll_version - answer of %AIOPOLL_IOC_VERSION
 * @major:	%AIOPOLL_ABI_MAJOR of the running module
 * @minor:	%AIOPOLL_ABI_MINOR of the running module
 * @features:	AIOPOLL_FEAT_* bits of the running module
 */
struct aiopoll_version {
	__u32	major;
	__u32	minor;
	__u64	features;
};

/* Read the ABI version of the module. Errors: EFAULT (bad pointer). */
#define AIOPOLL_IOC_VERSION	_IOR(AIOPOLL_IOC_MAGIC, 0x00, struct aiopoll_version)

/*
 * The context. Requests are the kernel's own struct iocb and struct io_event of
 * <linux/aio_abi.h>, and the completion ring is fs/aio's struct aio_ring, mapped from
 * offset 0 of the context fd: user space may reap events from it without a syscall,
 * exactly as from an fs/aio ring.
 */
#define AIOPOLL_RING_MAGIC		0xa10a10a1
#define AIOPOLL_RING_COMPAT_FEATURES	1
#define AIOPOLL_RING_INCOMPAT_FEATURES	0
#define AIOPOLL_RING_HEADER_LENGTH	32

/* The header of the mapped ring; struct io_event slots follow it. */
struct aiopoll_ring {
	__u32	id;		/* aiopoll_setup.ring_id */
	__u32	nr;		/* number of io_event slots */
	__u32	head;		/* next event to reap; written by user space */
	__u32	tail;		/* next slot the kernel fills */
	__u32	magic;		/* AIOPOLL_RING_MAGIC */
	__u32	compat_features;
	__u32	incompat_features;
	__u32	header_length;	/* sizeof(struct aiopoll_ring) */
	struct io_event io_events[];
};

/**
 * struct aiopoll_setup - argument of %AIOPOLL_IOC_SETUP (like io_setup(2))
 * @nr_events:	in: events the context must hold in flight at once (> 0)
 * @ring_id:	in: value for aiopoll_ring.id (libaiopoll stores the context's fd)
 * @flags:	in: must be 0
 * @ring_nr:	out: slots in the ring; at most ring_nr - 1 requests in flight
 * @ring_size:	out: bytes to map at offset 0 (MAP_SHARED, PROT_READ | PROT_WRITE)
 * @reserved:	must be 0
 */
struct aiopoll_setup {
	__u32	nr_events;
	__u32	ring_id;
	__u32	flags;
	__u32	ring_nr;
	__u64	ring_size;
	__u64	reserved[2];
};

/**
 * struct aiopoll_submit - argument of %AIOPOLL_IOC_SUBMIT (like io_submit(2))
 * @nr:		number of iocb pointers at @iocbpp
 * @iocbpp:	user address of an array of struct iocb pointers (4 bytes each when the
 *		caller is a 32-bit process, as for compat io_submit(2))
 * @reserved:	must be 0
 *
 * Returns the number of iocbs submitted, or an error if none was.
 */
struct aiopoll_submit {
	__s64	nr;
	__u64	iocbpp;
	__u64	reserved;
};

/**
 * struct aiopoll_getevents - argument of %AIOPOLL_IOC_GETEVENTS (like io_pgetevents(2))
 * @min_nr:	wait until at least this many events were reaped
 * @nr:		reap at most this many events
 * @events:	user address of @nr struct io_event
 * @timeout:	user address of a struct __kernel_timespec (relative), or 0: no limit
 * @sigmask:	user address of a sigset_t installed as the blocked mask for the wait and
 *		restored after it (as io_pgetevents(2) and pselect(2)), or 0: none
 * @sigsetsize:	size of *@sigmask, sizeof(sigset_t) (8); ignored when @sigmask is 0
 * @reserved:	must be 0
 *
 * Returns the number of events reaped; EINTR when a signal arrived before any event.
 */
struct aiopoll_getevents {
	__s64	min_nr;
	__s64	nr;
	__u64	events;
	__u64	timeout;
	__u64	sigmask;
	__u64	sigsetsize;
	__u64	reserved;
};

/**
 * struct aiopoll_cancel - argument of %AIOPOLL_IOC_CANCEL (like io_cancel(2))
 * @iocb:	user address of the submitted struct iocb
 * @result:	user address of a struct io_event; unused, as in fs/aio: the event of a
 *		cancelled request always arrives through the ring
 * @reserved:	must be 0
 *
 * Fails with EINPROGRESS when the request was found and is being cancelled.
 */
struct aiopoll_cancel {
	__u64	iocb;
	__u64	result;
	__u64	reserved;
};

/**
 * struct aiopoll_submit_wait - argument of %AIOPOLL_IOC_SUBMIT_WAIT: %AIOPOLL_IOC_SUBMIT, then
 *	%AIOPOLL_IOC_GETEVENTS, in one call (like io_uring_enter(2) with to_submit and
 *	min_complete; ABI 1.6, %AIOPOLL_FEAT_SUBMIT_WAIT)
 * @nr:		number of iocb pointers at @iocbpp (0: only wait)
 * @iocbpp:	as in struct aiopoll_submit
 * @min_nr:	as in struct aiopoll_getevents
 * @max_nr:	@nr of struct aiopoll_getevents: reap at most this many events
 * @events:	as in struct aiopoll_getevents
 * @timeout:	as in struct aiopoll_getevents
 * @sigmask:	as in struct aiopoll_getevents: installed for the wait only
 * @sigsetsize:	as in struct aiopoll_getevents
 * @submitted:	out: the number of iocbs submitted, written before the wait (also when the
 *		call then fails: EINTR, EFAULT on @events)
 * @reserved:	must be 0
 *
 * Every argument of the wait is checked (and @timeout and @sigmask read) before anything is
 * submitted: a bad one fails the call with nothing submitted. Then the iocbs are submitted as
 * %AIOPOLL_IOC_SUBMIT does; if the first one fails, so does the call, with its error. If a
 * later one fails, the call returns at once with the events already in the ring (no wait),
 * @submitted telling how far it got. Otherwise it waits as %AIOPOLL_IOC_GETEVENTS does and
 * returns the number of events reaped. A signal during the wait ends it: with events reaped,
 * their number; without, EINTR (never a restart once something was submitted, which a
 * restart would submit again).
 */
struct aiopoll_submit_wait {
	__s64	nr;
	__u64	iocbpp;
	__s64	min_nr;
	__s64	max_nr;
	__u64	events;
	__u64	timeout;
	__u64	sigmask;
	__u64	sigsetsize;
	__s64	submitted;
	__u64	reserved;
};

#define AIOPOLL_IOC_SETUP	_IOWR(AIOPOLL_IOC_MAGIC, 0x01, struct aiopoll_setup)
#define AIOPOLL_IOC_SUBMIT	_IOW(AIOPOLL_IOC_MAGIC, 0x02, struct aiopoll_submit)
#define AIOPOLL_IOC_GETEVENTS	_IOW(AIOPOLL_IOC_MAGIC, 0x03, struct aiopoll_getevents)
#define AIOPOLL_IOC_CANCEL	_IOW(AIOPOLL_IOC_MAGIC, 0x04, struct aiopoll_cancel)
#define AIOPOLL_IOC_SUBMIT_WAIT	_IOWR(AIOPOLL_IOC_MAGIC, 0x05, struct aiopoll_submit_wait)

/*
 * Destroys the context, as io_destroy(2) (ABI 1.7, AIOPOLL_FEAT_DESTROY; no argument): no
 * request is taken any more, armed polls are cancelled, a thread waiting in
 * AIOPOLL_IOC_GETEVENTS or AIOPOLL_IOC_SUBMIT_WAIT on the context wakes up and returns the
 * events it reaped or EINVAL, and the call returns once every request has completed. Every
 * later ioctl on the context but AIOPOLL_IOC_VERSION fails with EINVAL, as does a second
 * AIOPOLL_IOC_DESTROY and one before AIOPOLL_IOC_SETUP. The file itself stays open until it
 * is closed.
 */
#define AIOPOLL_IOC_DESTROY	_IO(AIOPOLL_IOC_MAGIC, 0x06)

/*
 * IOCB_CMD_POLL with this aio_flags bit stays armed: one event per readiness, each with
 * res2 == AIOPOLL_POLL_MORE, until it is cancelled (a last event with res == 0 and res2 == 0)
 * or the ring has no room for another event (a last event with res == -EOVERFLOW).
 */
#define AIOPOLL_IOCB_FLAG_MULTISHOT	(1 << 16)
#define AIOPOLL_POLL_MORE		1

/*
 * RWF_HIPRI in aio_rw_flags (AIOPOLL_FEAT_HIPRI): polled I/O on an O_DIRECT file of a device
 * with poll queues (else EOPNOTSUPP). It completes only when polled: AIOPOLL_IOC_GETEVENTS
 * polls the device on every call while such I/O is pending, and spins instead of sleeping.
 */

/* struct iocb aio_flags that aiopoll takes; any other bit is refused with EINVAL. */
#define AIOPOLL_IOCB_FLAGS	(IOCB_FLAG_RESFD | IOCB_FLAG_IOPRIO | AIOPOLL_IOCB_FLAG_MULTISHOT)

#endif /* _UAPI_LINUX_AIOPOLL_H */
