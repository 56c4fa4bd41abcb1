// SPDX-License-Identifier: GPL-2.0
/*
 * aiopoll_fuzz: random and mutated ioctls, iocbs and ring mappings against /dev/aiopoll,
 * from several processes of several threads each, for a fixed time.
 *
 *   aiopoll_fuzz [--seconds N] [--seed S] [--procs P] [--threads T] [--quiet]
 *
 * Every thread draws its operations from its own generator, seeded from (S, process, thread),
 * so a seed replays the same operation sequence in every thread (the interleaving of threads
 * is up to the scheduler). The seed is printed first. The operations share one table of fds
 * per process: contexts, pipes, sockets, eventfd, signalfd, epoll, a tmpfs file, a block
 * device if there is one, and closed numbers, and threads close and reopen its slots under
 * each other. Processes fork children that run the same mix and are killed mid-way.
 *
 * What is judged is the kernel: the run must leave no KASAN, lockdep, WARNING, BUG, refcount
 * or hung-task report, and the module must unload afterwards. The program itself fails only
 * on a broken environment (no device) or when one of its processes dies of anything but the
 * SIGKILL it gets when still running a minute after the deadline, and prints how many calls
 * it made and, per process, how often each errno came back.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>
#include <linux/aiopoll.h>
#include <linux/time_types.h>

#define NSLOTS		48
#define ARENA		(256 * 4096)
#define MAXBATCH	16
#define RECENT		64

static unsigned long long seed;
static int seconds = 10, nprocs = 2, nthreads = 4, quiet;
static struct timespec deadline;

/* The fd table of this process; slots are replaced and closed under other threads' feet. */
static atomic_int slots[NSLOTS];
static atomic_int slot_is_ctx[NSLOTS];	/* a hint only: slots change under our feet */
static char *arena;		/* buffers for I/O; pages get unmapped and remapped */
static int blockdev = -1;

/* Counters, per process, summed into the report. */
static atomic_long calls, errno_count[140];

struct rng {
	unsigned long long s;
};

static unsigned long long next(struct rng *r)
{
	/* splitmix64: small, fast, and the same sequence everywhere for the same seed. */
	unsigned long long z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int below(struct rng *r, unsigned int n)
{
	return (unsigned int)(next(r) % n);
}

static int chance(struct rng *r, unsigned int percent)
{
	return below(r, 100) < percent;
}

static int past_deadline(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline.tv_sec ||
	       (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
}

/* Records a call's outcome; returns ret. */
static long note(long ret)
{
	calls++;
	if (ret < 0 && errno > 0 && errno < 140)
		errno_count[errno]++;
	return ret;
}

/* A "random" value of the kinds that find bugs: edges, small numbers, garbage. */
static unsigned long long interesting(struct rng *r)
{
	static const unsigned long long v[] = {
		0, 1, 2, 7, 8, 16, 31, 32, 63, 64, 127, 128, 255, 256, 511, 512, 1023, 1024,
		1025, 4095, 4096, 4097, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xffffffff,
		0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, ~0ull - 1,
		0xffff800000000000ull, 0xffffffff81000000ull,
	};

	if (chance(r, 60))
		return v[below(r, sizeof(v) / sizeof(v[0]))];
	if (chance(r, 50))
		return below(r, 4096);
	return next(r);
}

/*
 * Whether the last user page below TASK_SIZE (0x7ffffffff000, x86-64 with 4-level paging) is
 * unmapped, as it is unless the stack sits at the very top: set once, in main().
 */
static int top_page_unmapped;

/*
 * A pointer at an edge of the address space, where the sum of a pointer and a field's offset
 * or a length wraps or crosses into kernel space: just below 2^64, in the kernel half, just
 * below TASK_SIZE and at it. None of them is readable or writable memory of this process.
 */
static unsigned long long edge_ptr(struct rng *r)
{
	switch (below(r, 4)) {
	case 0:	/* half of them so close to 2^64 that adding a field's offset wraps */
		return ~0ull - (chance(r, 50) ? below(r, 16) : below(r, 128));
	case 1:
		return chance(r, 50) ? 0xffff888000000000ull + 8 * below(r, 512) :
				       0x8000000000000000ull + below(r, 64);
	case 2:
		if (top_page_unmapped)
			return 0x00007ffffffff000ull - 1 - below(r, 128);
		/* fall through */
	default:
		return 0x0000800000000000ull - (chance(r, 50) ? 0 : 1) + below(r, 64);
	}
}

/* A user pointer: mostly into the arena, sometimes NULL, kernel, unmapped or unaligned. */
static unsigned long long some_ptr(struct rng *r, size_t need)
{
	switch (below(r, 11)) {
	case 0:
		return 0;
	case 1:
		return 0xffffffff81000000ull + below(r, 4096);	/* kernel text */
	case 2:
		return 0x10000 + below(r, 4096);		/* usually unmapped */
	case 3:
		return (uintptr_t)arena + ARENA - below(r, 64);	/* runs off the end */
	case 4:
		return edge_ptr(r);
	default:
		if (need >= ARENA)
			return (uintptr_t)arena;
		return (uintptr_t)arena + below(r, ARENA - need);
	}
}

/* An fd: a slot's current fd, or a number that is not open, or garbage. */
static int some_fd(struct rng *r)
{
	if (chance(r, 85))
		return atomic_load(&slots[below(r, NSLOTS)]);
	if (chance(r, 50))
		return blockdev >= 0 ? blockdev : -1;
	return chance(r, 50) ? -1 : 3 + (int)below(r, 2045);	/* never stdin/out/err */
}

/* Mostly a slot that holds a context (so that ioctls reach aiopoll), else any fd. */
static int some_ctx(struct rng *r)
{
	int i, k;

	if (chance(r, 80))
		for (k = 0; k < 8; k++) {
			i = below(r, NSLOTS);
			if (atomic_load(&slot_is_ctx[i]))
				return atomic_load(&slots[i]);
		}
	return some_fd(r);
}

/* Opens something new into a random slot and closes what was there. */
static void op_reopen(struct rng *r)
{
	int sv[2], p[2], fd = -1, old, i, is_ctx = 0;
	sigset_t mask;

	switch (below(r, 10)) {
	case 0: case 1: case 2: case 3:
		fd = note(open(AIOPOLL_DEVICE_PATH, O_RDWR | O_CLOEXEC));
		is_ctx = 1;
		break;
	case 4:	/* a pipe: its read end here, its write end in another slot */
		if (!note(pipe2(p, O_CLOEXEC | (chance(r, 50) ? O_NONBLOCK : 0)))) {
			fd = p[0];
			old = atomic_exchange(&slots[below(r, NSLOTS)], p[1]);
			if (old >= 0)
				close(old);
		}
		break;
	case 5:
		if (!note(socketpair(AF_UNIX, (chance(r, 50) ? SOCK_STREAM : SOCK_DGRAM) |
				     SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))) {
			fd = sv[0];
			old = atomic_exchange(&slots[below(r, NSLOTS)], sv[1]);
			if (old >= 0)
				close(old);
		}
		break;
	case 6:
		fd = note(eventfd(below(r, 3), EFD_CLOEXEC | (chance(r, 50) ? EFD_NONBLOCK : 0)));
		break;
	case 7:
		sigemptyset(&mask);
		sigaddset(&mask, SIGUSR2);
		fd = note(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
		break;
	case 8:
		fd = note(epoll_create1(EPOLL_CLOEXEC));
		if (fd >= 0) {
			struct epoll_event e = { .events = EPOLLIN | EPOLLOUT };
			int other = some_fd(r);

			note(epoll_ctl(fd, EPOLL_CTL_ADD, other, &e));
		}
		break;
	default:
		fd = note(open("/tmp/aiopoll_fuzz.file", O_RDWR | O_CREAT | O_CLOEXEC |
			       (chance(r, 20) ? O_DIRECT : 0), 0600));
		break;
	}
	i = below(r, NSLOTS);
	atomic_store(&slot_is_ctx[i], is_ctx);
	old = atomic_exchange(&slots[i], fd);
	if (old >= 0)
		note(close(old));
}

static void op_close(struct rng *r)
{
	int old = atomic_exchange(&slots[below(r, NSLOTS)], -1);

	if (old >= 0)
		note(close(old));
}

static void op_setup(struct rng *r)
{
	struct aiopoll_setup s = { 0 };
	unsigned long long arg;

	s.nr_events = chance(r, 70) ? 1 + below(r, 256) : (unsigned int)interesting(r);
	s.ring_id = (unsigned int)next(r);
	if (chance(r, 5))
		s.flags = (unsigned int)interesting(r);
	if (chance(r, 5))
		s.reserved[below(r, 2)] = interesting(r);
	if (chance(r, 5))
		s.ring_nr = (unsigned int)interesting(r);
	arg = chance(r, 90) ? (uintptr_t)&s : some_ptr(r, sizeof(s));
	note(ioctl(some_ctx(r), AIOPOLL_IOC_SETUP, (void *)(uintptr_t)arg));
}

/* Per-thread memory of mappings made and iocbs submitted. */
struct tstate {
	struct rng r;
	void *maps[8];
	size_t map_len[8];
	struct iocb iocbs[RECENT];
	struct iovec iov[1100];
	struct io_event ev[64];
};

static void op_mmap(struct tstate *t)
{
	struct rng *r = &t->r;
	int i = below(r, 8);
	size_t len = chance(r, 70) ? 4096 * (1 + below(r, 8)) : (size_t)interesting(r);
	int prot = chance(r, 80) ? PROT_READ | PROT_WRITE : (int)below(r, 8);
	int flags = chance(r, 85) ? MAP_SHARED :
		    (chance(r, 50) ? MAP_PRIVATE : (int)below(r, 64) & ~MAP_FIXED);
	off_t off = chance(r, 85) ? 0 : (off_t)(4096 * below(r, 4));
	void *p;
	int fd;

	if (t->maps[i]) {
		switch (below(r, 4)) {
		case 0:	/* grow or shrink in place, or move */
			p = mremap(t->maps[i], t->map_len[i], len, chance(r, 50) ? MREMAP_MAYMOVE : 0);
			note(p == MAP_FAILED ? -1 : 0);
			if (p != MAP_FAILED) {
				t->maps[i] = p;
				t->map_len[i] = len;
			}
			return;
		case 1:	/* split it, and forget it: the hole may soon hold someone else's memory */
			/* Its first or second page, never the page after a one-page mapping. */
			note(munmap((char *)t->maps[i] + (t->map_len[i] > 4096 ? 4096 * below(r, 2) : 0),
				    4096));
			t->maps[i] = NULL;
			return;
		case 2:
			note(mprotect(t->maps[i], 4096, PROT_READ | (below(r, 2) ? PROT_WRITE : 0)));
			return;
		default:
			note(munmap(t->maps[i], t->map_len[i]));
			t->maps[i] = NULL;
			return;
		}
	}
	fd = some_ctx(r);
	p = mmap(NULL, len, prot, flags, fd, off);
	if (note(p == MAP_FAILED ? -1 : 0) == 0) {
		struct aiopoll_version v;

		t->maps[i] = p;
		t->map_len[i] = len;
		/*
		 * Touch a ring's header: read tail, scribble on head (user-writable). Only on a
		 * context's ring at offset 0 (other files' mappings may fault, as they should).
		 */
		if ((prot & PROT_READ) && !off && len >= 32 && chance(r, 80) &&
		    !ioctl(fd, AIOPOLL_IOC_VERSION, &v)) {
			volatile unsigned int *h = p;

			if (prot & PROT_WRITE && chance(r, 50))
				h[2] = chance(r, 50) ? h[3] : (unsigned int)interesting(r);
			(void)h[3];
		}
	}
}

static void fill_iocb(struct tstate *t, struct iocb *cb)
{
	struct rng *r = &t->r;
	unsigned int op = chance(r, 90) ? below(r, 9) : (unsigned int)interesting(r);
	size_t len = chance(r, 70) ? 1 + below(r, 8192) : (size_t)interesting(r);

	memset(cb, 0, sizeof(*cb));
	cb->aio_data = next(r);
	cb->aio_lio_opcode = (__u16)op;
	cb->aio_fildes = (__u32)some_fd(r);
	cb->aio_reqprio = chance(r, 90) ? 0 : (__s16)interesting(r);
	switch (op) {
	case IOCB_CMD_PREAD:
	case IOCB_CMD_PWRITE:
		cb->aio_buf = some_ptr(r, len);
		cb->aio_nbytes = len;
		cb->aio_offset = chance(r, 80) ? 512 * below(r, 64) : (long long)interesting(r);
		break;
	case IOCB_CMD_PREADV:
	case IOCB_CMD_PWRITEV: {
		unsigned int n = chance(r, 80) ? below(r, 8) : below(r, 1100), i;

		for (i = 0; i < n; i++) {
			size_t l = chance(r, 90) ? below(r, 4096) : (size_t)interesting(r);

			t->iov[i].iov_base = (void *)(uintptr_t)some_ptr(r, l < ARENA ? l : 0);
			t->iov[i].iov_len = l;
		}
		cb->aio_buf = chance(r, 90) ? (uintptr_t)t->iov : some_ptr(r, 16);
		cb->aio_nbytes = n;
		cb->aio_offset = chance(r, 80) ? 512 * below(r, 64) : (long long)interesting(r);
		break;
	}
	case IOCB_CMD_POLL:
		cb->aio_buf = chance(r, 85) ? (POLLIN | POLLOUT | POLLPRI | POLLRDHUP) &
					       (unsigned int)next(r) : interesting(r);
		break;
	default:
		break;
	}
	if (chance(r, 15))
		cb->aio_rw_flags = (int)(chance(r, 50) ? (1 << below(r, 8)) : interesting(r));
	if (chance(r, 25))
		cb->aio_flags |= AIOPOLL_IOCB_FLAG_MULTISHOT;
	if (chance(r, 10)) {
		cb->aio_flags |= IOCB_FLAG_RESFD;
		cb->aio_resfd = (__u32)some_fd(r);
	}
	if (chance(r, 5)) {
		cb->aio_flags |= IOCB_FLAG_IOPRIO;
		cb->aio_reqprio = (__s16)interesting(r);
	}
	if (chance(r, 3))
		cb->aio_flags = (__u32)interesting(r);
	if (chance(r, 3))
		cb->aio_reserved2 = interesting(r);
	if (chance(r, 3))
		cb->aio_key = (__u32)interesting(r);
}

static void op_submit(struct tstate *t)
{
	struct rng *r = &t->r;
	struct iocb *ptrs[MAXBATCH];
	struct aiopoll_submit s = { 0 };
	unsigned int n = 1 + below(r, MAXBATCH), i, base = below(r, RECENT - MAXBATCH);

	for (i = 0; i < n; i++) {
		ptrs[i] = &t->iocbs[base + i];
		fill_iocb(t, ptrs[i]);
	}
	if (chance(r, 5))
		ptrs[below(r, n)] = (struct iocb *)(uintptr_t)some_ptr(r, sizeof(struct iocb));
	s.nr = chance(r, 90) ? n : (long long)interesting(r);
	if (s.nr > (long long)n && s.nr < 1 << 20 && chance(r, 50))
		s.nr = n;
	s.iocbpp = chance(r, 95) ? (uintptr_t)ptrs : some_ptr(r, 8);
	if (chance(r, 3))
		s.reserved = interesting(r);
	note(ioctl(some_ctx(r), AIOPOLL_IOC_SUBMIT, &s));
}

static void op_getevents(struct tstate *t)
{
	struct rng *r = &t->r;
	struct __kernel_timespec ts = { 0, (long long)below(r, 2000000) };
	struct aiopoll_getevents g = { 0 };
	sigset_t mask;

	g.nr = chance(r, 85) ? below(r, 64) : (long long)interesting(r);
	g.min_nr = chance(r, 70) ? below(r, 2) : (long long)interesting(r);
	if (g.nr > 64 && chance(r, 80))
		g.nr = 64;
	/*
	 * t->ev holds 64 events and sits in this process's malloc heap: larger counts get an
	 * arena pointer instead, where a copy of too many events ends at the guard page.
	 */
	g.events = g.nr >= 0 && g.nr <= 64 && chance(r, 90) ? (uintptr_t)t->ev : some_ptr(r, 32);
	/* Always a timeout when waiting: an endless wait would only stall the thread. */
	if (chance(r, 3)) {
		ts.tv_nsec = (long long)interesting(r);
		ts.tv_sec = (long long)(chance(r, 50) ? 0 : interesting(r) & 1);
	}
	/* Bad timeout pointers fault; none points at memory whose content could mean hours. */
	g.timeout = chance(r, 97) ? (uintptr_t)&ts :
		    chance(r, 33) ? 0xffffffff81000000ull :
		    chance(r, 50) ? 0x10000 + below(r, 4096) : edge_ptr(r);
	if (chance(r, 20)) {
		sigemptyset(&mask);
		if (chance(r, 50))
			sigaddset(&mask, SIGUSR1);
		g.sigmask = chance(r, 90) ? (uintptr_t)&mask : some_ptr(r, 8);
		g.sigsetsize = chance(r, 90) ? 8 : interesting(r);
	}
	if (chance(r, 3))
		g.reserved = interesting(r);
	note(ioctl(some_ctx(r), AIOPOLL_IOC_GETEVENTS, &g));
}

/* SUBMIT_WAIT: a batch as op_submit makes one, then a wait as op_getevents does. */
static void op_submit_wait(struct tstate *t)
{
	struct rng *r = &t->r;
	struct iocb *ptrs[MAXBATCH];
	struct __kernel_timespec ts = { 0, (long long)below(r, 2000000) };
	struct aiopoll_submit_wait w = { 0 };
	unsigned int n = below(r, MAXBATCH + 1), i, base = below(r, RECENT - MAXBATCH);
	sigset_t mask;

	for (i = 0; i < n; i++) {
		ptrs[i] = &t->iocbs[base + i];
		fill_iocb(t, ptrs[i]);
	}
	if (n && chance(r, 5))
		ptrs[below(r, n)] = (struct iocb *)(uintptr_t)some_ptr(r, sizeof(struct iocb));
	w.nr = chance(r, 90) ? n : (long long)interesting(r);
	w.iocbpp = chance(r, 95) ? (uintptr_t)ptrs : some_ptr(r, 8);
	w.max_nr = chance(r, 85) ? below(r, 64) : (long long)interesting(r);
	w.min_nr = chance(r, 70) ? below(r, 2) : (long long)interesting(r);
	if (w.max_nr > 64 && chance(r, 80))
		w.max_nr = 64;
	w.events = w.max_nr >= 0 && w.max_nr <= 64 && chance(r, 90) ? (uintptr_t)t->ev :
									some_ptr(r, 32);
	if (chance(r, 3)) {
		ts.tv_nsec = (long long)interesting(r);
		ts.tv_sec = (long long)(chance(r, 50) ? 0 : interesting(r) & 1);
	}
	/* Always a timeout (see op_getevents); bad pointers fault before anything is submitted. */
	w.timeout = chance(r, 97) ? (uintptr_t)&ts : chance(r, 50) ? 0x10000 + below(r, 4096) :
									edge_ptr(r);
	if (chance(r, 20)) {
		sigemptyset(&mask);
		if (chance(r, 50))
			sigaddset(&mask, SIGUSR1);
		w.sigmask = chance(r, 90) ? (uintptr_t)&mask : some_ptr(r, 8);
		w.sigsetsize = chance(r, 90) ? 8 : interesting(r);
	}
	if (chance(r, 3))
		w.submitted = interesting(r);
	if (chance(r, 3))
		w.reserved = interesting(r);
	note(ioctl(some_ctx(r), AIOPOLL_IOC_SUBMIT_WAIT,
		   chance(r, 97) ? (void *)&w : (void *)(uintptr_t)edge_ptr(r)));
}

static void op_cancel(struct tstate *t)
{
	struct rng *r = &t->r;
	struct io_event res;
	struct aiopoll_cancel c = { 0 };

	c.iocb = chance(r, 80) ? (uintptr_t)&t->iocbs[below(r, RECENT)] :
		 chance(r, 50) ? edge_ptr(r) : some_ptr(r, 64);
	c.result = chance(r, 90) ? (uintptr_t)&res : some_ptr(r, 32);
	if (chance(r, 3))
		c.reserved = interesting(r);
	note(ioctl(some_ctx(r), AIOPOLL_IOC_CANCEL, &c));
}

static void op_misc(struct tstate *t)
{
	struct rng *r = &t->r;
	struct aiopoll_version v;
	unsigned long long one = 1;
	char buf[64];
	int fd = some_fd(r);

	switch (below(r, 10)) {
	case 8:	/* io_destroy(): waits for the context's requests, as a close does */
		if (chance(r, 20))
			note(ioctl(some_ctx(r), AIOPOLL_IOC_DESTROY));
		break;
	case 0:
		note(ioctl(fd, AIOPOLL_IOC_VERSION, chance(r, 90) ? &v : (void *)(uintptr_t)some_ptr(r, 16)));
		break;
	case 1: {	/* random ioctl numbers of our type and others */
		unsigned long cmd = chance(r, 50) ? _IOC(below(r, 4), AIOPOLL_IOC_MAGIC,
							 below(r, 16), below(r, 128)) :
						    (unsigned long)next(r);

		/*
		 * Not GETEVENTS on arbitrary memory: a zero timeout field there means "wait
		 * forever", a legitimate wait that would only stall the thread.
		 */
		if (cmd == AIOPOLL_IOC_GETEVENTS || cmd == AIOPOLL_IOC_SUBMIT_WAIT)
			cmd = AIOPOLL_IOC_VERSION;
		note(ioctl(fd, cmd, (void *)(uintptr_t)some_ptr(r, 128)));
		break;
	}
	case 2:
	case 3:	/* make things ready: pipes, sockets, eventfd (never blocking) */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		note(write(fd, &one, chance(r, 50) ? 8 : 1 + below(r, 7)));
		break;
	case 4:	/* and drain them */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		note(read(fd, buf, 1 + below(r, sizeof(buf))));
		break;
	case 5: {
		struct pollfd p = { fd, POLLIN | POLLOUT, 0 };

		note(poll(&p, 1, 0));
		break;
	}
	case 6:	/* replace an arena page under in-flight I/O (MAP_FIXED: no hole in between,
		 * which another thread's mmap, malloc's included, could otherwise take) */
		if (chance(r, 30)) {
			char *pg = arena + 4096 * below(r, ARENA / 4096);

			note(mmap(pg, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
				  MAP_FIXED, -1, 0) == MAP_FAILED ? -1 : 0);
		}
		break;
	case 7:
		note(lseek(fd, (off_t)interesting(r), SEEK_SET));
		break;
	default:
		note(kill(getpid(), SIGUSR1));	/* interrupts waits; handled */
		break;
	}
}

static void child_run(unsigned long long s);

static void op_fork(struct rng *r)
{
	pid_t pid;

	if (!chance(r, 10))
		return;
	pid = fork();
	if (pid == 0) {
		/* The child gets a short life of its own and is killed or exits mid-way. */
		child_run(next(r));
		_exit(0);
	}
	if (pid > 0) {
		struct timespec ts = { 0, (long)below(r, 50) * 1000000L };
		int i;

		nanosleep(&ts, NULL);
		if (chance(r, 70))
			kill(pid, SIGKILL);	/* killed in the middle of whatever it does */
		/* Otherwise it may finish its 200 operations; 5 s at most. */
		for (i = 0; i < 500 && waitpid(pid, NULL, WNOHANG) == 0; i++) {
			ts.tv_nsec = 10000000;
			nanosleep(&ts, NULL);
		}
		if (i == 500) {
			kill(pid, SIGKILL);
			note(waitpid(pid, NULL, 0));
		}
	}
}

static void run_ops(struct tstate *t, int max_ops, int may_fork)
{
	int i;

	for (i = 0; (max_ops < 0 || i < max_ops) && !past_deadline(); i++) {
		switch (below(&t->r, 20)) {
		case 0: case 1:
			op_reopen(&t->r);
			break;
		case 2:
			op_close(&t->r);
			break;
		case 3: case 4:
			op_setup(&t->r);
			break;
		case 5: case 6:
			op_mmap(t);
			break;
		case 7: case 8: case 9: case 10: case 11:
			op_submit(t);
			break;
		case 12: case 13:
			op_getevents(t);
			break;
		case 14:
			if (chance(&t->r, 50))
				op_getevents(t);
			else
				op_submit_wait(t);
			break;
		case 15: case 16:
			op_cancel(t);
			break;
		case 17: case 18:
			op_misc(t);
			break;
		default:
			if (may_fork)
				op_fork(&t->r);
			else
				op_misc(t);
			break;
		}
	}
}

static void child_run(unsigned long long s)
{
	struct tstate *t = calloc(1, sizeof(*t));

	t->r.s = s;
	run_ops(t, 200, 0);
}

struct targ {
	unsigned long long s;
};

static void *thread_main(void *arg)
{
	struct tstate *t = calloc(1, sizeof(*t));

	t->r.s = ((struct targ *)arg)->s;
	run_ops(t, -1, 1);
	return NULL;
}

static void on_signal(int sig)
{
}

static void proc_main(int proc)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct targ args[64];
	pthread_t th[64];
	struct rng r = { seed ^ (0x1000003ull * (proc + 1)) };
	int i;

	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The arena between two PROT_NONE guard pages: pointers that run off its end (some_ptr()
	 * and iovecs longer than the arena) must fault, never reach whatever the process mapped
	 * next to it, such as one of malloc's heaps (the kernel would write I/O into it).
	 */
	arena = mmap(NULL, ARENA + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED || mprotect(arena + 4096, ARENA, PROT_READ | PROT_WRITE)) {
		perror("aiopoll_fuzz: arena");
		exit(2);
	}
	arena += 4096;
	for (i = 0; i < NSLOTS; i++)
		atomic_store(&slots[i], -1);
	for (i = 0; i < NSLOTS / 2; i++)
		op_reopen(&r);
	for (i = 0; i < nthreads; i++) {
		args[i].s = seed * 31 + proc * 1009 + i * 7919 + 1;
		pthread_create(&th[i], NULL, thread_main, &args[i]);
	}
	/*
	 * After the deadline, interrupt whatever wait a thread may still be in (waits are
	 * interruptible; a task stuck in an uninterruptible one stays stuck, and the parent
	 * reports it with its kernel stack).
	 */
	while (!past_deadline())
		usleep(100000);
	for (i = 0; i < nthreads; i++) {
		while (pthread_tryjoin_np(th[i], NULL)) {
			pthread_kill(th[i], SIGUSR1);
			usleep(100000);
		}
	}
}

int main(int argc, char **argv)
{
	struct rlimit rl = { 4096, 4096 };
	long total = 0;
	int i, status, fail = 0, pipefd[2];
	pid_t pids[16];

	seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--procs") && i + 1 < argc)
			nprocs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quiet"))
			quiet = 1;
		else {
			fprintf(stderr, "usage: %s [--seconds N] [--seed S] [--procs P] [--threads T]\n",
				argv[0]);
			return 2;
		}
	}
	if (nprocs < 1 || nprocs > 16 || nthreads < 1 || nthreads > 64)
		return 2;
	printf("# aiopoll_fuzz: seed %llu, %d s, %d processes x %d threads\n", seed, seconds,
	       nprocs, nthreads);
	fflush(stdout);
	if (access(AIOPOLL_DEVICE_PATH, R_OK | W_OK)) {
		printf("# no %s\n", AIOPOLL_DEVICE_PATH);
		return 1;
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	{
		unsigned char vec;

		top_page_unmapped = mincore((void *)(0x00007ffffffff000ull - 4096), 4096, &vec) &&
				    errno == ENOMEM;
	}
	blockdev = open("/dev/nullb1", O_RDWR | O_DIRECT | O_CLOEXEC);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	if (pipe(pipefd))
		return 1;
	for (i = 0; i < nprocs; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			long n;

			close(pipefd[0]);
			proc_main(i);
			/* Exit with contexts, polls and I/O still in flight: the kernel cleans up. */
			n = atomic_load(&calls);
			if (write(pipefd[1], &n, sizeof(n)) != sizeof(n))
				_exit(3);
			for (n = 1; n < 140; n++)
				if (errno_count[n] && !quiet)
					printf("# proc %d: errno %ld (%s): %ld\n", i, n, strerror(n),
					       atomic_load(&errno_count[n]));
			fflush(stdout);
			_exit(0);
		}
	}
	close(pipefd[1]);
	/* The processes stop at the deadline; each then gets a minute of grace to finish. */
	while (!past_deadline())
		usleep(200000);
	for (i = 0; i < nprocs; i++) {
		int t;

		for (t = 0; t < 600 && waitpid(pids[i], &status, WNOHANG) == 0; t++)
			usleep(100000);
		if (t == 600) {
			/*
			 * Slow under emulation, or a thread in a wait no signal ends: SIGKILL it
			 * (one more teardown for the kernel). A task really stuck in the kernel
			 * is the hung-task detector's to report, and the log scan fails the run.
			 */
			printf("# process %d still running 60 s after the deadline: killed\n", i);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status, 0);
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			printf("# process %d ended with status 0x%x\n", i, status);
			fail = 1;
		}
	}
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (i = 0; i < nprocs; i++) {
		long n;

		if (read(pipefd[0], &n, sizeof(n)) == sizeof(n))
			total += n;
	}
	printf("# aiopoll_fuzz: seed %llu: %ld calls in %d s\n", seed, total, seconds);
	return fail;
}
