// SPDX-License-Identifier: GPL-2.0
/*
 * 4 KiB random reads on an O_DIRECT block device at a fixed queue depth, for a fixed time,
 * through one of four engines; prints one line: engine qd iops p50_us p99_us.
 *
 *   iopoll_bench ENGINE DEVICE QD SECONDS
 *   ENGINE: aiopoll-hipri | aiopoll | libaio | uring-iopoll
 *
 * Every engine does the same work: keep QD reads in flight; each round resubmits the reads
 * the previous round reaped and waits for at least one completion, with the engine's fewest
 * system calls (aiopoll: AIOPOLL_IOC_SUBMIT_WAIT; io_uring: io_uring_submit_and_wait(); fs/aio
 * has no such call: io_submit() then io_getevents()); each read is timed from its
 * preparation for submission to its reaping.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <linux/aiopoll.h>

#include "bench.h"

/* Wall time, for the run's length and the IOPS. */
double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Latencies are measured in TSC ticks: the guest's clock sources tick in jiffies under
 * software emulation, far too coarse; the ticks are converted with the rate measured over
 * the whole run.
 */
double ticks(void)
{
	return (double)__rdtsc();
}

static unsigned long long rnd_state = 88172645463325252ULL;

long long rnd_offset(long long blocks)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (long long)(rnd_state % blocks) * BS;
}

double start[MAXQD];
static double *lat;
static long nlat, maxlat;

void record(double us)
{
	if (nlat < maxlat)
		lat[nlat++] = us;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* @err: a negative errno (liburing, libaio), or 0 for errno. */
void die(const char *what, long err)
{
	fprintf(stderr, "iopoll_bench: %s: %s\n", what, strerror(err ? -err : errno));
	exit(1);
}

int main(int argc, char **argv)
{
	const char *engine, *dev;
	int qd, fd, i, profiling;
	double secs, t0, end, tick0, wall0;
	long long blocks, done = 0;
	char *buf;

	if (argc != 5) {
		fprintf(stderr, "usage: iopoll_bench ENGINE DEVICE QD SECONDS\n");
		return 2;
	}
	engine = argv[1];
	dev = argv[2];
	qd = atoi(argv[3]);
	secs = atof(argv[4]);
	if (qd < 1 || qd > MAXQD)
		return 2;
	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		die(dev, 0);
	blocks = lseek(fd, 0, SEEK_END) / BS;
	if (blocks <= 0)
		die("size", 0);
	if (posix_memalign((void **)&buf, BS, (size_t)qd * BS))
		die("memory", 0);
	maxlat = 20 * 1000 * 1000;
	lat = malloc(maxlat * sizeof(*lat));
	if (!lat)
		die("memory", 0);
	/* IOPOLL_PROFILE=1: a kernel profile of the whole guest during the run (profile.c). */
	profiling = getenv("IOPOLL_PROFILE") && !profile_start();
	wall0 = now();
	tick0 = ticks();

	if (!strncmp(engine, "aiopoll", 7)) {
		int hipri = !strcmp(engine, "aiopoll-hipri");
		struct aiopoll_setup s = { .nr_events = qd };
		struct iocb cbs[MAXQD], *list[MAXQD];
		struct io_event ev[MAXQD];
		struct aiopoll_submit_wait w = {
			.iocbpp = (unsigned long)list, .min_nr = 1, .max_nr = qd,
			.events = (unsigned long)ev,
		};
		int ctx = open(AIOPOLL_DEVICE_PATH, O_RDWR);

		if (ctx < 0 || ioctl(ctx, AIOPOLL_IOC_SETUP, &s))
			die("aiopoll", 0);
		t0 = now();
		end = t0 + secs;
		for (i = 0; i < qd; i++) {
			memset(&cbs[i], 0, sizeof(cbs[i]));
			cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
			cbs[i].aio_fildes = fd;
			cbs[i].aio_buf = (unsigned long)(buf + i * BS);
			cbs[i].aio_nbytes = BS;
			cbs[i].aio_offset = rnd_offset(blocks);
			cbs[i].aio_rw_flags = hipri ? RWF_HIPRI : 0;
			cbs[i].aio_data = i;
			list[i] = &cbs[i];
			start[i] = ticks();
		}
		w.nr = qd;
		while (now() < end) {
			/* Submit the round's reads and wait for at least one: one system call. */
			long n = ioctl(ctx, AIOPOLL_IOC_SUBMIT_WAIT, &w), k;
			double t = ticks();

			if (n < 0 || w.submitted != w.nr)
				die("submit_wait", 0);
			for (k = 0; k < n; k++) {
				int j = ev[k].data;

				if (ev[k].res != BS)
					die("read", 0);
				record(t - start[j]);
				done++;
				cbs[j].aio_offset = rnd_offset(blocks);
				list[k] = &cbs[j];
				start[j] = ticks();
			}
			w.nr = n;
		}
		end = now();
		close(ctx);	/* polls out what is in flight */
	} else if (!strcmp(engine, "libaio")) {
		t0 = now();
		end = bench_libaio(fd, qd, t0 + secs, blocks, buf, &done);
	} else if (!strcmp(engine, "uring-iopoll")) {
		struct io_uring ring;
		struct io_uring_cqe *cqe;

		int ret = io_uring_queue_init(qd, &ring, IORING_SETUP_IOPOLL);

		if (ret)
			die("io_uring_queue_init", ret);
		t0 = now();
		end = t0 + secs;
		for (i = 0; i < qd; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_read(sqe, fd, buf + i * BS, BS, rnd_offset(blocks));
			io_uring_sqe_set_data64(sqe, i);
			start[i] = ticks();
		}
		while (now() < end) {
			unsigned head, n = 0;
			double t;

			/* Submit the round's reads and wait for at least one: one system call. */
			ret = io_uring_submit_and_wait(&ring, 1);
			if (ret < 0)
				die("submit_and_wait", ret);
			t = ticks();
			io_uring_for_each_cqe(&ring, head, cqe) {
				int j = io_uring_cqe_get_data64(cqe);
				struct io_uring_sqe *sqe;

				if (cqe->res != BS)
					die("read", 0);
				record(t - start[j]);
				done++;
				n++;
				sqe = io_uring_get_sqe(&ring);
				io_uring_prep_read(sqe, fd, buf + j * BS, BS, rnd_offset(blocks));
				io_uring_sqe_set_data64(sqe, j);
				start[j] = ticks();
			}
			io_uring_cq_advance(&ring, n);
		}
		end = now();
		io_uring_queue_exit(&ring);
	} else {
		fprintf(stderr, "iopoll_bench: unknown engine %s\n", engine);
		return 2;
	}
	if (profiling) {
		char label[64];

		snprintf(label, sizeof(label), "%s-qd%d", engine, qd);
		profile_stop(label);
	}
	{
		double us_per_tick = (now() - wall0) * 1e6 / (ticks() - tick0);

		qsort(lat, nlat, sizeof(*lat), cmp);
		printf("%s %d %.0f %.2f %.2f\n", engine, qd, done / (end - t0),
		       nlat ? lat[nlat / 2] * us_per_tick : 0,
		       nlat ? lat[nlat * 99 / 100] * us_per_tick : 0);
	}
	return 0;
}
