#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# libaio's own test harness as a client of libaiopoll: the harness/ of Debian bookworm's libaio
# source package (0.3.113-4, the libaio the host's libaio.a comes from), each case
# (harness/main.c with cases/N.t) built statically twice, as its Makefile builds them but for
# the busybox guest (static programs only):
#
#   fsaio/N.p     the system's <libaio.h> and libaio.a: fs/aio's system calls (the reference)
#   aiopoll/N.p   libaiopoll's <libaio.h> (build/include) and build/lib/libaiopoll.a
#
#   scripts/libaio-harness.sh build OUT   builds both into OUT (with the harness's
#                                         ext2-enospc.img, which case 10 mounts)
#
# The source is cached in $AIOPOLL_CACHE/libaio/$LIBAIO_PKGVER; the cases are rebuilt into OUT
# whenever their sources or libaiopoll.a are newer. Every case is built, Debian's patches
# applied or not: case 23, which Debian's test run leaves out, is built too (the guest script
# selftests/libaio_harness.sh decides what runs and how).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIBAIO_PKGVER=0.3.113-4
LIBAIO_UPSTREAM=0.3.113

libaio_dir=$AIOPOLL_CACHE/libaio/$LIBAIO_PKGVER
src=$libaio_dir/libaio-$LIBAIO_UPSTREAM

unpack() {
	local stamp="libaio $LIBAIO_PKGVER source"
	stamp_ok "$libaio_dir" "$stamp" && [ -f "$src/harness/main.c" ] && return 0
	[ -f "$libaio_dir/dl/libaio_$LIBAIO_UPSTREAM.orig.tar.gz" ] ||
		debian_source libaio "$LIBAIO_PKGVER" "$libaio_dir"
	rm -rf "$src"
	tar -C "$libaio_dir" -xzf "$libaio_dir/dl/libaio_$LIBAIO_UPSTREAM.orig.tar.gz"
	# Debian's patches touch the harness only for other architectures' kernel addresses and
	# to leave case 23 out of its own run: the x86-64 cases are upstream's.
	stamp_set "$libaio_dir" "$stamp"
}

# build_case NAME SOURCE: case NAME (SOURCE, a cases/N.t or an absolute path), twice, into
# $out; each link redone when its source, or libaiopoll.a, is newer.
build_case() {
	local n=$1 t=$2 src=$2 flags
	[ "${t#/}" = "$t" ] && src=$h/$t
	# The harness Makefile's flags (but -Werror: the host's compiler is newer than the
	# harness), and its exception for case 3's deliberate bad pointer.
	flags=(-Wall -g -O2 -Wno-stringop-overflow -I"$h/cases" -DTEST_NAME="\"$t\"" -static)
	if [ ! "$out/fsaio/$n.p" -nt "$src" ]; then
		(cd "$h" && gcc "${flags[@]}" -o "$out/fsaio/$n.p" main.c -laio -lpthread) ||
			die "libaio harness: case $n does not build against libaio"
	fi
	if [ ! "$out/aiopoll/$n.p" -nt "$src" ] || [ "$lib" -nt "$out/aiopoll/$n.p" ]; then
		(cd "$h" && gcc "${flags[@]}" -I"$top/include" -o "$out/aiopoll/$n.p" main.c "$lib" \
			-lpthread) || die "libaio harness: case $n does not build against libaiopoll"
	fi
}

# scaled N NAME SED...: case NAME, case N with each sed expression applied (each must change
# the source), built as build_case does.
scaled() {
	local n=$1 name=$2 e
	shift 2
	cp "$h/cases/$n.t" "$out/src/$name.t.new"
	for e in "$@"; do
		cp "$out/src/$name.t.new" "$out/src/$name.t.prev"
		sed -i -e "$e" "$out/src/$name.t.new"
		! cmp -s "$out/src/$name.t.prev" "$out/src/$name.t.new" ||
			die "libaio harness: cannot scale case $n down ($e)"
	done
	rm -f "$out/src/$name.t.prev"
	if cmp -s "$out/src/$name.t.new" "$out/src/$name.t"; then
		rm "$out/src/$name.t.new"
	else
		mv "$out/src/$name.t.new" "$out/src/$name.t"
	fi
	build_case "$name" "$out/src/$name.t"
}

# build OUT: every case, twice.
build() {
	local t
	top=${AIOPOLL_BUILD_DIR:-$AIOPOLL_TOP/build}
	lib=$top/lib/libaiopoll.a
	h=$src/harness
	host_install gcc libc6-dev libaio-dev
	mkdir -p "$libaio_dir"
	exec 9>"$libaio_dir.lock"
	flock 9
	unpack
	[ -f "$lib" ] || die "no $lib: run 'make userspace' first"
	mkdir -p "$1/fsaio" "$1/aiopoll" "$1/src"
	out=$(cd "$1" && pwd)
	for t in "$h"/cases/*.t; do
		build_case "$(basename "$t" .t)" "cases/$(basename "$t")"
	done
	# Cases the guest cannot run as they are, each also built scaled down (NAMEq), and run so
	# by default (selftests/libaio_harness.sh):
	# - 6 and 14 move buffers of min(MemTotal, 768 MiB) and 768 MiB through a file of that
	#   size: with the tmpfs file, 1.5 GiB of the 2 GiB guest, which its debug kernel
	#   (KASAN, kmemleak) does not have to spare (the OOM killer ends them, on fs/aio too).
	#   6q and 14q use 256 MiB.
	# - 11 (a million writes, then a million reads, of 256 bytes) and 18 (100 threads x 1000
	#   contexts, each destroyed with a read in flight) take more than 4 minutes each under
	#   emulation, on fs/aio itself: 11q does 20,000 of each, 18q 10 threads x 100 contexts.
	#   STRESS=full runs 11 and 18 as they are.
	scaled 6 6q 's/^\tif (size > (768 \* 1024))$/\tif (size > (256 * 1024))/' \
		's/^\t\tsize = 768 \* 1024;$/\t\tsize = 256 * 1024;/'
	scaled 14 14q 's/^#define SIZE 768\*1024\*1024$/#define SIZE 256*1024*1024/'
	scaled 11 11q 's/^#define COUNT\t1000000$/#define COUNT\t20000/'
	scaled 18 18q 's/^#define THREADS_NUM 100$/#define THREADS_NUM 10/' \
		's/for (i = 0; i < 1000; i++) {/for (i = 0; i < 100; i++) {/'
	cp "$h/ext2-enospc.img" "$out/"
}

case "${1:-}" in
build) [ -n "${2:-}" ] || die "usage: scripts/libaio-harness.sh build OUT"; build "$2" ;;
*) die "usage: scripts/libaio-harness.sh build OUT" ;;
esac
