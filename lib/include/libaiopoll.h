/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaiopoll.h: what only aiopoll has, on top of the libaio API of <libaio.h>.
 *
 * Link with -laiopoll (pkg-config aiopoll). Everything in <libaio.h> works as with libaio;
 * the functions here take the same io_context_t.
 */
#ifndef LIBAIOPOLL_H
#define LIBAIOPOLL_H

#include <libaio.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Same values as <linux/aiopoll.h>, which cannot be included next to <libaio.h>. */
#define AIOPOLL_IOCB_FLAG_MULTISHOT	(1 << 16)
#define AIOPOLL_POLL_MORE		1
#ifndef RWF_HIPRI
#define RWF_HIPRI			0x00000001
#endif

/* The ABI of the running module (AIOPOLL_IOC_VERSION). */
struct aiopoll_lib_version {
	uint32_t major;
	uint32_t minor;
	uint64_t features;	/* AIOPOLL_FEAT_* of <linux/aiopoll.h> */
};

/*
 * A multishot IOCB_CMD_POLL: stays armed and delivers one event per readiness, each with
 * res2 == AIOPOLL_POLL_MORE, until io_cancel() (a last event with res 0 and res2 0) or a
 * full ring (a last event with res == -EOVERFLOW). The iocb must stay valid while armed.
 */
static inline void io_prep_poll_multishot(struct iocb *iocb, int fd, int events)
{
	io_prep_poll(iocb, fd, events);
	iocb->u.c.flags |= AIOPOLL_IOCB_FLAG_MULTISHOT;
}

/*
 * Polled I/O (RWF_HIPRI) for a prepared read or write on an O_DIRECT file of a block device
 * with poll queues: it completes when io_getevents() polls the device, without an interrupt.
 */
static inline void io_set_hipri(struct iocb *iocb)
{
	iocb->aio_rw_flags |= RWF_HIPRI;
}

/* Reads the module's ABI version; 0 or a negative errno (-ENOSYS: no /dev/aiopoll). */
int aiopoll_version(struct aiopoll_lib_version *v);

/*
 * The context's file descriptor: poll(2)/epoll report POLLIN on it while events are in the
 * ring. -EINVAL for an unknown context. It stays owned by the context: do not close it.
 */
int aiopoll_ctx_fd(io_context_t ctx);

/*
 * Reaps up to nr events straight from the mmap'ed ring, without a system call and without
 * waiting: the number reaped (0 when the ring is empty), or -EINVAL for an unknown context.
 * Safe against concurrent aiopoll_reap() calls; not against io_getevents() running at the
 * same time in another thread (which moves the ring's head inside the kernel).
 */
int aiopoll_reap(io_context_t ctx, long nr, struct io_event *events);

/*
 * aiopoll_reap() first, then io_getevents() for whatever is still missing to reach min_nr:
 * the wait-free fast path of a completion loop. Same arguments and results as io_getevents().
 */
int aiopoll_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
		      struct timespec *timeout);

/*
 * io_submit() of nr iocbs, then io_pgetevents() for at least min_nr and at most max_nr events
 * into events, in one system call (AIOPOLL_IOC_SUBMIT_WAIT, ABI 1.6), as io_uring_enter(2)
 * with to_submit and min_complete does. timeout (relative) and sigmask (installed for the wait
 * only) may be NULL. Returns the number of events reaped, or a negative errno: the error of
 * the first iocb when none could be submitted, or of the wait (-EINTR: a signal came before
 * any event). *submitted, unless submitted is NULL, gets the number of iocbs submitted,
 * whatever the result: -EINTR may come after the iocbs were submitted. When a later iocb than
 * the first fails, the call returns at once, without waiting, with the events that were
 * already there. On a module older than ABI 1.6, the same in two system calls.
 */
int aiopoll_submit_and_wait(io_context_t ctx, long nr, struct iocb *ios[], long min_nr,
			    long max_nr, struct io_event *events, struct timespec *timeout,
			    const sigset_t *sigmask, long *submitted);

#ifdef __cplusplus
}
#endif

#endif /* LIBAIOPOLL_H */
