// SPDX-License-Identifier: GPL-2.0
/*
 * aiopoll-copy: copies a file with several reads and writes in flight on one aiopoll
 * context (libaiopoll's libaio API), then an IOCB_CMD_FSYNC of the copy.
 *
 *   aiopoll-copy [--depth D] [--block BYTES] SRC DST
 *
 * Each of the D slots reads a block, writes it at the same offset, and takes the next
 * block; short reads and writes continue where they stopped. Prints "copied N bytes with
 * R requests" and exits 0 when everything was copied and synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libaiopoll.h>

struct slot {
	struct iocb iocb;
	char *buf;
	long long off;		/* file offset of the block */
	size_t len, done;	/* bytes in the block; bytes of it read or written so far */
	int writing;
};

static int depth = 8;
static size_t block = 64 * 1024;
static long long size, next_off;
static long requests;
static int in, out;

static int submit1(io_context_t ctx, struct iocb *iocb)
{
	int ret = io_submit(ctx, 1, &iocb);

	if (ret != 1) {
		fprintf(stderr, "io_submit: %s\n", strerror(-ret));
		exit(1);
	}
	requests++;
	return 0;
}

/* Starts the slot on the next block; returns 0 when nothing is left to copy. */
static int start(io_context_t ctx, struct slot *s)
{
	if (next_off >= size)
		return 0;
	s->off = next_off;
	s->len = size - next_off < (long long)block ? (size_t)(size - next_off) : block;
	s->done = 0;
	s->writing = 0;
	next_off += s->len;
	io_prep_pread(&s->iocb, in, s->buf, s->len, s->off);
	s->iocb.data = s;
	return !submit1(ctx, &s->iocb);
}

/* The rest of the slot's current step. */
static void resume(io_context_t ctx, struct slot *s)
{
	if (s->writing)
		io_prep_pwrite(&s->iocb, out, s->buf + s->done, s->len - s->done, s->off + s->done);
	else
		io_prep_pread(&s->iocb, in, s->buf + s->done, s->len - s->done, s->off + s->done);
	s->iocb.data = s;
	submit1(ctx, &s->iocb);
}

int main(int argc, char **argv)
{
	struct io_event ev[64];
	struct slot *slots;
	io_context_t ctx = NULL;
	struct stat st;
	int i, busy = 0, ret;

	for (i = 1; i + 2 < argc; i++) {
		if (!strcmp(argv[i], "--depth") && i + 3 < argc)
			depth = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--block") && i + 3 < argc)
			block = strtoul(argv[++i], NULL, 0);
		else
			break;
	}
	if (argc - i != 2 || depth < 1 || depth > 64 || block < 1) {
		fprintf(stderr, "usage: %s [--depth 1..64] [--block BYTES] SRC DST\n", argv[0]);
		return 2;
	}
	in = open(argv[i], O_RDONLY | O_CLOEXEC);
	out = open(argv[i + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (in < 0 || out < 0 || fstat(in, &st)) {
		perror("open");
		return 1;
	}
	size = st.st_size;
	ret = io_setup(depth, &ctx);
	if (ret) {
		fprintf(stderr, "io_setup: %s\n", strerror(-ret));
		return 1;
	}
	slots = calloc(depth, sizeof(*slots));
	for (i = 0; i < depth; i++) {
		slots[i].buf = malloc(block);
		busy += start(ctx, &slots[i]);
	}
	while (busy) {
		int n = io_getevents(ctx, 1, 64, ev, NULL);

		if (n < 0) {
			fprintf(stderr, "io_getevents: %s\n", strerror(-n));
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct slot *s = ev[i].data;
			long res = (long)ev[i].res;

			if (res < 0 || (res == 0 && !s->writing)) {
				fprintf(stderr, "%s at %lld: %s\n", s->writing ? "write" : "read",
					s->off + (long long)s->done,
					res ? strerror(-res) : "unexpected end of file");
				return 1;
			}
			s->done += res;
			if (s->done < s->len) {		/* short: continue the same step */
				resume(ctx, s);
			} else if (!s->writing) {	/* read done: write the block */
				s->writing = 1;
				s->done = 0;
				resume(ctx, s);
			} else if (!start(ctx, s)) {	/* written: next block, if any */
				busy--;
			}
		}
	}
	io_prep_fsync(&slots[0].iocb, out);
	submit1(ctx, &slots[0].iocb);
	if (io_getevents(ctx, 1, 1, ev, NULL) != 1 || (long)ev[0].res != 0) {
		fprintf(stderr, "fsync failed\n");
		return 1;
	}
	io_destroy(ctx);
	printf("copied %lld bytes with %ld requests\n", size, requests);
	return 0;
}
