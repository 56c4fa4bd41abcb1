// SPDX-License-Identifier: GPL-2.0
/*
 * libaio differential test: io_pgetevents() swaps the signal mask for the wait. A signal
 * blocked by the thread but unblocked by the wait's mask interrupts it (-EINTR) and its
 * handler runs; one the wait's mask blocks stays pending until the wait times out; the
 * thread's own mask is the same after the call.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "diff.h"

static volatile sig_atomic_t handled;

static void handler(int sig)
{
	handled++;
}

static void *kicker(void *arg)
{
	struct timespec t = ms(300);

	nanosleep(&t, NULL);
	kill(getpid(), SIGUSR1);
	return NULL;
}

static int usr1_blocked(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	return sigismember(&cur, SIGUSR1);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = handler };
	io_context_t ctx = NULL;
	struct io_event ev;
	struct timespec t;
	sigset_t block, empty, pending;
	pthread_t th;

	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	/* Blocked in every thread (the kicker inherits it), so only the waiter can take it. */
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	EXPECT("io_setup(8)", io_setup(8, &ctx), 0);

	t = ms(50);
	EXPECT("io_pgetevents(no mask, 50 ms)", io_pgetevents(ctx, 1, 1, &ev, &t, NULL), 0);

	pthread_create(&th, NULL, kicker, NULL);
	t = ms(20000);
	EXPECT("io_pgetevents(empty mask) interrupted", io_pgetevents(ctx, 1, 1, &ev, &t, &empty),
	       -EINTR);
	pthread_join(th, NULL);
	EXPECT("handler ran", handled, 1);
	EXPECT("SIGUSR1 blocked again after the call", usr1_blocked(), 1);

	pthread_create(&th, NULL, kicker, NULL);
	t = ms(1000);
	EXPECT("io_pgetevents(mask blocks SIGUSR1) times out",
	       io_pgetevents(ctx, 1, 1, &ev, &t, &block), 0);
	pthread_join(th, NULL);
	sigpending(&pending);
	EXPECT("SIGUSR1 pending", sigismember(&pending, SIGUSR1), 1);
	EXPECT("handler not run", handled, 1);
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	EXPECT("handler ran once unblocked", handled, 2);

	t = ms(0);
	EXPECT("io_pgetevents(zero timeout, empty ring)", io_pgetevents(ctx, 1, 1, &ev, &t, &empty),
	       0);
	EXPECT("io_destroy", io_destroy(ctx), 0);
	return diff_exit();
}
