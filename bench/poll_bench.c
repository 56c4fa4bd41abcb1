// SPDX-License-Identifier: GPL-2.0
/*
 * poll_bench: readiness polling through aiopoll, fs/aio, io_uring and epoll, on the same
 * work for each (Documentation/performance.rst, "Readiness polling").
 *
 *   poll_bench [-b BATCH] [-P] tput SYSTEM N EVENTS   throughput with N pipes armed
 *   poll_bench [-P] lat SYSTEM ROUNDS                 ping-pong round trips of two threads
 *   poll_bench [-P] lat1 SYSTEM ROUNDS                the same, both threads on one CPU
 *   poll_bench [-P] cancel SYSTEM OPS                 arm and cancel one poll, OPS times
 *   poll_bench mem SYSTEM N                           slab growth for N armed polls
 *   poll_bench [options] all                          everything, RUNS times, interleaved
 *   poll_bench list                                   the systems
 *
 * Options of "all": -r RUNS (5), -e EVENTS (100000), -n N,N,... (1,64,1024,5000), -b BATCH
 * (32), -l ROUNDS (EVENTS / 5), -c OPS (EVENTS / 2), -m N of the memory test (largest N),
 * -s SYSTEM,SYSTEM,... (all). -P adds a kernel profile of each measurement (profile.c).
 *
 * Every measurement runs in a child process of its own (fresh fd table and contexts) and
 * prints one line (the first word names the test):
 *
 *   tput SYSTEM N EVENTS ev/s syscalls/ev vcsw/ev ivcsw/ev syswide-csw/ev
 *   lat SYSTEM ROUNDS p50_us p99_us syscalls/rt vcsw/rt ivcsw/rt syswide-csw/rt
 *   lat1 ... (as lat)
 *   cancel SYSTEM OPS ops/s syscalls/op vcsw/op ivcsw/op syswide-csw/op
 *   mem SYSTEM N slab_bytes/poll used_bytes/poll
 *
 * and comment lines starting with '#'. Rates and latencies are timed with the TSC (see
 * sec_per_tick()). vcsw and ivcsw are this process's voluntary and involuntary context
 * switches (getrusage(2)); syswide-csw counts every CPU's switches (perf, -1 without it).
 * Exit status 0 when every measurement succeeded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "poll_bench.h"

static const struct engine *const engines[] = {
	&aiopoll_wait_engine, &aiopoll_ring_engine, &aiopoll_multi_engine, &fsaio_engine,
	&uring_engine, &uring_multi_engine, &epoll_lt_engine, &epoll_et_engine,
};
#define NENGINES ((int)ARRAY_SIZE(engines))

_Thread_local long nsys;

void die(const char *what, long err)
{
	fprintf(stderr, "poll_bench: %s: %s\n", what, strerror(err ? -err : errno));
	exit(1);
}

/*
 * Link-time wrappers (-Wl,--wrap=ioctl,--wrap=syscall): every ioctl() of libaiopoll and
 * every syscall() of libaio (and of profile.c, outside the measured windows) is counted.
 */
int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);
long __real_syscall(long nr, ...);
long __wrap_syscall(long nr, long a, long b, long c, long d, long e, long f);

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	nsys++;
	return __real_ioctl(fd, req, arg);
}

long __wrap_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
	nsys++;
	return __real_syscall(nr, a, b, c, d, e, f);
}

long xread(int fd, void *buf, unsigned long len)
{
	nsys++;
	return read(fd, buf, len);
}

long xwrite(int fd, const void *buf, unsigned long len)
{
	nsys++;
	return write(fd, buf, len);
}

static const struct engine *engine_by_name(const char *name)
{
	int i;

	for (i = 0; i < NENGINES; i++)
		if (!strcmp(engines[i]->name, name))
			return engines[i];
	fprintf(stderr, "poll_bench: unknown system %s (poll_bench list)\n", name);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Every interval is measured with the TSC and converted with its rate against the wall clock
 * since the program started (inherited by the children), over at least CALIBRATION_S: the
 * guest's clock source may tick in jiffies (the performance kernel under TCG cannot
 * calibrate its TSC and falls back to refined-jiffies, 4 ms), far too coarse for windows of
 * a few milliseconds, while the TSC of a TCG guest runs at the host's constant rate.
 */
#define CALIBRATION_S 2.0
static unsigned long long tsc_origin;
static double wall_origin;

static double sec_per_tick(void)
{
	double left = CALIBRATION_S - (now() - wall_origin);
	unsigned long long t;
	double w;

	if (left > 0) {
		struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) + 1 };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	w = now();
	t = __rdtsc();
	return (w - wall_origin) / (double)(t - tsc_origin);
}

/* A fixed xorshift sequence: every system gets the same random subsets. */
static unsigned long long rnd_state = 88172645463325252ULL;

static unsigned long long rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* n pipes, both ends non-blocking; RLIMIT_NOFILE is raised to hold them. */
static void make_pipes(int n, int **rd, int **wr)
{
	rlim_t need = 2 * (rlim_t)n + 64;
	struct rlimit rl;
	int i;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit", 0);
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max < need)
			rl.rlim_max = need;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("setrlimit RLIMIT_NOFILE", 0);
	}
	*rd = calloc(n, sizeof(int));
	*wr = calloc(n, sizeof(int));
	if (!*rd || !*wr)
		die("calloc", -ENOMEM);
	for (i = 0; i < n; i++) {
		int p[2];

		if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
			die("pipe2", 0);
		(*rd)[i] = p[0];
		(*wr)[i] = p[1];
	}
}

/* What a measured window costs: system calls, context switches, time. */
struct window {
	unsigned long long t0, t1;	/* TSC */
	double secs;
	long nsys, vcsw, ivcsw, syswide;
	struct rusage ru;
	int profiling;
};

static int profile;	/* -P */

static void window_start(struct window *w)
{
	w->profiling = profile && !profile_start();
	sys_csw_start();
	if (getrusage(RUSAGE_SELF, &w->ru))
		die("getrusage", 0);
	nsys = 0;
	w->t0 = __rdtsc();
}

/* other_nsys: system calls of the other threads, which they counted themselves. */
static void window_stop(struct window *w, long other_nsys, const char *label)
{
	struct rusage ru;

	w->t1 = __rdtsc();
	w->nsys = nsys + other_nsys;
	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage", 0);
	w->syswide = sys_csw_stop();
	w->vcsw = ru.ru_nvcsw - w->ru.ru_nvcsw;
	w->ivcsw = ru.ru_nivcsw - w->ru.ru_nivcsw;
	if (w->profiling)
		profile_stop(label);
	w->secs = (w->t1 - w->t0) * sec_per_tick();
}

/* "syscalls vcsw ivcsw syswide" per unit of work. */
static void print_costs(const struct window *w, long units)
{
	printf(" %.3f %.4f %.4f %.4f\n", (double)w->nsys / units, (double)w->vcsw / units,
	       (double)w->ivcsw / units, w->syswide < 0 ? -1.0 : (double)w->syswide / units);
}

struct tput {
	const struct engine *e;
	void *ctx;
	int *rd, *wr, *perm, *ready, n, batch;
	char *pending;
};

/*
 * The event loop, the same for every system: write one byte to `batch` distinct random
 * pipes, then reap events until each of them was reported, reading its byte as soon as it
 * is, then re-arm them all at once (one-shot systems). Returns the events handled.
 */
static long tput_rounds(struct tput *t, long events)
{
	const struct engine *e = t->e;
	long done = 0;
	char buf[16];
	int i;

	while (done < events) {
		int k = t->batch, got = 0;

		for (i = 0; i < k; i++) {
			int j = i + rnd() % (t->n - i), p = t->perm[j];

			t->perm[j] = t->perm[i];
			t->perm[i] = p;
			t->pending[p] = 1;
			if (xwrite(t->wr[p], "x", 1) != 1)
				die("write", 0);
		}
		while (got < k) {
			int m = e->wait(t->ctx, t->ready + got, k - got);

			for (i = got; i < got + m; i++) {
				int p = t->ready[i];

				if (!t->pending[p])
					die("event of a pipe nobody wrote to", -EPROTO);
				t->pending[p] = 0;
				if (xread(t->rd[p], buf, sizeof(buf)) != 1)
					die("read", 0);
			}
			got += m;
		}
		if (e->oneshot)
			e->arm(t->ctx, t->ready, k);
		done += k;
	}
	return done;
}

static void run_tput(const struct engine *e, int n, long events, int batch)
{
	struct tput t = { .e = e, .n = n, .batch = batch < n ? batch : n };
	struct window w;
	char label[64];
	long done;
	int i;

	make_pipes(n, &t.rd, &t.wr);
	t.perm = calloc(n, sizeof(int));
	t.ready = calloc(n, sizeof(int));
	t.pending = calloc(n, 1);
	if (!t.perm || !t.ready || !t.pending)
		die("calloc", -ENOMEM);
	for (i = 0; i < n; i++)
		t.perm[i] = i;
	t.ctx = e->create(t.rd, n);
	e->arm(t.ctx, t.perm, n);
	tput_rounds(&t, events / 10 + 1);	/* warm-up */
	snprintf(label, sizeof(label), "tput %s %d", e->name, n);
	window_start(&w);
	done = tput_rounds(&t, events);
	window_stop(&w, 0, label);
	printf("tput %s %d %ld %.0f", e->name, n, done, done / w.secs);
	print_costs(&w, done);
	e->destroy(t.ctx);
}

struct side {
	const struct engine *e;
	int rfd, wfd;
	long rounds, warm, nsys;
	double *rtt;	/* the pinging side's round trips, in TSC ticks */
	pthread_barrier_t *ready, *go;
};

/*
 * One side of the ping-pong: wait for the byte, read it, re-arm (one-shot), write the
 * reply. Every poll is armed before its byte is written, so each round trip is two
 * wake-ups through the system. The pinging side times from its write to its read.
 */
static void *pingpong(void *arg)
{
	struct side *s = arg;
	const struct engine *e = s->e;
	void *ctx = e->create(&s->rfd, 1);
	int zero = 0, ping = s->rtt != NULL;
	long r, total = s->warm + s->rounds;
	char buf[16];

	e->arm(ctx, &zero, 1);
	pthread_barrier_wait(s->ready);
	pthread_barrier_wait(s->go);
	nsys = 0;
	for (r = 0; r < total; r++) {
		unsigned long long t0 = __rdtsc();
		int i;

		if (ping && xwrite(s->wfd, "p", 1) != 1)
			die("write", 0);
		while (e->wait(ctx, &i, 1) < 1)
			;
		if (xread(s->rfd, buf, sizeof(buf)) != 1)
			die("read", 0);
		if (ping && r >= s->warm)
			s->rtt[r - s->warm] = __rdtsc() - t0;
		if (e->oneshot)
			e->arm(ctx, &zero, 1);
		if (!ping && xwrite(s->wfd, "q", 1) != 1)
			die("write", 0);
	}
	s->nsys = nsys;
	e->destroy(ctx);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * pin: both threads on the CPU this one runs on (the "lat1" test), so that the round trip is
 * two wake-ups and context switches on one CPU, without the cross-CPU wake-ups (IPIs) that
 * dominate under emulation; otherwise ("lat") the scheduler places them.
 */
static void run_lat(const struct engine *e, long rounds, int pin)
{
	struct side ping = { .e = e }, pong = { .e = e };
	pthread_barrier_t ready, go;
	const char *test = pin ? "lat1" : "lat";
	pthread_attr_t attr;
	pthread_t th[2];
	struct window w;
	char label[64];
	int *rd, *wr, ret, i;

	make_pipes(2, &rd, &wr);
	ping.rfd = rd[1];
	ping.wfd = wr[0];
	pong.rfd = rd[0];
	pong.wfd = wr[1];
	ping.rounds = pong.rounds = rounds;
	ping.warm = pong.warm = rounds / 10 + 1;
	ping.rtt = calloc(rounds, sizeof(double));
	if (!ping.rtt)
		die("calloc", -ENOMEM);
	if (pthread_barrier_init(&ready, NULL, 3) || pthread_barrier_init(&go, NULL, 3))
		die("pthread_barrier_init", -EAGAIN);
	ping.ready = pong.ready = &ready;
	ping.go = pong.go = &go;
	ret = pthread_attr_init(&attr);
	if (!ret && pin) {
		int cpu = sched_getcpu();
		cpu_set_t set;

		if (cpu < 0)
			die("sched_getcpu", 0);
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		ret = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (!ret)
		ret = pthread_create(&th[0], &attr, pingpong, &pong);
	if (!ret)
		ret = pthread_create(&th[1], &attr, pingpong, &ping);
	if (ret)
		die("pthread_create", -ret);
	pthread_attr_destroy(&attr);
	/* Both sides have their context and their poll armed: the window frames the rest. */
	pthread_barrier_wait(&ready);
	snprintf(label, sizeof(label), "%s %s", test, e->name);
	window_start(&w);
	pthread_barrier_wait(&go);
	for (i = 0; i < 2; i++) {
		ret = pthread_join(th[i], NULL);
		if (ret)
			die("pthread_join", -ret);
	}
	window_stop(&w, ping.nsys + pong.nsys, label);
	qsort(ping.rtt, rounds, sizeof(double), cmp_double);
	printf("%s %s %ld %.2f %.2f", test, e->name, rounds,
	       ping.rtt[rounds / 2] * sec_per_tick() * 1e6,
	       ping.rtt[rounds * 99 / 100] * sec_per_tick() * 1e6);
	/* The warm-up is inside the window too: costs are per round trip of all of them. */
	print_costs(&w, rounds + ping.warm);
	printf("# %s %s: %ld round trips in %.3f s\n", test, e->name, rounds + ping.warm, w.secs);
}

static void run_cancel(const struct engine *e, long ops)
{
	struct window w;
	char label[64];
	int *rd, *wr;
	void *ctx;

	if (!e->cancel) {
		fprintf(stderr, "poll_bench: %s has no cancel test\n", e->name);
		exit(2);
	}
	make_pipes(1, &rd, &wr);
	ctx = e->create(rd, 1);
	e->cancel(ctx, 0, ops / 10 + 1);	/* warm-up */
	snprintf(label, sizeof(label), "cancel %s", e->name);
	window_start(&w);
	e->cancel(ctx, 0, ops);
	window_stop(&w, 0, label);
	printf("cancel %s %ld %.0f", e->name, ops, ops / w.secs);
	print_costs(&w, ops);
	e->destroy(ctx);
}

/*
 * Slab and used memory (MemTotal - MemFree), in kB, from /proc/meminfo. The counters behind
 * it are per CPU and folded into the global ones lazily (every second, or past a threshold):
 * /proc/sys/vm/stat_refresh folds them now (root only); failing that, wait for the fold.
 */
static void meminfo(long *slab, long *used)
{
	long total = -1, free_kb = -1, v;
	char line[128], key[64];
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	FILE *f;

	if (fd < 0 || write(fd, "1", 1) != 1)
		sleep(2);
	if (fd >= 0)
		close(fd);
	*slab = -1;
	f = fopen("/proc/meminfo", "r");
	if (!f)
		die("/proc/meminfo", 0);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld", key, &v) != 2)
			continue;
		if (!strcmp(key, "Slab:"))
			*slab = v;
		else if (!strcmp(key, "MemTotal:"))
			total = v;
		else if (!strcmp(key, "MemFree:"))
			free_kb = v;
	}
	fclose(f);
	if (*slab < 0 || total < 0 || free_kb < 0)
		die("/proc/meminfo: no Slab, MemTotal or MemFree", -EPROTO);
	*used = total - free_kb;
}

#define MAXCACHES 1024
struct cache {
	char name[64];
	long objs, size;
};

/* /proc/slabinfo (CONFIG_SLUB_DEBUG): active objects per cache; -1 if absent. */
static int slabinfo(struct cache *c)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (n < MAXCACHES && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %*d %ld", c[n].name, &c[n].objs, &c[n].size) == 3)
			n++;
	fclose(f);
	return n;
}

/* Returns the free slabs of every cache to the page allocator (SLUB's sysfs "shrink"). */
static void shrink_slabs(void)
{
	char path[512];
	struct dirent *d;
	DIR *dir = opendir("/sys/kernel/slab");

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		int fd;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", d->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Aliases of a merged cache shrink it again: a failed write changes nothing. */
		if (write(fd, "1", 1) != 1)
			errno = 0;
		close(fd);
	}
	closedir(dir);
}

/*
 * Waits until the previous measurement's teardown is over (RCU-deferred frees, io_uring's
 * exit work: Slab stops shrinking, 16 kB or less in a tenth of a second, for at most 5 s),
 * shrinking every cache, so that the polls armed next take new slabs instead of the free
 * objects left behind and nothing is freed while they are armed.
 */
static void settle_slabs(void)
{
	struct timespec tenth = { 0, 100000000 };
	long slab, prev, used;
	int i;

	shrink_slabs();
	meminfo(&prev, &used);
	for (i = 0; i < 50; i++) {
		struct timespec ts = tenth;

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		shrink_slabs();
		meminfo(&slab, &used);
		if (labs(slab - prev) <= 16)
			break;
		prev = slab;
	}
}

/*
 * Memory per armed poll: the context and the pipes exist before the first reading, so the
 * difference is what arming costs, divided by the polls armed.
 */
static void run_mem(const struct engine *e, int n)
{
	static struct cache before[MAXCACHES], after[MAXCACHES];
	long slab0, used0, slab1, used1;
	int *rd, *wr, *idx, i, j, nb, na;
	void *ctx;

	make_pipes(n, &rd, &wr);
	idx = calloc(n, sizeof(int));
	if (!idx)
		die("calloc", -ENOMEM);
	for (i = 0; i < n; i++)
		idx[i] = i;
	ctx = e->create(rd, n);
	/* Settling takes seconds (most of it in a debug kernel): only for a real measurement. */
	if (n >= 1000)
		settle_slabs();
	nb = slabinfo(before);
	meminfo(&slab0, &used0);
	e->arm(ctx, idx, n);
	meminfo(&slab1, &used1);
	na = slabinfo(after);
	printf("mem %s %d %.0f %.0f\n", e->name, n, (slab1 - slab0) * 1024.0 / n,
	       (used1 - used0) * 1024.0 / n);
	/* With slabinfo: the caches that grew by at least half an object per poll. */
	for (i = 0; nb > 0 && i < na; i++)
		for (j = 0; j < nb; j++)
			if (!strcmp(after[i].name, before[j].name) &&
			    after[i].objs - before[j].objs >= n / 2)
				printf("# mem %s %d: slabinfo %s +%ld objects of %ld bytes\n",
				       e->name, n, after[i].name, after[i].objs - before[j].objs,
				       after[i].size);
	e->destroy(ctx);
}

/* Runs one measurement in a child process; returns 0 when it succeeded. */
static int child(const char *test, void (*fn)(const struct engine *, long, long),
		 const struct engine *e, long a, long b)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork", 0);
	if (!pid) {
		fn(e, a, b);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid", 0);
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	printf("# FAILED: %s %s %ld (status %#x)\n", test, e->name, a, status);
	return 1;
}

static int batch = 32;

static void do_tput(const struct engine *e, long n, long events)
{
	run_tput(e, n, events, batch);
}

static void do_lat(const struct engine *e, long rounds, long pin)
{
	run_lat(e, rounds, pin);
}

static void do_cancel(const struct engine *e, long ops, long unused)
{
	run_cancel(e, ops);
}

static void do_mem(const struct engine *e, long n, long unused)
{
	run_mem(e, n);
}

static int parse_list(const char *s, long *v, int max)
{
	int n = 0;

	while (*s && n < max) {
		char *end;

		v[n++] = strtol(s, &end, 10);
		if (end == s || (*end && *end != ','))
			return -1;
		s = *end ? end + 1 : end;
	}
	return n;
}

static void header(void)
{
	struct utsname u;
	char cs[64] = "?";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	if (f) {
		if (!fgets(cs, sizeof(cs), f))
			strcpy(cs, "?");
		cs[strcspn(cs, "\n")] = 0;
		fclose(f);
	}
	if (uname(&u))
		die("uname", 0);
	printf("# poll_bench: kernel %s, %ld CPUs, clocksource %s, memory from /proc/meminfo Slab%s\n",
	       u.release, sysconf(_SC_NPROCESSORS_ONLN), cs,
	       access("/proc/slabinfo", R_OK) ? " (no /proc/slabinfo: CONFIG_SLUB_DEBUG is off)" :
						  " and /proc/slabinfo");
}

static int run_all(int runs, long events, long *ns, int nn, long rounds, long ops, long memn,
		   const struct engine **sys, int nsysl)
{
	int run, i, k, fails = 0;

	header();
	printf("# runs %d, events %ld, batch %d, N %ld..%ld, round trips %ld, cancels %ld, memory N %ld\n",
	       runs, events, batch, ns[0], ns[nn - 1], rounds, ops, memn);
	for (run = 0; run < runs; run++) {
		printf("# run %d\n", run + 1);
		/*
		 * Each test in turn, every system once; each run starts with another system, so
		 * that no system always goes first.
		 */
		for (i = 0; i < nsysl; i++)
			fails += child("mem", do_mem, sys[(i + run) % nsysl], memn, 0);
		for (k = 0; k < nn; k++)
			for (i = 0; i < nsysl; i++) {
				const struct engine *e = sys[(i + run) % nsysl];

				fails += child("tput", do_tput, e, ns[k], events);
			}
		for (i = 0; i < nsysl; i++)
			fails += child("lat", do_lat, sys[(i + run) % nsysl], rounds, 0);
		for (i = 0; i < nsysl; i++)
			fails += child("lat1", do_lat, sys[(i + run) % nsysl], rounds, 1);
		for (i = 0; i < nsysl; i++) {
			const struct engine *e = sys[(i + run) % nsysl];

			if (e->cancel)
				fails += child("cancel", do_cancel, e, ops, 0);
		}
	}
	printf("# done: %d failed\n", fails);
	return fails ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: poll_bench [-b BATCH] [-P] tput SYSTEM N EVENTS | lat SYSTEM ROUNDS |\n"
		"       lat1 SYSTEM ROUNDS | cancel SYSTEM OPS | mem SYSTEM N | list\n"
		"       poll_bench [-r RUNS] [-e EVENTS] [-n N,...] [-b BATCH] [-l ROUNDS]\n"
		"                  [-c OPS] [-m N] [-s SYSTEM,...] [-P] all\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long events = 100000, rounds = -1, ops = -1, memn = -1, ns[16] = { 1, 64, 1024, 5000 };
	const struct engine *sys[NENGINES];
	int runs = 5, nn = 4, nsysl = 0, opt, i;
	const char *mode;

	wall_origin = now();
	tsc_origin = __rdtsc();
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "+r:e:n:b:l:c:m:s:P")) != -1) {
		switch (opt) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'e':
			events = atol(optarg);
			break;
		case 'n':
			nn = parse_list(optarg, ns, 16);
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		case 'l':
			rounds = atol(optarg);
			break;
		case 'c':
			ops = atol(optarg);
			break;
		case 'm':
			memn = atol(optarg);
			break;
		case 's': {
			char *list = strdup(optarg), *save = NULL, *name;

			for (name = strtok_r(list, ",", &save); name && nsysl < NENGINES;
			     name = strtok_r(NULL, ",", &save))
				sys[nsysl++] = engine_by_name(name);
			break;
		}
		case 'P':
			profile = 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc || runs < 1 || events < 1 || nn < 1 || batch < 1)
		usage();
	if (batch > MAXBATCH)
		batch = MAXBATCH;
	for (i = 0; i < nn; i++)
		if (ns[i] < 1 || ns[i] > 1000000)
			usage();
	mode = argv[optind++];
	if (!strcmp(mode, "list")) {
		for (i = 0; i < NENGINES; i++)
			printf("%s%s\n", engines[i]->name,
			       engines[i]->cancel ? "" : " (no cancel test)");
		return 0;
	}
	if (!strcmp(mode, "all")) {
		if (!nsysl)
			for (; nsysl < NENGINES; nsysl++)
				sys[nsysl] = engines[nsysl];
		if (rounds < 0)
			rounds = events / 5 + 1;
		if (ops < 0)
			ops = events / 2 + 1;
		if (memn < 0)
			for (memn = 1, i = 0; i < nn; i++)
				memn = ns[i] > memn ? ns[i] : memn;
		return run_all(runs, events, ns, nn, rounds, ops, memn, sys, nsysl);
	}
	if (!strcmp(mode, "tput") && argc - optind == 3) {
		long n = atol(argv[optind + 1]), ev = atol(argv[optind + 2]);

		if (n < 1 || ev < 1)
			usage();
		run_tput(engine_by_name(argv[optind]), n, ev, batch);
	} else if ((!strcmp(mode, "lat") || !strcmp(mode, "lat1")) && argc - optind == 2 &&
		   atol(argv[optind + 1]) > 0) {
		run_lat(engine_by_name(argv[optind]), atol(argv[optind + 1]), !strcmp(mode, "lat1"));
	} else if (!strcmp(mode, "cancel") && argc - optind == 2 && atol(argv[optind + 1]) > 0) {
		run_cancel(engine_by_name(argv[optind]), atol(argv[optind + 1]));
	} else if (!strcmp(mode, "mem") && argc - optind == 2 && atol(argv[optind + 1]) > 0) {
		run_mem(engine_by_name(argv[optind]), atol(argv[optind + 1]));
	} else {
		usage();
	}
	return 0;
}
