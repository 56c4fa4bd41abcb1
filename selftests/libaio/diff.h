/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the libaio differential tests. Each test program uses only the libaio API and
 * prints a transcript of what it did and what came back (return values, errnos, event
 * fields, data checks), never addresses or times. The same source is built against
 * libaio (run on fs/aio) and against libaiopoll (run on aiopoll), and the transcripts must
 * be identical; each program also checks the outcomes it knows and exits 1 on a mismatch.
 */
#ifndef AIOPOLL_DIFF_H
#define AIOPOLL_DIFF_H

#include <errno.h>
#include <libaio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* In libaio.so.1 but, as in libaio's own header, without a prototype in <libaio.h>. */
int io_queue_wait(io_context_t ctx, struct timespec *timeout);

static int diff_failed;

/* One transcript line. */
static inline void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* A call's result against the expected one: both go into the transcript. */
#define EXPECT(what, got, want)							\
	do {									\
		long __g = (long)(got), __w = (long)(want);			\
		say("%s = %ld%s", what, __g, __g == __w ? "" : " (UNEXPECTED)");	\
		if (__g != __w)							\
			diff_failed = 1;					\
	} while (0)

/* Sorts events by their data field, so that completion order does not matter. */
static inline int ev_cmp(const void *a, const void *b)
{
	const struct io_event *x = a, *y = b;

	return (x->data > y->data) - (x->data < y->data);
}

/* Round counts: quick under emulation, the full count with AIOPOLL_STRESS=full. */
static inline long diff_rounds(long quick, long full)
{
	const char *s = getenv("AIOPOLL_STRESS");

	return s && !strcmp(s, "full") ? full : quick;
}

static inline struct timespec ms(long n)
{
	struct timespec t = { n / 1000, (n % 1000) * 1000000L };

	return t;
}

static inline int diff_exit(void)
{
	say("result: %s", diff_failed ? "FAILED" : "all expectations met");
	return diff_failed;
}

#endif
