// SPDX-License-Identifier: GPL-2.0
/*
 * libaio differential test: contexts used from several threads at once. Worker threads
 * write and read back their own files through their own contexts, while one thread sets
 * up, uses and destroys other contexts (and forks now and then) and another calls
 * io_submit(), io_cancel() and io_destroy() on contexts destroyed before the start
 * (-EINVAL every time). libaiopoll looks every context up in its registry without a lock:
 * none of this may lose an event, mix up two contexts, or find a destroyed one.
 *
 * The destroyed contexts' addresses are taken by PROT_NONE pages after io_destroy(), so no
 * later io_setup() can give the same address (io_context_t is the ring's address with both
 * libraries), and so a library that read such a context's ring would fault.
 *
 * Everything the transcript holds is counted by the threads and printed after they end.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"

#define WORKERS	4
#define BATCH	4		/* requests per io_submit() of a worker */
#define BLK	512
#define DEAD	4		/* contexts destroyed before the threads start */
#define CHURN	8		/* contexts at once of the churning thread, at the most */

/*
 * Rounds of the churning thread; the others go on until it is done and at least as many
 * rounds (fs/aio's io_destroy() waits for an RCU grace period: churning rounds are slow).
 */
static long rounds;
static atomic_int churn_done;
static io_context_t dead[DEAD];
static io_context_t worker_ctx[WORKERS];

struct worker {
	int id;
	io_context_t ctx;
	int fd;
	long done, good;	/* rounds, and rounds with every event and byte right */
};

/* The byte that block i of round r of worker w holds. */
static char pattern(int w, long r, int i)
{
	return (char)(w * 37 + r * 11 + i * 5 + 1);
}

/* BATCH writes (or reads) of buf's blocks, reaped; whether every event came back right. */
static int batch(io_context_t ctx, struct iocb *cbs, int fd, char (*buf)[BLK], int write)
{
	struct iocb *ptrs[BATCH];
	struct io_event ev[BATCH];
	int i, n, seen = 0;

	for (i = 0; i < BATCH; i++) {
		if (write)
			io_prep_pwrite(&cbs[i], fd, buf[i], BLK, (long long)i * BLK);
		else
			io_prep_pread(&cbs[i], fd, buf[i], BLK, (long long)i * BLK);
		cbs[i].data = (void *)(intptr_t)(i + 1);
		ptrs[i] = &cbs[i];
	}
	if (io_submit(ctx, BATCH, ptrs) != BATCH)
		return 0;
	n = io_getevents(ctx, BATCH, BATCH, ev, NULL);
	if (n != BATCH)
		return 0;
	for (i = 0; i < n; i++) {
		intptr_t d = (intptr_t)ev[i].data;

		if (d < 1 || d > BATCH || ev[i].obj != &cbs[d - 1] || ev[i].res != BLK ||
		    ev[i].res2 != 0 || (seen & (1 << d)))
			return 0;
		seen |= 1 << d;
	}
	return 1;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct timespec zero = { 0, 0 };
	struct iocb cbs[BATCH];
	char wbuf[BATCH][BLK], rbuf[BATCH][BLK];
	struct io_event ev[1];
	long r;
	int i, ok;

	for (r = 0; r < rounds || !churn_done; r++) {
		for (i = 0; i < BATCH; i++)
			memset(wbuf[i], pattern(w->id, r, i), BLK);
		memset(rbuf, 0, sizeof(rbuf));
		ok = batch(w->ctx, cbs, w->fd, wbuf, 1) && batch(w->ctx, cbs, w->fd, rbuf, 0) &&
		     !memcmp(wbuf, rbuf, sizeof(wbuf));
		/* The zero-timeout shortcut on the now empty ring. */
		ok = ok && io_getevents(w->ctx, 0, 1, ev, &zero) == 0;
		w->good += ok;
	}
	w->done = r;
	return NULL;
}

/* The counts of the churning thread. */
static long churn_setups, churn_used, churn_dead, churn_forks;

/* In a child of a fork: the parent's contexts are not the child's. */
static int child_sees_no_context(void)
{
	struct iocb cb, *ptr = &cb;
	char buf[BLK];
	int i;

	io_prep_pread(&cb, 0, buf, BLK, 0);
	for (i = 0; i < WORKERS; i++)
		if (io_submit(worker_ctx[i], 1, &ptr) != -EINVAL || io_destroy(worker_ctx[i]) != -EINVAL)
			return 1;
	return 0;
}

/*
 * Sets up 1 to CHURN contexts at a time (so that libaiopoll's registry grows and shrinks),
 * writes a block through each and reaps it, destroys them all, and checks that each is
 * gone. Only this thread sets contexts up, so a destroyed one's address cannot have been
 * reused yet when it is checked.
 */
static void *churn(void *arg)
{
	int fd = *(int *)arg;
	io_context_t ctx[CHURN];
	struct iocb cb, *ptr = &cb;
	struct io_event ev;
	static char buf[BLK];
	long r;
	pid_t pid;
	int i, n, status;

	for (r = 0; r < rounds; r++) {
		n = 1 + r % CHURN;
		for (i = 0; i < n; i++) {
			ctx[i] = NULL;
			if (io_setup(1 + i, &ctx[i]))
				break;
			churn_setups++;
			io_prep_pwrite(&cb, fd, buf, BLK, (long long)i * BLK);
			cb.data = (void *)(intptr_t)(r * CHURN + i);
			if (io_submit(ctx[i], 1, &ptr) == 1 && io_getevents(ctx[i], 1, 1, &ev, NULL) == 1 &&
			    ev.obj == &cb && ev.data == cb.data && ev.res == BLK)
				churn_used++;
		}
		n = i;
		if (r % 4 == 3) {
			fflush(stdout);
			pid = fork();
			if (pid == 0)
				_exit(child_sees_no_context());
			if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			    WEXITSTATUS(status) == 0)
				churn_forks++;
		}
		for (i = 0; i < n; i++)
			io_destroy(ctx[i]);
		for (i = 0; i < n; i++) {
			struct io_event cev;

			if (io_submit(ctx[i], 1, &ptr) == -EINVAL && io_destroy(ctx[i]) == -EINVAL &&
			    io_cancel(ctx[i], &cb, &cev) == -EINVAL)
				churn_dead++;
		}
	}
	churn_done = 1;
	return NULL;
}

/* The counts of the thread that calls on the contexts destroyed before the start. */
static long dead_calls, dead_einval;

static void *prober(void *arg)
{
	struct iocb cb, *ptr = &cb;
	struct io_event ev;
	char buf[BLK];
	long r;
	int i;

	io_prep_pread(&cb, *(int *)arg, buf, BLK, 0);
	for (r = 0; r < rounds || !churn_done; r++) {
		for (i = 0; i < DEAD; i++) {
			dead_einval += io_submit(dead[i], 1, &ptr) == -EINVAL;
			dead_einval += io_cancel(dead[i], &cb, &ev) == -EINVAL;
			dead_einval += io_destroy(dead[i]) == -EINVAL;
			dead_calls += 3;
		}
	}
	return NULL;
}

static int tmpfile_fd(void)
{
	char path[] = "/tmp/aiodiff.XXXXXX";
	int fd = mkstemp(path);

	if (fd >= 0)
		unlink(path);
	return fd;
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	struct worker w[WORKERS];
	pthread_t wt[WORKERS], ct, pt;
	char line[96];
	int i, cfd, pfd, guarded = 0;

	rounds = diff_rounds(32, 2000);
	for (i = 0; i < DEAD; i++) {
		dead[i] = NULL;
		if (io_setup(4, &dead[i]) || io_destroy(dead[i]))
			break;
		guarded += mmap(dead[i], page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				-1, 0) == (void *)dead[i];
	}
	EXPECT("contexts set up, destroyed and their addresses taken", guarded, DEAD);
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .id = i, .fd = tmpfile_fd() };
		EXPECT("io_setup(32) for a worker", io_setup(32, &w[i].ctx), 0);
		worker_ctx[i] = w[i].ctx;
	}
	cfd = tmpfile_fd();
	pfd = tmpfile_fd();
	if (guarded != DEAD || cfd < 0 || pfd < 0)
		return diff_exit() | 1;

	for (i = 0; i < WORKERS; i++)
		pthread_create(&wt[i], NULL, worker, &w[i]);
	pthread_create(&ct, NULL, churn, &cfd);
	pthread_create(&pt, NULL, prober, &pfd);
	for (i = 0; i < WORKERS; i++)
		pthread_join(wt[i], NULL);
	pthread_join(ct, NULL);
	pthread_join(pt, NULL);

	for (i = 0; i < WORKERS; i++) {
		snprintf(line, sizeof(line), "worker %d: as many rounds as the churning thread", i);
		EXPECT(line, w[i].done >= rounds, 1);
		EXPECT("  every round with every event and byte right", w[i].good == w[i].done, 1);
		EXPECT("  io_destroy", io_destroy(w[i].ctx), 0);
		EXPECT("  io_destroy again", io_destroy(w[i].ctx), -EINVAL);
	}
	EXPECT("churn: contexts set up", churn_setups,
	       rounds / CHURN * (CHURN * (CHURN + 1) / 2) + rounds % CHURN * (rounds % CHURN + 1) / 2);
	EXPECT("churn: of them, written through and reaped", churn_used, churn_setups);
	EXPECT("churn: of them, -EINVAL once destroyed", churn_dead, churn_setups);
	EXPECT("churn: forked children that saw no context", churn_forks, rounds / 4);
	EXPECT("calls on contexts destroyed before the start: as many rounds",
	       dead_calls >= rounds * DEAD * 3, 1);
	EXPECT("  every one -EINVAL", dead_einval == dead_calls, 1);
	return diff_exit();
}
