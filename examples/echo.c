// SPDX-License-Identifier: GPL-2.0
/*
 * aiopoll-echo: a TCP echo server on loopback driven by aiopoll, with its own clients.
 *
 * The server is one event loop over one aiopoll context (libaiopoll's libaio API):
 * the listening socket has a multishot IOCB_CMD_POLL; each connection cycles through a
 * one-shot POLLIN poll, an IOCB_CMD_PREAD of what arrived and an IOCB_CMD_PWRITE of it back,
 * all completions reaped from the mmap'ed ring (aiopoll_getevents: no system call while
 * events are there), and the requests a batch of events calls for submitted by one
 * io_submit(). --epoll runs the same loop on epoll with read(2)/write(2) instead.
 *
 * The clients are threads: each connects, sends --messages messages of --size bytes one
 * at a time, checks that every echo comes back byte for byte, and closes.
 *
 *   aiopoll-echo [--clients N] [--messages M] [--size S] [--epoll]
 *
 * Prints one line: "<loop>: served R requests (B bytes) for N clients in T s, E errors".
 * Exit status 0 when every client got all its echoes and nothing failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libaiopoll.h>

#define BUFSZ 4096

static int nclients = 200, nmessages = 20, msgsize = 64;
static struct sockaddr_in addr;
static atomic_int clients_done, client_errors;
static atomic_long messages_ok;

/* One client: send a message, read the whole echo back, compare; nmessages times. */
static void *client(void *arg)
{
	long id = (long)arg;
	char *out = malloc(msgsize), *in = malloc(msgsize);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, m;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto fail;
	for (m = 0; m < nmessages; m++) {
		int i, got = 0;

		for (i = 0; i < msgsize; i++)
			out[i] = (char)(id * 31 + m * 7 + i);
		if (send(fd, out, msgsize, 0) != msgsize)
			goto fail;
		while (got < msgsize) {
			ssize_t r = recv(fd, in + got, msgsize - got, 0);

			if (r <= 0)
				goto fail;
			got += r;
		}
		if (memcmp(in, out, msgsize))
			goto fail;
		messages_ok++;
	}
	goto out;
fail:
	client_errors++;
out:
	close(fd);
	free(out);
	free(in);
	clients_done++;
	return NULL;
}

/* What the server counts. */
static long served, bytes, errors;

struct conn {
	int fd;
	struct iocb iocb;	/* the one request in flight: poll, read or write */
	char buf[BUFSZ];
	size_t len, off;	/* bytes to echo, bytes echoed */
};

static int listen_socket(void)
{
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(fd, 1024) || getsockname(fd, (struct sockaddr *)&addr, &len)) {
		perror("listen socket");
		exit(2);
	}
	return fd;
}

/*
 * Requests prepared while handling a batch of events, submitted together by one io_submit()
 * at the end of the batch (each connection has at most one request in flight).
 */
static struct iocb **queued;
static long nqueued;

static void submit1(io_context_t ctx, struct iocb *iocb)
{
	queued[nqueued++] = iocb;
}

static void conn_close(struct conn *c);

static void submit_queued(io_context_t ctx)
{
	long done = 0;

	while (done < nqueued) {
		int ret = io_submit(ctx, nqueued - done, queued + done);

		if (ret > 0) {
			done += ret;
			continue;
		}
		/* This one cannot be submitted: count it, drop its connection, go on. */
		fprintf(stderr, "io_submit: %s\n", strerror(-ret));
		errors++;
		if (queued[done]->data)
			conn_close(queued[done]->data);
		done++;
	}
	nqueued = 0;
}

static void conn_poll(io_context_t ctx, struct conn *c, int events)
{
	io_prep_poll(&c->iocb, c->fd, events);
	c->iocb.data = c;
	submit1(ctx, &c->iocb);
}

static void conn_write(io_context_t ctx, struct conn *c)
{
	io_prep_pwrite(&c->iocb, c->fd, c->buf + c->off, c->len - c->off, 0);
	c->iocb.data = c;
	submit1(ctx, &c->iocb);
}

static long conns_open;

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c);
	conns_open--;
}

/* A completion of a connection's request. */
static void conn_event(io_context_t ctx, struct conn *c, long res)
{
	switch (c->iocb.aio_lio_opcode) {
	case IO_CMD_POLL:
		if (res & POLLOUT) {	/* waiting to finish a write */
			conn_write(ctx, c);
			break;
		}
		io_prep_pread(&c->iocb, c->fd, c->buf, BUFSZ, 0);
		c->iocb.data = c;
		submit1(ctx, &c->iocb);
		break;
	case IO_CMD_PREAD:
		if (res == -EAGAIN) {
			conn_poll(ctx, c, POLLIN);
		} else if (res <= 0) {	/* 0: the client is done */
			if (res < 0)
				errors++;
			conn_close(c);
		} else {
			c->len = res;
			c->off = 0;
			served++;
			conn_write(ctx, c);
		}
		break;
	case IO_CMD_PWRITE:
		if (res == -EAGAIN) {
			conn_poll(ctx, c, POLLOUT);
		} else if (res < 0) {
			errors++;
			conn_close(c);
		} else {
			bytes += res;
			c->off += res;
			if (c->off < c->len)
				conn_write(ctx, c);
			else
				conn_poll(ctx, c, POLLIN);
		}
		break;
	}
}

static struct conn *accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
	struct conn *c;

	if (fd < 0) {
		if (errno != EAGAIN)
			errors++;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	c->fd = fd;
	conns_open++;
	return c;
}

static int finished(void)
{
	return clients_done == nclients && conns_open == 0;
}

static void serve_aiopoll(int lfd)
{
	io_context_t ctx = NULL;
	struct iocb lcb;
	struct io_event ev[256];
	struct timespec tick = { 0, 100 * 1000000 };
	int ret, i;

	queued = calloc(nclients + 1, sizeof(*queued));
	ret = io_setup(2 * nclients + 64, &ctx);
	if (ret) {
		fprintf(stderr, "io_setup: %s\n", strerror(-ret));
		exit(2);
	}
	io_prep_poll_multishot(&lcb, lfd, POLLIN);
	lcb.data = NULL;
	submit1(ctx, &lcb);
	submit_queued(ctx);
	while (!finished()) {
		int n = aiopoll_getevents(ctx, 1, 256, ev, &tick);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "io_getevents: %s\n", strerror(-n));
			errors++;
			break;
		}
		for (i = 0; i < n; i++) {
			struct conn *c;

			if (ev[i].data) {
				conn_event(ctx, ev[i].data, (long)ev[i].res);
				continue;
			}
			/* The listener: accept everything, re-arm if the multishot poll ended. */
			while ((c = accept_one(lfd)))
				conn_poll(ctx, c, POLLIN);
			if (ev[i].res2 != AIOPOLL_POLL_MORE)
				submit1(ctx, &lcb);
		}
		submit_queued(ctx);
	}
	io_destroy(ctx);
}

static void serve_epoll(int lfd)
{
	struct epoll_event ev[256], e = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC), i;

	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	while (!finished()) {
		int n = epoll_wait(ep, ev, 256, 100);

		for (i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			ssize_t r;

			if (!c) {
				while ((c = accept_one(lfd))) {
					e.events = EPOLLIN;
					e.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
				}
				continue;
			}
			r = read(c->fd, c->buf, BUFSZ);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				if (r < 0)
					errors++;
				conn_close(c);	/* close() removes it from the epoll set */
				continue;
			}
			served++;
			for (c->off = 0; c->off < (size_t)r;) {
				ssize_t w = write(c->fd, c->buf + c->off, r - c->off);

				if (w < 0 && errno == EAGAIN) {
					struct pollfd p = { c->fd, POLLOUT, 0 };

					poll(&p, 1, -1);
					continue;
				}
				if (w < 0) {
					errors++;
					break;
				}
				c->off += w;
				bytes += w;
			}
		}
	}
	close(ep);
}

int main(int argc, char **argv)
{
	pthread_attr_t attr;
	pthread_t *th;
	struct timespec t0, t1;
	int i, lfd, use_epoll = 0;
	double secs;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--epoll"))
			use_epoll = 1;
		else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
			nclients = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			nmessages = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			msgsize = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--clients N] [--messages M] [--size S] [--epoll]\n",
				argv[0]);
			return 2;
		}
	}
	if (nclients < 1 || nmessages < 0 || msgsize < 1 || msgsize > BUFSZ) {
		fprintf(stderr, "bad sizes\n");
		return 2;
	}
	lfd = listen_socket();
	th = calloc(nclients, sizeof(*th));
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nclients; i++)
		if (pthread_create(&th[i], &attr, client, (void *)(long)i)) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
	if (use_epoll)
		serve_epoll(lfd);
	else
		serve_aiopoll(lfd);
	for (i = 0; i < nclients; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	errors += client_errors;
	if (messages_ok != (long)nclients * nmessages)
		errors += (long)nclients * nmessages - messages_ok;
	printf("%s: served %ld requests (%ld bytes) for %d clients in %.2f s, %ld errors\n",
	       use_epoll ? "epoll" : "aiopoll", served, bytes, nclients, secs, errors);
	return errors ? 1 : 0;
}
