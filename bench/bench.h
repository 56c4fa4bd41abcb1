/* SPDX-License-Identifier: GPL-2.0 */
/* Shared pieces of iopoll_bench (libaio.h and <linux/aio_abi.h> cannot meet in one file). */
#ifndef AIOPOLL_BENCH_H
#define AIOPOLL_BENCH_H

#define BS 4096
#define MAXQD 256

extern double start[MAXQD];
double now(void);
double ticks(void);
long long rnd_offset(long long blocks);
void record(double ticks);
void die(const char *what, long err) __attribute__((noreturn));

/* The kernel profile of profile.c (shared with poll_bench). */
int profile_start(void);
void profile_stop(const char *label);

/* The fs/aio engine, through libaio: runs until `deadline`, returns the end time. */
double bench_libaio(int fd, int qd, double deadline, long long blocks, char *buf,
		    long long *done);

#endif
