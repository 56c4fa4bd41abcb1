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
 * fs/aio, whose contexts belong to the mm that made them. The lookup takes no lock and
 * writes nothing shared: only io_setup(), io_destroy() and fork() serialise, on a mutex
 * (the registry, below, argues why a lookup racing with them stays correct).
 *
 * Without the module, io_setup() falls back to fs/aio's system calls (see "The fs/aio
 * fallback" below), and a context is then either an aiopoll one or a kernel one.
 *
 * Built twice from this file: as libaiopoll.a, and (LIBAIOPOLL_SHARED) as libaiopoll.so and
 * the libaio.so.1 drop-in, with libaio's symbol versions (libaio.map).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
 * The registry: ring address -> fd, an open-addressing hash table with linear probing that
 * every call searches without a lock and without an atomic read-modify-write.
 *
 * Writers (io_setup(), io_destroy(), the fork handlers) are serialised by reg_mutex. They
 * publish the table through reg_table with a release store; a reader loads it with acquire
 * and then sees a fully initialised table. A slot is a small seqlock: a writer makes seq
 * odd, changes ring, fd and gen, and makes seq even again; a reader that finds its ring
 * re-reads seq after fd and gen and accepts them only if seq was even and unchanged, so it
 * never pairs one context's address with another's fd.
 *
 * A slot goes from free to live (io_setup), from live to deleted (io_destroy), from
 * deleted to live again, and from deleted to free only when it ends its probe chain (the
 * next slot is free). Live entries never move. So every slot from a live context's home
 * slot to its own stays in use for as long as the context lives, and a lookup of a context
 * that lives throughout it finds it, whatever the writers do to other slots meanwhile. A
 * lookup that does not find ctx (a free slot, every slot probed, or ctx's slot changing
 * under it) ran at a moment when ctx was not registered: before its io_setup() or after
 * its io_destroy() began. Either answer is one the call could have got, had it run alone
 * at some moment within its own duration; and a lookup ends after at most cap slots.
 *
 * The table grows (doubles) when half of it would be live; the old table is then frozen as
 * it was at that moment, which is still a true state of the registry for a reader that
 * loaded it before, and it is kept on the new table's retired list rather than freed, as
 * such a reader may still be reading it. With geometric growth the retired tables take
 * less memory than the current one. Only a forked child, single-threaded, frees them.
 *
 * What a lock-free lookup cannot give (nor could the lock it replaces, which was dropped
 * before the system call): a call that runs while another thread destroys the same context
 * (a bug of the program, as it is on fs/aio) may hold the fd after io_destroy() closed it.
 * Its system call then fails with EBADF, or, if the fd number was opened again meanwhile,
 * reaches that file: an error (ENOTTY) from a file that is not /dev/aiopoll, as aiopoll's
 * ioctl numbers are its own, or a context set up meanwhile, as a stale context id may reach
 * a new context on fs/aio when its ring address is reused. When the call fails, ctx_gone()
 * looks ctx up again, and if it was destroyed (or destroyed and set up again: gen differs)
 * the call gives fs/aio's answer for a destroyed context instead of the stray errno. Such a
 * call may also read the ring (the zero-timeout shortcut, aiopoll_reap()) after it was
 * unmapped and fault, as libaio on fs/aio faults on a destroyed context every time. Calls
 * on other contexts are never affected: their slots do not change.
 */
#define SLOT_FREE	((uintptr_t)0)	/* ends a probe */
#define SLOT_DELETED	((uintptr_t)1)	/* a destroyed context's: probes go on past it */

struct reg_slot {
	_Atomic unsigned int seq;	/* odd while a writer changes the slot */
	_Atomic int fd;
	_Atomic uintptr_t ring;		/* the ring's address, SLOT_FREE or SLOT_DELETED */
	_Atomic unsigned long gen;	/* which io_setup() registered it */
	size_t size;			/* the mapping's length; writers only */
};

struct reg_table {
	size_t cap;			/* a power of two; never changes */
	size_t live;			/* writers only */
	struct reg_table *retired;	/* the table this one replaced, still readable */
	struct reg_slot slot[];
};

static pthread_mutex_t reg_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct reg_table *_Atomic reg_table;
/*
 * Whether any context is registered: the current table's live count, copied by the writers
 * for the lookups that miss (ctx_moved()), which read it without the lock. Only its value
 * matters: relaxed.
 */
static _Atomic size_t reg_live;
static unsigned long reg_gen;	/* writers only */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static size_t reg_hash(uintptr_t ring)
{
	return (size_t)((ring >> 12) * 0x9e3779b97f4a7c15ull);
}

/*
 * The fd of a live context and, in *gen, the io_setup() that made it; or -EINVAL. See
 * above: readers take no lock and write nothing.
 */
static int ctx_lookup(io_context_t ctx, unsigned long *gen)
{
	struct reg_table *t = atomic_load_explicit(&reg_table, memory_order_acquire);
	uintptr_t key = (uintptr_t)ctx;
	size_t i, n, mask;

	if (!t || key <= SLOT_DELETED)
		return -EINVAL;
	mask = t->cap - 1;
	for (i = reg_hash(key) & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
		struct reg_slot *s = &t->slot[i];
		uintptr_t ring = atomic_load_explicit(&s->ring, memory_order_relaxed);
		unsigned int seq;
		int fd;

		if (ring == SLOT_FREE)
			break;
		if (ring != key)
			continue;
		/* Pairs with the release of seq + 2 in slot_set(). */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		ring = atomic_load_explicit(&s->ring, memory_order_relaxed);
		fd = atomic_load_explicit(&s->fd, memory_order_relaxed);
		*gen = atomic_load_explicit(&s->gen, memory_order_relaxed);
		/* Orders the reads above before the re-read of seq. */
		atomic_thread_fence(memory_order_acquire);
		if ((seq & 1) || ring != key ||
		    atomic_load_explicit(&s->seq, memory_order_relaxed) != seq)
			break;	/* being set up or destroyed right now */
		return fd;
	}
	return -EINVAL;
}

/*
 * After a system call on ctx's fd failed: whether ctx was destroyed, or destroyed and set
 * up again, since ctx_lookup() gave gen, and the failure may be that of a closed or reused
 * fd. The fence pairs with the one in ctx_release(): a reader whose system call saw the fd
 * closed then sees the slot changed.
 */
static int ctx_gone(io_context_t ctx, unsigned long gen)
{
	unsigned long now;

	atomic_thread_fence(memory_order_seq_cst);
	return ctx_lookup(ctx, &now) < 0 || now != gen;
}

/* Sets a slot that readers may be reading, as a seqlock writer. Caller holds reg_mutex. */
static void slot_set(struct reg_slot *s, uintptr_t ring, int fd, unsigned long gen)
{
	unsigned int seq = atomic_load_explicit(&s->seq, memory_order_relaxed);

	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	/* Orders the odd seq before the fields, for a reader that sees a new field. */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->fd, fd, memory_order_relaxed);
	atomic_store_explicit(&s->gen, gen, memory_order_relaxed);
	atomic_store_explicit(&s->ring, ring, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

static uintptr_t slot_ring(const struct reg_slot *s)
{
	return atomic_load_explicit(&s->ring, memory_order_relaxed);
}

/*
 * The slot of ring in t, or else the first deleted or free slot of its probe chain, where
 * it would go. Caller holds reg_mutex; t has a free slot or a deleted one.
 */
static struct reg_slot *reg_slot(struct reg_table *t, uintptr_t ring)
{
	struct reg_slot *reuse = NULL;
	size_t i, n, mask = t->cap - 1;

	for (i = reg_hash(ring) & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
		uintptr_t r = slot_ring(&t->slot[i]);

		if (r == ring)
			return &t->slot[i];
		if (r == SLOT_DELETED && !reuse)
			reuse = &t->slot[i];
		if (r == SLOT_FREE)
			return reuse ? reuse : &t->slot[i];
	}
	return reuse;
}

/*
 * A table of twice the capacity with the live entries of the current one, published; the
 * old one is retired, not freed (see above). Caller holds reg_mutex.
 */
static struct reg_table *reg_grow(struct reg_table *old)
{
	size_t cap = old ? old->cap * 2 : 16, i;
	struct reg_table *t = calloc(1, sizeof(*t) + cap * sizeof(t->slot[0]));

	if (!t)
		return NULL;
	t->cap = cap;
	t->retired = old;
	for (i = 0; old && i < old->cap; i++) {
		struct reg_slot *from = &old->slot[i], *to;

		if (slot_ring(from) <= SLOT_DELETED)
			continue;
		to = reg_slot(t, slot_ring(from));
		to->size = from->size;
		slot_set(to, slot_ring(from), atomic_load_explicit(&from->fd, memory_order_relaxed),
			 atomic_load_explicit(&from->gen, memory_order_relaxed));
		t->live++;
	}
	/* Pairs with the acquire in ctx_lookup(): the slots are written before t is seen. */
	atomic_store_explicit(&reg_table, t, memory_order_release);
	return t;
}

/* Registers a context, growing the table at half load. Caller holds reg_mutex. */
static int reg_insert(struct aiopoll_ring *ring, int fd, size_t size)
{
	struct reg_table *t = atomic_load_explicit(&reg_table, memory_order_relaxed);
	struct reg_slot *s;

	if (!t || (t->live + 1) * 2 > t->cap) {
		t = reg_grow(t);
		if (!t)
			return -ENOMEM;
	}
	s = reg_slot(t, (uintptr_t)ring);
	/*
	 * A ring still registered at this address was unmapped behind the library's back: its
	 * entry is replaced, as before, and its fd left to the program.
	 */
	if (slot_ring(s) <= SLOT_DELETED)
		t->live++;
	atomic_store_explicit(&reg_live, t->live, memory_order_relaxed);
	s->size = size;
	slot_set(s, (uintptr_t)ring, fd, ++reg_gen);
	return 0;
}

/*
 * Unregisters ctx, giving its fd and mapping length; false if it is not registered. Caller
 * holds reg_mutex.
 */
static int reg_remove(io_context_t ctx, int *fd, size_t *size)
{
	struct reg_table *t = atomic_load_explicit(&reg_table, memory_order_relaxed);
	uintptr_t key = (uintptr_t)ctx;
	struct reg_slot *s;
	size_t i, mask;

	if (!t || key <= SLOT_DELETED)
		return 0;
	s = reg_slot(t, key);
	if (!s || slot_ring(s) != key)
		return 0;
	*fd = atomic_load_explicit(&s->fd, memory_order_relaxed);
	*size = s->size;
	slot_set(s, SLOT_DELETED, -1, 0);
	t->live--;
	atomic_store_explicit(&reg_live, t->live, memory_order_relaxed);
	/*
	 * A deleted slot followed by a free one lies on no live context's probe chain (every
	 * slot of such a chain is in use up to the context's own), so it may be free again, and
	 * then so may the deleted slots before it. This keeps misses short.
	 */
	mask = t->cap - 1;
	i = (size_t)(s - t->slot);
	if (slot_ring(&t->slot[(i + 1) & mask]) != SLOT_FREE)
		return 1;
	while (slot_ring(&t->slot[i]) == SLOT_DELETED) {
		slot_set(&t->slot[i], SLOT_FREE, -1, 0);
		i = (i - 1) & mask;
	}
	return 1;
}

/*
 * fork() waits for a writer to finish, so that the child sees a whole table. In the child,
 * single-threaded: the rings were not inherited (the module maps them VM_DONTCOPY), so it
 * forgets every context and closes the inherited fds, which also keeps it from holding its
 * parent's contexts open; with no other thread, no reader can be in a table, and every
 * table, retired ones included, is freed.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&reg_mutex);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&reg_mutex);
}

static void atfork_child(void)
{
	struct reg_table *t = atomic_load_explicit(&reg_table, memory_order_relaxed), *next;
	size_t i;

	for (i = 0; t && i < t->cap; i++)
		if (slot_ring(&t->slot[i]) > SLOT_DELETED)
			close(atomic_load_explicit(&t->slot[i].fd, memory_order_relaxed));
	atomic_store_explicit(&reg_table, NULL, memory_order_relaxed);
	atomic_store_explicit(&reg_live, 0, memory_order_relaxed);
	for (; t; t = next) {
		next = t->retired;
		free(t);
	}
	pthread_mutex_unlock(&reg_mutex);
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
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

/*
 * Where the module has the ring of context fd mapped now: the ring-addr line of the fd's
 * /proc/self/fdinfo (the module follows mremap()); 0 when it cannot be told.
 */
static uintptr_t ring_addr_of(int fd)
{
	static const char key[] = "\nring-addr:";
	char path[64], buf[1024], *p;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return 0;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, key);
	return p ? (uintptr_t)strtoull(p + sizeof(key) - 1, NULL, 0) : 0;
}

/*
 * A lookup that missed: ctx may be the new address of a ring that the program moved with
 * mremap() (libaio's harness case 19 does), which fs/aio follows (the context's id becomes the
 * new address, and the old one is no context any more). The header at ctx is read through
 * the kernel (ctx may be anything); if it is an aiopoll ring whose id, the fd it was set up
 * with, is that of a registered context, and the module says that context's ring is now at
 * ctx, the registry entry moves to ctx. Then, or if another thread moved it first, the
 * context's fd; else -EINVAL. Costs nothing while no context is registered (the fs/aio
 * fallback's calls on kernel contexts come here too).
 */
static int ctx_moved(io_context_t ctx, unsigned long *gen)
{
	struct reg_table *t;
	struct aiopoll_ring hdr;
	size_t i, size = 0;
	uintptr_t old = 0;
	int fd = -1;

	if (!atomic_load_explicit(&reg_live, memory_order_relaxed) ||
	    copy_checked(&hdr, ctx, sizeof(hdr)) || hdr.magic != AIOPOLL_RING_MAGIC ||
	    hdr.header_length != sizeof(hdr) || hdr.id > INT_MAX)
		return -EINVAL;
	pthread_mutex_lock(&reg_mutex);
	t = atomic_load_explicit(&reg_table, memory_order_relaxed);
	for (i = 0; t && i < t->cap; i++) {
		if (slot_ring(&t->slot[i]) > SLOT_DELETED &&
		    atomic_load_explicit(&t->slot[i].fd, memory_order_relaxed) == (int)hdr.id) {
			old = slot_ring(&t->slot[i]);
			size = t->slot[i].size;
			fd = (int)hdr.id;
			break;
		}
	}
	if (fd >= 0 && old != (uintptr_t)ctx && ring_addr_of(fd) == (uintptr_t)ctx) {
		int unused_fd;
		size_t unused_size;

		/* Cannot fail: the entry at old goes, which leaves room for the one at ctx. */
		reg_remove((io_context_t)old, &unused_fd, &unused_size);
		reg_insert((struct aiopoll_ring *)ctx, fd, size);
	}
	pthread_mutex_unlock(&reg_mutex);
	return ctx_lookup(ctx, gen);
}

/* The fd of context ctx, found where it is registered or where its ring moved; or -EINVAL. */
static int ctx_find(io_context_t ctx, unsigned long *gen)
{
	int fd = ctx_lookup(ctx, gen);

	return fd >= 0 ? fd : ctx_moved(ctx, gen);
}

/* Removes a context from the registry, unmaps its ring and closes its fd. */
static int ctx_release(io_context_t ctx)
{
	size_t size;
	int fd, found;

	pthread_mutex_lock(&reg_mutex);
	found = reg_remove(ctx, &fd, &size);
	pthread_mutex_unlock(&reg_mutex);
	if (!found)
		return -EINVAL;
	/*
	 * The slot's change is seen before the ring goes and the fd closes: a reader whose
	 * system call finds the fd closed, then looks again (ctx_gone()), finds ctx gone.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	munmap(ctx, size);
	/*
	 * The last close of the context cancels what can be cancelled and waits for the rest,
	 * before close() returns: io_destroy()'s guarantee that no request is left running.
	 */
	close(fd);
	return 0;
}

/*
 * The fs/aio fallback. Where /dev/aiopoll is missing (the module is not loaded), io_setup()
 * makes a kernel aio context with the io_setup(2) system call instead, unless the environment
 * has LIBAIOPOLL_FALLBACK=0 (then it fails with -ENOSYS). So each context is either an
 * aiopoll one, registered (its id is its ring's address), or a kernel aio_context_t, which
 * the registry does not know: once the process has made one, a call on a context that the
 * registry does not know goes to fs/aio's system call, whose answer (the result, or -EINVAL
 * for something that is no context at all) is libaio's.
 */
static _Atomic int fsaio_used;	/* a kernel context was made; only its value matters */

static int fallback_enabled(void)
{
	const char *e = getenv("LIBAIOPOLL_FALLBACK");

	return !e || strcmp(e, "0") != 0;
}

/*
 * Whether a context that the registry does not know may be a kernel one. Relaxed: a thread
 * that has such a context got its id from the io_setup() that set the flag before returning
 * it, through the program's own synchronisation.
 */
static int fsaio_maybe(void)
{
	return atomic_load_explicit(&fsaio_used, memory_order_relaxed);
}

/* A system call of fs/aio, returning libaio's way: the result or a negative errno. */
static long fsaio(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret = syscall(nr, a, b, c, d, e, f);

	return ret < 0 ? -errno : ret;
}

static int fsaio_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			   const struct timespec *timeout, const sigset_t *sigmask)
{
	/* libaio's io_pgetevents() argument: the mask and the kernel's sigset_t size. */
	struct { unsigned long ss, ss_len; } mask = { (unsigned long)sigmask, _NSIG / 8 };

	if (!sigmask)
		return fsaio(__NR_io_getevents, (long)ctx, min_nr, nr, (long)events, (long)timeout,
			     0);
	return fsaio(__NR_io_pgetevents, (long)ctx, min_nr, nr, (long)events, (long)timeout,
		     (long)&mask);
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
		if (errno != ENOENT && errno != ENODEV && errno != ENXIO)
			return -errno;
		/*
		 * No aiopoll here: fs/aio's context, or (LIBAIOPOLL_FALLBACK=0) what a kernel
		 * without fs/aio answers, so the program's own fallbacks work.
		 */
		if (!fallback_enabled())
			return -ENOSYS;
		ret = (int)fsaio(__NR_io_setup, maxevents, (long)ctxp, 0, 0, 0, 0);
		if (!ret)
			atomic_store_explicit(&fsaio_used, 1, memory_order_relaxed);
		return ret;
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
	pthread_mutex_lock(&reg_mutex);
	ret = reg_insert(ring, fd, s.ring_size);
	pthread_mutex_unlock(&reg_mutex);
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

/* What the calls below answer for something that is not, or is no longer, a context. */
#define CTX_UNKNOWN INT_MIN

/*
 * An ioctl on the fd that ctx_lookup() gave for ctx: its result, a negative errno, or
 * CTX_UNKNOWN when it failed because ctx was destroyed meanwhile (see ctx_gone()).
 */
static int ctx_call(io_context_t ctx, int fd, unsigned long gen, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	if (ret >= 0)
		return ret;
	ret = -errno;
	return ctx_gone(ctx, gen) ? CTX_UNKNOWN : ret;
}

/* ctx_call() after the lookup; CTX_UNKNOWN for something that is not a context. */
static int ctx_ioctl(io_context_t ctx, unsigned long cmd, void *arg)
{
	unsigned long gen;
	int fd = ctx_find(ctx, &gen);

	return fd < 0 ? CTX_UNKNOWN : ctx_call(ctx, fd, gen, cmd, arg);
}

/*
 * fs/aio's io_destroy(): the module (AIOPOLL_IOC_DESTROY, ABI 1.7) takes no more requests,
 * wakes the threads waiting in io_getevents() on the context (they return -EINVAL) and
 * returns once every request in flight has completed; then the ring is unmapped and the fd
 * closed. A racing io_destroy() of the same context gets -EINVAL from the module, as from
 * fs/aio, and leaves the rest to the first. On a module before 1.7 (ENOTTY), the last close
 * alone cancels and waits, as it did, but does not wake a waiter, whose file reference
 * keeps the context open.
 */
EXPORT int io_destroy(io_context_t ctx)
{
	unsigned long gen;
	int fd = ctx_find(ctx, &gen), ret;

	if (fd < 0)
		return fsaio_maybe() ? (int)fsaio(__NR_io_destroy, (long)ctx, 0, 0, 0, 0, 0) :
				       -EINVAL;
	ret = ctx_call(ctx, fd, gen, AIOPOLL_IOC_DESTROY, NULL);
	if (ret == CTX_UNKNOWN || ret == -EINVAL)
		return -EINVAL;
	return ctx_release(ctx);
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
	int ret = ctx_ioctl(ctx, AIOPOLL_IOC_SUBMIT, &s);

	if (ret != CTX_UNKNOWN)
		return ret;
	return fsaio_maybe() ? (int)fsaio(__NR_io_submit, (long)ctx, nr, (long)ios, 0, 0, 0) :
			       -EINVAL;
}

DEFAULT_SYMVER(io_cancel, LIBAIO_0.4);
EXPORT int V(io_cancel)(io_context_t ctx, struct iocb *iocb, struct io_event *evt)
{
	struct aiopoll_cancel c = { .iocb = (uintptr_t)iocb, .result = (uintptr_t)evt };
	int ret = ctx_ioctl(ctx, AIOPOLL_IOC_CANCEL, &c);

	if (ret != CTX_UNKNOWN)
		return ret;
	return fsaio_maybe() ? (int)fsaio(__NR_io_cancel, (long)ctx, (long)iocb, (long)evt, 0, 0, 0) :
			       cancel_bad_ctx(iocb);
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

/* io_getevents() and io_pgetevents(). */
static int getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
		     const struct timespec *timeout, const sigset_t *sigmask)
{
	struct __kernel_timespec kts;
	struct aiopoll_getevents g = {
		.min_nr = min_nr,
		.nr = nr,
		.events = (uintptr_t)events,
	};
	unsigned long gen;
	int fd = ctx_find(ctx, &gen), ret;

	if (fd < 0)
		return fsaio_maybe() ? fsaio_getevents(ctx, min_nr, nr, events, timeout, sigmask) :
				       getevents_bad_ctx(timeout, sigmask);
	if (ring_empty_now(ctx, timeout))
		return 0;
	if (timeout) {
		to_kts(&kts, timeout);
		g.timeout = (uintptr_t)&kts;
	}
	if (sigmask) {
		g.sigmask = (uintptr_t)sigmask;
		g.sigsetsize = _NSIG / 8;	/* the kernel's sigset_t, as libaio passes it */
	}
	ret = ctx_call(ctx, fd, gen, AIOPOLL_IOC_GETEVENTS, &g);
	if (ret != CTX_UNKNOWN)
		return ret;
	return fsaio_maybe() ? fsaio_getevents(ctx, min_nr, nr, events, timeout, sigmask) :
			       getevents_bad_ctx(timeout, sigmask);
}

DEFAULT_SYMVER(io_getevents, LIBAIO_0.4);
EXPORT int V(io_getevents)(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			struct timespec *timeout)
{
	return getevents(ctx, min_nr, nr, events, timeout, NULL);
}

EXPORT int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			 struct timespec *timeout, sigset_t *sigmask)
{
	return getevents(ctx, min_nr, nr, events, timeout, sigmask);
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
	unsigned long gen;

	return ctx_find(ctx, &gen);
}

EXPORT int aiopoll_reap(io_context_t ctx, long nr, struct io_event *events)
{
	struct aiopoll_ring *ring = (struct aiopoll_ring *)ctx;
	unsigned long gen;
	int fd = ctx_find(ctx, &gen);
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
	/* Not an aiopoll context: perhaps a kernel one (the fs/aio fallback). */
	if (got < 0 && fsaio_maybe())
		return V(io_getevents)(ctx, min_nr, nr, events, timeout);
	if (got < 0 || got >= min_nr || got == nr)
		return got;
	ret = V(io_getevents)(ctx, min_nr - got, nr - got, events + got, timeout);
	if (ret < 0)
		return got ? got : ret;
	return got + ret;
}

/*
 * The two system calls aiopoll_submit_and_wait() stands for, on a module without
 * AIOPOLL_IOC_SUBMIT_WAIT (ABI < 1.6): the same results, not in one step.
 */
static int submit_then_wait(io_context_t ctx, long nr, struct iocb *ios[], long min_nr,
			    long max_nr, struct io_event *events, struct timespec *timeout,
			    const sigset_t *sigmask, long *submitted)
{
	int ret = 0;

	if (min_nr < 0 || min_nr > max_nr)
		return -EINVAL;
	if (nr) {
		ret = io_submit(ctx, nr, ios);
		if (ret < 0)
			return ret;
	}
	*submitted = ret;
	if (ret < nr)
		min_nr = 0;	/* a partial submission does not wait */
	return getevents(ctx, min_nr, max_nr, events, ret < nr ? &(struct timespec){ 0, 0 } :
			 timeout, sigmask);
}

EXPORT int aiopoll_submit_and_wait(io_context_t ctx, long nr, struct iocb *ios[], long min_nr,
				   long max_nr, struct io_event *events, struct timespec *timeout,
				   const sigset_t *sigmask, long *submitted)
{
	struct __kernel_timespec kts;
	struct aiopoll_submit_wait w = {
		.nr = nr,
		.iocbpp = (uintptr_t)ios,
		.min_nr = min_nr,
		.max_nr = max_nr,
		.events = (uintptr_t)events,
	};
	long dummy;
	unsigned long gen;
	int fd = ctx_find(ctx, &gen), ret;

	if (!submitted)
		submitted = &dummy;
	*submitted = 0;
	if (fd < 0) {
		/* Perhaps a kernel context (the fs/aio fallback): its two system calls. */
		if (fsaio_maybe())
			return submit_then_wait(ctx, nr, ios, min_nr, max_nr, events, timeout,
						sigmask, submitted);
		return -EINVAL;
	}
	if (timeout) {
		to_kts(&kts, timeout);
		w.timeout = (uintptr_t)&kts;
	}
	if (sigmask) {
		w.sigmask = (uintptr_t)sigmask;
		w.sigsetsize = _NSIG / 8;	/* the kernel's sigset_t */
	}
	ret = ctx_call(ctx, fd, gen, AIOPOLL_IOC_SUBMIT_WAIT, &w);
	if (ret == -ENOTTY)
		return submit_then_wait(ctx, nr, ios, min_nr, max_nr, events, timeout, sigmask,
					submitted);
	*submitted = w.submitted;
	return ret == CTX_UNKNOWN ? -EINVAL : ret;
}
