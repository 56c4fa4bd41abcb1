// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libaiopoll: the libaio API over /dev/aiopoll.
 *
 * io_setup() opens /dev/aiopoll, sets the context up with AIOPOLL_IOC_SETUP (ring_id = the
 * fd) and maps its ring; io_context_t is the ring's address, as with libaio on fs/aio, so
 * programs that read the ring themselves keep working. Every call looks the context up in a
 * process-wide registry before touching the ring, so an unknown or destroyed context gives
 * -EINVAL as fs/aio's system calls do (rather than a fault), and a forked child, which does
 * not inherit the ring mapping, sees its parent's contexts as unknown (-EINVAL), as with
 * fs/aio, whose contexts belong to the mm that made them.
 *
 * Built twice from this file: as libaiopoll.a, and (LIBAIOPOLL_SHARED) as libaiopoll.so and
 * the libaio.so.1 drop-in, with libaio's symbol versions (libaio.map).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "libaiopoll.h"

/*
 * <linux/aiopoll.h> includes <linux/aio_abi.h>, whose struct iocb and struct io_event clash
 * by name with libaio's (same layout, other field names). Pretend it was included: the
 * aiopoll header then uses libaio's struct io_event, which the checks below prove identical.
 */
#define __LINUX__AIO_ABI_H
#define IOCB_FLAG_RESFD		(1 << 0)
#define IOCB_FLAG_IOPRIO	(1 << 1)
#include <linux/aiopoll.h>
#include <linux/time_types.h>

/* libaio's struct iocb and struct io_event are the kernel's, field for field. */
_Static_assert(sizeof(struct iocb) == 64, "struct iocb");
_Static_assert(offsetof(struct iocb, aio_lio_opcode) == 16, "aio_lio_opcode");
_Static_assert(offsetof(struct iocb, aio_fildes) == 20, "aio_fildes");
_Static_assert(offsetof(struct iocb, u.c.buf) == 24, "aio_buf");
_Static_assert(offsetof(struct iocb, u.c.nbytes) == 32, "aio_nbytes");
_Static_assert(offsetof(struct iocb, u.c.offset) == 40, "aio_offset");
_Static_assert(offsetof(struct iocb, u.c.flags) == 56, "aio_flags");
_Static_assert(offsetof(struct iocb, u.c.resfd) == 60, "aio_resfd");
_Static_assert(sizeof(struct io_event) == 32, "struct io_event");
_Static_assert(offsetof(struct io_event, res) == 16, "res");
_Static_assert(sizeof(struct aiopoll_ring) == AIOPOLL_RING_HEADER_LENGTH, "ring header");

#ifdef LIBAIOPOLL_SHARED
/* name@VERSION: a compatibility version of a symbol, as libaio.so.1 has them. */
#define COMPAT_SYMVER(impl, name, ver) __asm__(".symver " #impl "," #name "@" #ver)
/*
 * The default version of a name that also has a compatibility version is defined as
 * name_v (V() below) and exported as name@@VERSION.
 */
#define DEFAULT_SYMVER(name, ver) __asm__(".symver " #name "_v," #name "@@" #ver)
#define V(name) name##_v
#else
#define COMPAT_SYMVER(impl, name, ver)
#define DEFAULT_SYMVER(name, ver)
#define V(name) name
#endif

#define EXPORT __attribute__((visibility("default")))

/*
 * The registry: ring address -> fd and mapping size, an open-addressing hash table with
 * linear probing. reg_lock protects every field below; lookups take it shared, io_setup()
 * and io_destroy() exclusively.
 */
struct reg_ent {
	struct aiopoll_ring *ring;	/* NULL: free slot */
	int fd;
	size_t size;
};

static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct reg_ent *reg_tab;
static size_t reg_cap;		/* 0 or a power of two */
static size_t reg_cnt;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static size_t reg_hash(const void *ring)
{
	return (size_t)(((uintptr_t)ring >> 12) * 0x9e3779b97f4a7c15ull);
}

/* The slot of ring, or of the free slot where it would go. Caller holds reg_lock. */
static struct reg_ent *reg_slot(const void *ring)
{
	size_t i = reg_hash(ring) & (reg_cap - 1);

	while (reg_tab[i].ring && reg_tab[i].ring != ring)
		i = (i + 1) & (reg_cap - 1);
	return &reg_tab[i];
}

/* Inserts an entry, growing the table at half load. Caller holds reg_lock exclusively. */
static int reg_insert(struct aiopoll_ring *ring, int fd, size_t size)
{
	if ((reg_cnt + 1) * 2 > reg_cap) {
		size_t old_cap = reg_cap, ncap = reg_cap ? reg_cap * 2 : 16, i;
		struct reg_ent *old = reg_tab, *tab = calloc(ncap, sizeof(*tab));

		if (!tab)
			return -ENOMEM;
		reg_tab = tab;
		reg_cap = ncap;
		for (i = 0; i < old_cap; i++)
			if (old[i].ring)
				*reg_slot(old[i].ring) = old[i];
		free(old);
	}
	*reg_slot(ring) = (struct reg_ent){ .ring = ring, .fd = fd, .size = size };
	reg_cnt++;
	return 0;
}

/* Removes the entry of ring into *out; false if there is none. Caller holds reg_lock excl. */
static int reg_remove(const void *ring, struct reg_ent *out)
{
	struct reg_ent *e;
	size_t i, j;

	if (!reg_cap || !ring)
		return 0;
	e = reg_slot(ring);
	if (!e->ring)
		return 0;
	*out = *e;
	/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
	i = (size_t)(e - reg_tab);
	for (j = (i + 1) & (reg_cap - 1); reg_tab[j].ring; j = (j + 1) & (reg_cap - 1)) {
		size_t home = reg_hash(reg_tab[j].ring) & (reg_cap - 1);

		/* Entry j may move into hole i unless its home lies cyclically in (i, j]. */
		if (((j - home) & (reg_cap - 1)) >= ((j - i) & (reg_cap - 1))) {
			reg_tab[i] = reg_tab[j];
			i = j;
		}
	}
	reg_tab[i].ring = NULL;
	reg_cnt--;
	return 1;
}

/* The fd of a live context, or -EINVAL. */
static int ctx_fd(io_context_t ctx)
{
	int fd = -EINVAL;

	if (!ctx)
		return -EINVAL;
	pthread_rwlock_rdlock(&reg_lock);
	if (reg_cap) {
		struct reg_ent *e = reg_slot(ctx);

		if (e->ring)
			fd = e->fd;
	}
	pthread_rwlock_unlock(&reg_lock);
	return fd;
}

/*
 * In a forked child: the rings were not inherited (the module maps them VM_DONTCOPY), so
 * forget every context and close the inherited fds, which also keeps the child from holding
 * its parent's contexts open. Runs single-threaded in the child; the lock may have been held
 * by another thread of the parent at fork time, so it is reinitialised, not taken.
 */
static void atfork_child(void)
{
	size_t i;

	for (i = 0; i < reg_cap; i++)
		if (reg_tab[i].ring)
			close(reg_tab[i].fd);
	free(reg_tab);
	reg_tab = NULL;
	reg_cap = reg_cnt = 0;
	pthread_rwlock_init(&reg_lock, NULL);
}

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

/* The kernel's timespec (64-bit fields on every ABI). */
static void to_kts(struct __kernel_timespec *k, const struct timespec *t)
{
	k->tv_sec = t->tv_sec;
	k->tv_nsec = t->tv_nsec;
}

/*
 * Copies n bytes from src to dst through the kernel, which checks both addresses as
 * get_user() and put_user() do: -EFAULT, not a signal, when src is not readable or dst not
 * writable (NULL, unmapped, read-only, a kernel address). process_vm_readv() on ourselves
 * does it in one call; where it is missing or refused (ENOSYS, EPERM under a seccomp
 * policy), a pipe does it in two.
 */
static int copy_checked(void *dst, const void *src, size_t n)
{
	struct iovec local = { .iov_base = dst, .iov_len = n };
	struct iovec remote = { .iov_base = (void *)src, .iov_len = n };
	ssize_t done;
	int p[2], ret = -EFAULT;

	done = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (done == (ssize_t)n)
		return 0;
	if (done >= 0 || errno == EFAULT)
		return -EFAULT;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	/* n is at most PIPE_BUF: the write is all or nothing, and so is the read. */
	if (write(p[1], src, n) == (ssize_t)n && read(p[0], dst, n) == (ssize_t)n)
		ret = 0;
	close(p[0]);
	close(p[1]);
	return ret;
}

/* Whether n bytes at src can be read (0) or not (-EFAULT), as the kernel would find. */
static int check_readable(const void *src, size_t n)
{
	char buf[16];

	return copy_checked(buf, src, n < sizeof(buf) ? n : sizeof(buf));
}

/* Removes a context from the registry, unmaps its ring and closes its fd. */
static int ctx_release(io_context_t ctx)
{
	struct reg_ent e;
	int found;

	pthread_rwlock_wrlock(&reg_lock);
	found = reg_remove(ctx, &e);
	pthread_rwlock_unlock(&reg_lock);
	if (!found)
		return -EINVAL;
	munmap(e.ring, e.size);
	/*
	 * The last close of the context cancels what can be cancelled and waits for the rest,
	 * before close() returns: io_destroy()'s guarantee that no request is left running.
	 */
	close(e.fd);
	return 0;
}

/*
 * fs/aio's io_setup() in its order: *ctxp is read (-EFAULT if it cannot be), must be 0 and
 * maxevents not 0 (-EINVAL), the context is made (fs/aio's errnos for maxevents, checked by
 * the module), and its address is written to *ctxp; when that write fails the context is
 * destroyed again and the answer is -EFAULT. ctxp is only ever read and written through
 * the kernel (copy_checked()), so that a bad pointer gives -EFAULT as with libaio, never a
 * SIGSEGV in the caller.
 */
EXPORT int io_setup(int maxevents, io_context_t *ctxp)
{
	struct aiopoll_setup s = { .nr_events = (__u32)maxevents };
	io_context_t old;
	void *ring;
	int fd, ret;

	ret = copy_checked(&old, ctxp, sizeof(old));
	if (ret)
		return ret;
	/* fs/aio: the context id must be 0 on entry, and 0 events is no context. */
	if (old || maxevents == 0)
		return -EINVAL;
	pthread_once(&atfork_once, atfork_register);
	fd = open(AIOPOLL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		/* No aiopoll here: what a kernel without fs/aio answers, so fallbacks work. */
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			return -ENOSYS;
		return -errno;
	}
	s.ring_id = (__u32)fd;
	if (ioctl(fd, AIOPOLL_IOC_SETUP, &s) < 0) {
		ret = -errno;
		goto err_close;
	}
	ring = mmap(NULL, s.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	pthread_rwlock_wrlock(&reg_lock);
	ret = reg_insert(ring, fd, s.ring_size);
	pthread_rwlock_unlock(&reg_lock);
	if (ret) {
		munmap(ring, s.ring_size);
		goto err_close;
	}
	ret = copy_checked(ctxp, &ring, sizeof(ring));
	if (ret)
		ctx_release(ring);
	return ret;
err_close:
	close(fd);
	return ret;
}

EXPORT int io_destroy(io_context_t ctx)
{
	return ctx_release(ctx);
}

/* An ioctl on the context's fd: its result, or a negative errno. */
static int ctx_ioctl(io_context_t ctx, unsigned long cmd, void *arg)
{
	int fd = ctx_fd(ctx);
	int ret;

	if (fd < 0)
		return fd;
	ret = ioctl(fd, cmd, arg);
	return ret < 0 ? -errno : ret;
}

/*
 * io_cancel() of something that is not a context: fs/aio reads the iocb's key before it
 * looks the context up, so -EFAULT when the key cannot be read, else -EINVAL.
 */
static int cancel_bad_ctx(const struct iocb *iocb)
{
	uintptr_t key = (uintptr_t)iocb + offsetof(struct iocb, key);

	return check_readable((const void *)key, sizeof(iocb->key)) ? -EFAULT : -EINVAL;
}

/*
 * io_getevents() and io_pgetevents() of something that is not a context: fs/aio reads the
 * timeout and the signal mask before it looks the context up, so -EFAULT when either
 * cannot be read, else -EINVAL.
 */
static int getevents_bad_ctx(const struct timespec *timeout, const sigset_t *sigmask)
{
	if (timeout && check_readable(timeout, sizeof(*timeout)))
		return -EFAULT;
	if (sigmask && check_readable(sigmask, _NSIG / 8))
		return -EFAULT;
	return -EINVAL;
}

EXPORT int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	struct aiopoll_submit s = { .nr = nr, .iocbpp = (uintptr_t)ios };

	return ctx_ioctl(ctx, AIOPOLL_IOC_SUBMIT, &s);
}

DEFAULT_SYMVER(io_cancel, LIBAIO_0.4);
EXPORT int V(io_cancel)(io_context_t ctx, struct iocb *iocb, struct io_event *evt)
{
	struct aiopoll_cancel c = { .iocb = (uintptr_t)iocb, .result = (uintptr_t)evt };
	int fd = ctx_fd(ctx), ret;

	if (fd < 0)
		return cancel_bad_ctx(iocb);
	ret = ioctl(fd, AIOPOLL_IOC_CANCEL, &c);
	return ret < 0 ? -errno : ret;
}

/* io_getevents() and io_pgetevents() after the context lookup. */
static int getevents(int fd, long min_nr, long nr, struct io_event *events,
		     const struct timespec *timeout, const sigset_t *sigmask)
{
	struct __kernel_timespec kts;
	struct aiopoll_getevents g = {
		.min_nr = min_nr,
		.nr = nr,
		.events = (uintptr_t)events,
	};
	int ret;

	if (timeout) {
		to_kts(&kts, timeout);
		g.timeout = (uintptr_t)&kts;
	}
	if (sigmask) {
		g.sigmask = (uintptr_t)sigmask;
		g.sigsetsize = _NSIG / 8;	/* the kernel's sigset_t, as libaio passes it */
	}
	ret = ioctl(fd, AIOPOLL_IOC_GETEVENTS, &g);
	return ret < 0 ? -errno : ret;
}

/*
 * libaio's shortcut: a zero timeout on an empty ring returns 0 without a system call.
 * head and tail are read once each; tail is written by the kernel, head by whoever reaps.
 */
static int ring_empty_now(io_context_t ctx, const struct timespec *timeout)
{
	struct aiopoll_ring *ring = (struct aiopoll_ring *)ctx;

	if (!timeout || timeout->tv_sec || timeout->tv_nsec)
		return 0;
	if (ring->magic != AIOPOLL_RING_MAGIC)
		return 0;
	return __atomic_load_n(&ring->head, __ATOMIC_RELAXED) ==
	       __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);
}

DEFAULT_SYMVER(io_getevents, LIBAIO_0.4);
EXPORT int V(io_getevents)(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			struct timespec *timeout)
{
	int fd = ctx_fd(ctx);

	if (fd < 0)
		return getevents_bad_ctx(timeout, NULL);
	if (ring_empty_now(ctx, timeout))
		return 0;
	return getevents(fd, min_nr, nr, events, timeout, NULL);
}

EXPORT int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			 struct timespec *timeout, sigset_t *sigmask)
{
	int fd = ctx_fd(ctx);

	if (fd < 0)
		return getevents_bad_ctx(timeout, sigmask);
	if (ring_empty_now(ctx, timeout))
		return 0;
	return getevents(fd, min_nr, nr, events, timeout, sigmask);
}

EXPORT int io_queue_init(int maxevents, io_context_t *ctxp)
{
	if (maxevents <= 0)
		return -EINVAL;
	*ctxp = NULL;
	return io_setup(maxevents, ctxp);
}

EXPORT int io_queue_release(io_context_t ctx)
{
	return io_destroy(ctx);
}

DEFAULT_SYMVER(io_queue_wait, LIBAIO_0.4);
EXPORT int V(io_queue_wait)(io_context_t ctx, struct timespec *timeout)
{
	return V(io_getevents)(ctx, 0, 0, NULL, timeout);
}

/* Reaps one event at a time without waiting and calls the iocb's io_callback_t. */
EXPORT int io_queue_run(io_context_t ctx)
{
	static struct timespec zero = { 0, 0 };
	struct io_event ev;
	int ret;

	while ((ret = V(io_getevents)(ctx, 0, 1, &ev, &zero)) == 1) {
		io_callback_t cb = (io_callback_t)ev.data;

		cb(ctx, ev.obj, ev.res, ev.res2);
	}
	return ret;
}

#ifdef LIBAIOPOLL_SHARED
/* libaio.so.1's compatibility entry points of the LIBAIO_0.1 interface (shared only). */
COMPAT_SYMVER(io_cancel_0_1, io_cancel, LIBAIO_0.1);
EXPORT int io_cancel_0_1(io_context_t ctx, struct iocb *iocb)
{
	struct io_event ev;

	return V(io_cancel)(ctx, iocb, &ev);
}

COMPAT_SYMVER(io_queue_wait_0_1, io_queue_wait, LIBAIO_0.1);
EXPORT int io_queue_wait_0_1(io_context_t ctx, struct timespec *when)
{
	return V(io_getevents)(ctx, 0, 0, NULL, when);
}

COMPAT_SYMVER(io_getevents_0_1, io_getevents, LIBAIO_0.1);
EXPORT int io_getevents_0_1(io_context_t ctx, long nr, struct io_event *events,
			    const struct timespec *timeout)
{
	struct timespec t;

	if (timeout)
		t = *timeout;
	return V(io_getevents)(ctx, 1, nr, events, timeout ? &t : NULL);
}
#endif /* LIBAIOPOLL_SHARED */

/* aiopoll extensions (libaiopoll.h). */

EXPORT int aiopoll_version(struct aiopoll_lib_version *v)
{
	struct aiopoll_version k;
	int fd = open(AIOPOLL_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return errno == ENOENT || errno == ENODEV || errno == ENXIO ? -ENOSYS : -errno;
	if (ioctl(fd, AIOPOLL_IOC_VERSION, &k) < 0) {
		ret = -errno;
	} else {
		v->major = k.major;
		v->minor = k.minor;
		v->features = k.features;
	}
	close(fd);
	return ret;
}

EXPORT int aiopoll_ctx_fd(io_context_t ctx)
{
	return ctx_fd(ctx);
}

EXPORT int aiopoll_reap(io_context_t ctx, long nr, struct io_event *events)
{
	struct aiopoll_ring *ring = (struct aiopoll_ring *)ctx;
	int fd = ctx_fd(ctx);
	unsigned int head, tail, n, ring_nr;

	if (fd < 0)
		return fd;
	if (nr < 0)
		return -EINVAL;
	ring_nr = ring->nr;
	for (;;) {
		unsigned int i, avail;

		head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
		/*
		 * Acquire: pairs with the kernel's release of tail after it wrote the events, so
		 * the slots read below are complete.
		 */
		tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
		if (head >= ring_nr || tail >= ring_nr)
			return 0;	/* garbage in user-writable head: let the kernel sort it out */
		avail = (tail + ring_nr - head) % ring_nr;
		n = avail < (unsigned long)nr ? avail : (unsigned int)nr;
		if (!n)
			return 0;
		for (i = 0; i < n; i++)
			events[i] = ring->io_events[(head + i) % ring_nr];
		/*
		 * Release: the slots are copied before head moves on, so the kernel cannot reuse
		 * them under the copy. The exchange fails when another reaper moved head first;
		 * then the copy may be stale and is redone.
		 */
		if (__atomic_compare_exchange_n(&ring->head, &head, (head + n) % ring_nr, 0,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return (int)n;
	}
}

EXPORT int aiopoll_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			     struct timespec *timeout)
{
	int got, ret;

	if (min_nr < 0 || nr < 0 || min_nr > nr)
		return -EINVAL;
	got = aiopoll_reap(ctx, nr, events);
	if (got < 0 || got >= min_nr || got == nr)
		return got;
	ret = V(io_getevents)(ctx, min_nr - got, nr - got, events + got, timeout);
	if (ret < 0)
		return got ? got : ret;
	return got + ret;
}
