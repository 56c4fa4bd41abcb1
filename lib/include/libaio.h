/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaio.h of libaiopoll: the libaio API and ABI, served by /dev/aiopoll.
 *
 * Source and binary compatible with libaio's <libaio.h> (0.3.113): the same types,
 * structure layouts, command numbers, inline helpers and functions, so that a program
 * written for libaio builds against this header unchanged, and a program built against
 * libaio runs with libaiopoll's libaio.so.1 unchanged. `io_context_t` is the address of the
 * context's mmap'ed completion ring (fs/aio's `struct aio_ring` layout), exactly as with
 * libaio on fs/aio. Functions return 0 or a count on success and a negative errno on error.
 *
 * What only aiopoll has (multishot poll, polled I/O, user-space reaping) is declared in
 * <libaiopoll.h>.
 */
#ifndef __LIBAIO_H
#define __LIBAIO_H

#ifdef __cplusplus
extern "C" {
#endif

#include <sys/types.h>
#include <string.h>
#include <signal.h>

struct timespec;
struct sockaddr;
struct iovec;

/* The address of the context's completion ring. */
typedef struct io_context *io_context_t;

/* aio_lio_opcode values: the kernel's IOCB_CMD_* numbers. */
typedef enum io_iocb_cmd {
	IO_CMD_PREAD = 0,
	IO_CMD_PWRITE = 1,
	IO_CMD_FSYNC = 2,
	IO_CMD_FDSYNC = 3,
	/* 4 was IO_CMD_PREADX, never implemented */
	IO_CMD_POLL = 5,
	IO_CMD_NOOP = 6,
	IO_CMD_PREADV = 7,
	IO_CMD_PWRITEV = 8,
} io_iocb_cmd_t;

/*
 * Pointers and longs fill 64-bit fields of the kernel's struct iocb and struct io_event;
 * on 32-bit targets a pad word completes them, on the side the byte order asks for.
 * PADDED() pairs two 32-bit fields in the kernel's order for the byte order.
 */
#if !defined(__BYTE_ORDER__) || !defined(__SIZEOF_LONG__)
#error "libaio.h needs __BYTE_ORDER__ and __SIZEOF_LONG__ (GCC or clang)"
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __SIZEOF_LONG__ == 8
#define PADDED(x, y)	x, y
#define PADDEDptr(x, y)	x
#define PADDEDul(x, y)	unsigned long x
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __SIZEOF_LONG__ == 4
#define PADDED(x, y)	x; unsigned y
#define PADDEDptr(x, y)	x; unsigned y
#define PADDEDul(x, y)	unsigned long x; unsigned y
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ && __SIZEOF_LONG__ == 8
#define PADDED(x, y)	unsigned y; x
#define PADDEDptr(x, y)	x
#define PADDEDul(x, y)	unsigned long x
#else
#define PADDED(x, y)	unsigned y; x
#define PADDEDptr(x, y)	unsigned y; x
#define PADDEDul(x, y)	unsigned y; unsigned long x
#endif

struct io_iocb_poll {
	PADDED(int events, __pad1);
};	/* result: the ready poll events, or a negative errno */

struct io_iocb_sockaddr {
	PADDEDptr(struct sockaddr *addr, __pad1);
	PADDEDul(len, __pad2);
};	/* unused by the kernel; kept for source compatibility */

struct io_iocb_common {
	PADDEDptr(void	*buf, __pad1);
	PADDEDul(nbytes, __pad2);
	long long	offset;
	long long	__pad3;
	unsigned	flags;		/* the kernel's aio_flags (IOCB_FLAG_*) */
	unsigned	resfd;		/* eventfd signalled on completion (IOCB_FLAG_RESFD) */
};	/* result: bytes transferred, or a negative errno */

struct io_iocb_vector {
	PADDEDptr(const struct iovec *vec, __pad1);
	PADDEDul(nr, __pad2);
	long long	offset;
};	/* result: bytes transferred, or a negative errno */

/* The kernel's struct iocb of <linux/aio_abi.h>, 64 bytes. */
struct iocb {
	PADDEDptr(void *data, __pad1);	/* returned in io_event.data */
	PADDED(unsigned key, aio_rw_flags);	/* key: set by the kernel; RWF_* flags */
	short		aio_lio_opcode;
	short		aio_reqprio;
	int		aio_fildes;
	union {
		struct io_iocb_common		c;
		struct io_iocb_vector		v;
		struct io_iocb_poll		poll;
		struct io_iocb_sockaddr		saddr;
	} u;
};

/* The kernel's struct io_event, 32 bytes: one completion. */
struct io_event {
	PADDEDptr(void *data, __pad1);		/* iocb->data */
	PADDEDptr(struct iocb *obj, __pad2);	/* the iocb */
	PADDEDul(res, __pad3);			/* result or negative errno */
	PADDEDul(res2, __pad4);			/* second result (aiopoll: AIOPOLL_POLL_MORE) */
};

/* The argument block of the io_pgetevents system call. */
struct io_sigset {
	unsigned long ss;
	unsigned long ss_len;
};

struct io_sigset_compat {
	PADDEDptr(unsigned long ss, __ss_pad);
	unsigned long ss_len;
};

#undef PADDED
#undef PADDEDptr
#undef PADDEDul

typedef void (*io_callback_t)(io_context_t ctx, struct iocb *iocb, long res, long res2);

/* Library functions. */
extern int io_queue_init(int maxevents, io_context_t *ctxp);
extern int io_queue_release(io_context_t ctx);
extern int io_queue_run(io_context_t ctx);

/* The system calls of fs/aio, served by /dev/aiopoll. */
extern int io_setup(int maxevents, io_context_t *ctxp);
extern int io_destroy(io_context_t ctx);
extern int io_submit(io_context_t ctx, long nr, struct iocb *ios[]);
extern int io_cancel(io_context_t ctx, struct iocb *iocb, struct io_event *evt);
extern int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			struct timespec *timeout);
extern int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			 struct timespec *timeout, sigset_t *sigmask);

static inline void io_set_callback(struct iocb *iocb, io_callback_t cb)
{
	iocb->data = (void *)cb;
}

/* Common part of the io_prep_* helpers: a zeroed iocb for one command on fd. */
static inline void __io_prep(struct iocb *iocb, int fd, short cmd)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = fd;
	iocb->aio_lio_opcode = cmd;
	iocb->aio_reqprio = 0;
}

/* Reads and writes: a buffer and its length, or an iovec array and its count. */
static inline void __io_prep_rw(struct iocb *iocb, int fd, short cmd, void *buf,
				unsigned long nbytes, long long offset)
{
	__io_prep(iocb, fd, cmd);
	iocb->u.c.buf = buf;
	iocb->u.c.nbytes = nbytes;
	iocb->u.c.offset = offset;
}

static inline void io_prep_pread(struct iocb *iocb, int fd, void *buf, size_t count,
				 long long offset)
{
	__io_prep_rw(iocb, fd, IO_CMD_PREAD, buf, count, offset);
}

static inline void io_prep_pwrite(struct iocb *iocb, int fd, void *buf, size_t count,
				  long long offset)
{
	__io_prep_rw(iocb, fd, IO_CMD_PWRITE, buf, count, offset);
}

static inline void io_prep_preadv(struct iocb *iocb, int fd, const struct iovec *iov,
				  int iovcnt, long long offset)
{
	__io_prep_rw(iocb, fd, IO_CMD_PREADV, (void *)iov, iovcnt, offset);
}

static inline void io_prep_pwritev(struct iocb *iocb, int fd, const struct iovec *iov,
				   int iovcnt, long long offset)
{
	__io_prep_rw(iocb, fd, IO_CMD_PWRITEV, (void *)iov, iovcnt, offset);
}

static inline void io_prep_preadv2(struct iocb *iocb, int fd, const struct iovec *iov,
				   int iovcnt, long long offset, int flags)
{
	io_prep_preadv(iocb, fd, iov, iovcnt, offset);
	iocb->aio_rw_flags = flags;
}

static inline void io_prep_pwritev2(struct iocb *iocb, int fd, const struct iovec *iov,
				    int iovcnt, long long offset, int flags)
{
	io_prep_pwritev(iocb, fd, iov, iovcnt, offset);
	iocb->aio_rw_flags = flags;
}

static inline void io_prep_poll(struct iocb *iocb, int fd, int events)
{
	__io_prep(iocb, fd, IO_CMD_POLL);
	iocb->u.poll.events = events;
}

static inline void io_prep_fsync(struct iocb *iocb, int fd)
{
	__io_prep(iocb, fd, IO_CMD_FSYNC);
}

static inline void io_prep_fdsync(struct iocb *iocb, int fd)
{
	__io_prep(iocb, fd, IO_CMD_FDSYNC);
}

/* Prepares with prep, sets the callback and submits: io_poll(), io_fsync(), io_fdsync(). */
static inline int __io_submit_one(io_context_t ctx, struct iocb *iocb, io_callback_t cb)
{
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline int io_poll(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd,
			  int events)
{
	io_prep_poll(iocb, fd, events);
	return __io_submit_one(ctx, iocb, cb);
}

static inline int io_fsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fsync(iocb, fd);
	return __io_submit_one(ctx, iocb, cb);
}

static inline int io_fdsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fdsync(iocb, fd);
	return __io_submit_one(ctx, iocb, cb);
}

static inline void io_set_eventfd(struct iocb *iocb, int eventfd)
{
	iocb->u.c.flags |= (1 << 0) /* IOCB_FLAG_RESFD */;
	iocb->u.c.resfd = eventfd;
}

#ifdef __cplusplus
}
#endif

#endif /* __LIBAIO_H */
