// SPDX-License-Identifier: GPL-2.0
/*
 * poll_bench's view of the whole guest through perf_event_open(2), since the guest has no
 * perf tool: a system-wide count of context switches (every CPU, every task: kworkers
 * included), and a sampling profile of every CPU (cpu-clock, 4 kHz) resolved against
 * /proc/kallsyms, module symbols included. Both need CONFIG_PERF_EVENTS and root (or
 * perf_event_paranoid <= 0); without them the count is reported as -1 and the profile says
 * why it is missing.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "poll_bench.h"

#define MAXCPU 64
#define PROF_CHAIN 6		/* kernel frames per sample with PROF_CALLERS */
#define PROF_PAGES 1024		/* data pages per CPU: 4 MiB, about 170,000 samples */
#define PROF_PERIOD_NS 250000	/* 4 kHz */
#define TOP 30

static int ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAXCPU ? MAXCPU : n;
}

static int perf_open(struct perf_event_attr *attr, int cpu)
{
	return syscall(__NR_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static int csw_fd[MAXCPU], csw_n;

/* Starts counting context switches on every CPU; -1 when perf events are unavailable. */
int sys_csw_start(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CONTEXT_SWITCHES,
	};
	int cpu, n = ncpu();

	for (csw_n = 0, cpu = 0; cpu < n; cpu++) {
		int fd = perf_open(&attr, cpu);

		if (fd < 0) {
			while (csw_n)
				close(csw_fd[--csw_n]);
			return -1;
		}
		csw_fd[csw_n++] = fd;
	}
	return 0;
}

/* The context switches since sys_csw_start(), or -1. */
long sys_csw_stop(void)
{
	long total = csw_n ? 0 : -1;

	while (csw_n) {
		uint64_t v;

		if (read(csw_fd[--csw_n], &v, sizeof(v)) != sizeof(v))
			total = -1;
		else if (total >= 0)
			total += v;
		close(csw_fd[csw_n]);
	}
	return total;
}

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	char *data;
	size_t size;
};

static struct ring prof[MAXCPU];
static int prof_n;
static long page_size;

/* Starts sampling every CPU; -1 (and a message) when perf events are unavailable. */
int profile_start(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = PROF_PERIOD_NS,
		.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID,
		.disabled = 1,
	};
	int cpu, n = ncpu();

	if (getenv("PROF_CALLERS")) {
		/* Kernel call chains, for the callers of the ends of IRQ-off sections. */
		attr.sample_type |= PERF_SAMPLE_CALLCHAIN;
		attr.exclude_callchain_user = 1;
		attr.sample_max_stack = PROF_CHAIN;
	}
	page_size = sysconf(_SC_PAGESIZE);
	for (prof_n = 0, cpu = 0; cpu < n; cpu++) {
		struct ring *r = &prof[prof_n];
		size_t len = (PROF_PAGES + 1) * page_size;
		void *p;

		r->fd = perf_open(&attr, cpu);
		if (r->fd < 0) {
			printf("# profile: perf_event_open: %s\n", strerror(errno));
			goto fail;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		if (p == MAP_FAILED) {
			printf("# profile: mmap of the perf buffer: %s\n", strerror(errno));
			close(r->fd);
			goto fail;
		}
		r->meta = p;
		r->data = (char *)p + page_size;
		r->size = PROF_PAGES * page_size;
		prof_n++;
	}
	for (cpu = 0; cpu < prof_n; cpu++)
		if (ioctl(prof[cpu].fd, PERF_EVENT_IOC_ENABLE, 0)) {
			printf("# profile: enable: %s\n", strerror(errno));
			goto fail;
		}
	return 0;
fail:
	while (prof_n) {
		struct ring *r = &prof[--prof_n];

		munmap(r->meta, (PROF_PAGES + 1) * page_size);
		close(r->fd);
	}
	return -1;
}

struct sym {
	uint64_t addr;
	char *name;	/* "name" or "name [module]" */
	long self, other;	/* samples in this process's threads, in other tasks */
};

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct sym *load_kallsyms(long *n)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	struct sym *s = NULL;
	long cap = 0, cnt = 0;
	char line[512];

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char type, name[256], mod[128] = "";
		unsigned long long addr;
		int k = sscanf(line, "%llx %c %255s %127s", &addr, &type, name, mod);

		if (k < 3 || !addr || !strchr("tTwW", type))
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 65536;
			s = realloc(s, cap * sizeof(*s));
			if (!s)
				die("realloc", -ENOMEM);
		}
		s[cnt].addr = addr;
		s[cnt].self = s[cnt].other = 0;
		if (asprintf(&s[cnt].name, k == 4 ? "%s %s" : "%s", name, mod) < 0)
			die("asprintf", -ENOMEM);
		cnt++;
	}
	fclose(f);
	qsort(s, cnt, sizeof(*s), sym_cmp);
	*n = cnt;
	return s;
}

static struct sym *lookup(struct sym *s, long n, uint64_t ip)
{
	long lo = 0, hi = n - 1;

	if (!n || ip < s[0].addr)
		return NULL;
	while (lo < hi) {
		long mid = (lo + hi + 1) / 2;

		if (s[mid].addr <= ip)
			lo = mid;
		else
			hi = mid - 1;
	}
	return &s[lo];
}

static int by_total(const void *a, const void *b)
{
	const struct sym *x = *(struct sym *const *)a, *y = *(struct sym *const *)b;
	long tx = x->self + x->other, ty = y->self + y->other;

	return tx < ty ? 1 : tx > ty ? -1 : 0;
}

/*
 * The busy samples in buckets: user space; the ends of IRQ-disabled sections (the sampling
 * interrupt waits while interrupts are off, so the time of such a section is charged to the
 * function that turns them back on: the unlocks below, and finish_task_switch() for the
 * context switch); the modules' functions (aiopoll's) and the rust_helper_* wrappers they
 * call; the rest of the kernel.
 */
static void summary(const char *label, struct sym **top, long ntop, long kernel, long user,
		    double pc)
{
	static const char *const irqoff[] = {
		"_raw_spin_unlock_irqrestore",
		"_raw_spin_unlock_irq",
		"_raw_spin_unlock_irq_enable",
	};
	long off = 0, sw = 0, mod = 0, helper = 0, i;
	size_t k;

	for (i = 0; i < ntop; i++) {
		long t = top[i]->self + top[i]->other;

		for (k = 0; k < ARRAY_SIZE(irqoff); k++)
			if (!strcmp(top[i]->name, irqoff[k]))
				off += t;
		if (!strncmp(top[i]->name, "finish_task_switch", 18))
			sw += t;
		else if (strchr(top[i]->name, '['))
			mod += t;
		else if (!strncmp(top[i]->name, "rust_helper_", 12))
			helper += t;
	}
	printf("# profile %s: summary user %.1f%% irqoff-end %.1f%% switch %.1f%% modules %.1f%%"
	       " rust-helpers %.1f%% other-kernel %.1f%%\n", label, user * pc, off * pc, sw * pc,
	       mod * pc, helper * pc, (kernel - off - sw - mod - helper) * pc);
}

/*
 * Stops sampling and prints, as comment lines: the share of idle samples, then, of the busy
 * samples, user space and the kernel functions that took most, split into this process's
 * threads and other tasks (kworkers, softirq threads).
 */
static int is_irq_end(const char *name)
{
	return !strncmp(name, "_raw_spin_unlock_irq", 20) || !strcmp(name, "finish_task_switch");
}

/* With PROF_CALLERS: samples at the end of an IRQ-off section, by (end, first caller). */
static struct caller {
	struct sym *end, *caller;
	long n;
} callers[256];
static int ncallers;

static void count_caller(struct sym *end, struct sym *syms, long nsyms, const char *chain,
			 size_t len)
{
	uint64_t nr, ip;
	struct sym *c = NULL;
	size_t i;
	int k;

	if (len < 8)
		return;
	memcpy(&nr, chain, 8);
	for (i = 0; i < nr && 8 + 8 * (i + 1) <= len; i++) {
		memcpy(&ip, chain + 8 + 8 * i, 8);
		if (ip >= (uint64_t)-4095)	/* PERF_CONTEXT_* markers */
			continue;
		c = lookup(syms, nsyms, ip);
		if (c && c != end)
			break;
		c = NULL;
	}
	for (k = 0; k < ncallers; k++)
		if (callers[k].end == end && callers[k].caller == c)
			break;
	if (k == ncallers) {
		if (ncallers == 256)
			return;
		callers[ncallers++] = (struct caller){ end, c, 0 };
	}
	callers[k].n++;
}

static int by_n(const void *a, const void *b)
{
	const struct caller *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static void print_callers(const char *label, long busy)
{
	int k;

	qsort(callers, ncallers, sizeof(callers[0]), by_n);
	for (k = 0; k < ncallers && k < 30; k++)
		printf("# profile %s: caller %5.1f%%  %s <- %s\n", label,
		       busy ? 100.0 * callers[k].n / busy : 0, callers[k].end->name,
		       callers[k].caller ? callers[k].caller->name : "?");
	ncallers = 0;
}

void profile_stop(const char *label)
{
	long nsyms = 0, total = 0, idle = 0, user_self = 0, user_other = 0, unknown = 0, lost = 0;
	int pid = getpid(), c;
	struct sym *syms, **top;
	long i, ntop = 0;

	if (!prof_n)
		return;
	/* Stop every CPU's sampling first: reading the symbols is work of its own. */
	for (c = 0; c < prof_n; c++)
		ioctl(prof[c].fd, PERF_EVENT_IOC_DISABLE, 0);
	syms = load_kallsyms(&nsyms);
	if (!syms || !nsyms)
		printf("# profile %s: no kernel symbols (/proc/kallsyms)\n", label);
	for (c = 0; c < prof_n; c++) {
		struct ring *r = &prof[c];
		uint64_t head, tail;

		head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
		tail = r->meta->data_tail;
		while (tail < head) {
			struct perf_event_header h;
			char rec[64 + 8 * PROF_CHAIN];
			size_t k;

			for (k = 0; k < sizeof(h); k++)
				((char *)&h)[k] = r->data[(tail + k) % r->size];
			if (h.size < sizeof(h))
				break;
			for (k = 0; k < h.size && k < sizeof(rec); k++)
				rec[k] = r->data[(tail + k) % r->size];
			tail += h.size;
			if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
				uint64_t n;

				memcpy(&n, rec + sizeof(h) + 8, sizeof(n));
				lost += n;
				continue;
			}
			if (h.type != PERF_RECORD_SAMPLE || h.size < sizeof(h) + 16)
				continue;
			{
				uint64_t ip;
				uint32_t spid;
				struct sym *s;

				memcpy(&ip, rec + sizeof(h), sizeof(ip));
				memcpy(&spid, rec + sizeof(h) + 8, sizeof(spid));
				total++;
				if (spid == 0) {
					idle++;
					continue;
				}
				if (ip < 0xffff800000000000ULL) {
					if ((int)spid == pid)
						user_self++;
					else
						user_other++;
					continue;
				}
				s = lookup(syms, nsyms, ip);
				if (s && getenv("PROF_CALLERS") && is_irq_end(s->name))
					count_caller(s, syms, nsyms, rec + sizeof(h) + 16,
						     h.size - sizeof(h) - 16);
				if (!s)
					unknown++;
				else if ((int)spid == pid)
					s->self++;
				else
					s->other++;
			}
		}
		munmap(r->meta, (PROF_PAGES + 1) * page_size);
		close(r->fd);
	}
	prof_n = 0;
	{
		long busy = total - idle;
		double pc = busy ? 100.0 / busy : 0;

		printf("# profile %s: %ld samples (%ld lost), %.1f%% idle; of the busy samples:"
		       " user space %.1f%% (this process) + %.1f%% (others), kernel %.1f%%\n",
		       label, total, lost, total ? 100.0 * idle / total : 0, user_self * pc,
		       user_other * pc, (busy - user_self - user_other) * pc);
		top = calloc(nsyms + 1, sizeof(*top));
		if (!top)
			die("calloc", -ENOMEM);
		for (i = 0; i < nsyms; i++)
			if (syms[i].self + syms[i].other)
				top[ntop++] = &syms[i];
		qsort(top, ntop, sizeof(*top), by_total);
		printf("# profile %s:   total   self  other  kernel function\n", label);
		for (i = 0; i < ntop && i < TOP; i++)
			printf("# profile %s: %6.1f%% %5.1f%% %5.1f%%  %s\n", label,
			       (top[i]->self + top[i]->other) * pc, top[i]->self * pc,
			       top[i]->other * pc, top[i]->name);
		if (unknown)
			printf("# profile %s: %.1f%% in unknown kernel addresses\n", label,
			       unknown * pc);
		summary(label, top, ntop, busy - user_self - user_other, user_self + user_other,
			pc);
		print_callers(label, busy);
	}
	free(top);
	for (i = 0; i < nsyms; i++)
		free(syms[i].name);
	free(syms);
}
