// SPDX-License-Identifier: GPL-2.0
/* The fs/aio engine of iopoll_bench, through libaio. */
#include <libaio.h>

#include "bench.h"

double bench_libaio(int fd, int qd, double deadline, long long blocks, char *buf,
		    long long *done)
{
	struct iocb cbs[MAXQD], *list[MAXQD];
	struct io_event ev[MAXQD];
	io_context_t ctx = 0;
	double end;

	int i, ret = io_setup(qd, &ctx);

	if (ret)
		die("io_setup", ret);
	for (i = 0; i < qd; i++) {
		io_prep_pread(&cbs[i], fd, buf + i * BS, BS, rnd_offset(blocks));
		cbs[i].data = (void *)(long)i;
		list[i] = &cbs[i];
		start[i] = ticks();
	}
	if (io_submit(ctx, qd, list) != qd)
		die("io_submit", 0);
	while (now() < deadline) {
		int n = io_getevents(ctx, 1, qd, ev, NULL), k;
		double t = ticks();

		if (n < 0)
			die("io_getevents", n);
		/* The round's reads again, in one submission (fs/aio has no submit-and-wait). */
		for (k = 0; k < n; k++) {
			int j = (long)ev[k].data;

			if (ev[k].res != BS)
				die("read", 0);
			record(t - start[j]);
			(*done)++;
			io_prep_pread(&cbs[j], fd, buf + j * BS, BS, rnd_offset(blocks));
			cbs[j].data = (void *)(long)j;
			list[k] = &cbs[j];
			start[j] = ticks();
		}
		if (n && io_submit(ctx, n, list) != n)
			die("io_submit", 0);
	}
	end = now();
	io_destroy(ctx);
	return end;
}
