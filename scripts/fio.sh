#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# fio as a real client of aiopoll: Debian bookworm's fio source (3.33-3), built statically
# (the busybox guest runs only static programs) with --disable-shm (the guest has no SysV shm:
# fio then runs its jobs as threads, --thread) and without -march=native (QEMU's CPU is not
# the host's). One build, linked twice:
#
#   fio-fsaio     its libaio engine on the system's libaio.a (fs/aio's system calls)
#   fio-aiopoll   the same objects linked against libaiopoll.a (the libaio API on /dev/aiopoll),
#                 unchanged otherwise: the drop-in as an application would get it
#
# Both have the io_uring and pvsync2 engines (system calls of their own, no library).
#
#   scripts/fio.sh build    builds (or reuses) both; prints the directory holding them
#
# The source and the fs/aio build are cached in $AIOPOLL_CACHE/fio/$FIO_PKGVER; the aiopoll
# link is redone whenever libaiopoll.a is newer than it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIO_PKGVER=3.33-3
FIO_UPSTREAM=3.33

fio_dir=$AIOPOLL_CACHE/fio/$FIO_PKGVER

build_fsaio() {
	local src=$fio_dir/fio-$FIO_UPSTREAM stamp="fio $FIO_PKGVER static"
	if stamp_ok "$fio_dir" "$stamp" && [ -x "$fio_dir/fio-fsaio" ]; then
		return 0
	fi
	host_install gcc make libc6-dev libaio-dev zlib1g-dev
	[ -f "$fio_dir/dl/fio_$FIO_UPSTREAM.orig.tar.gz" ] || debian_source fio "$FIO_PKGVER" "$fio_dir"
	rm -rf "$src"
	tar -C "$fio_dir" -xzf "$fio_dir/dl/fio_$FIO_UPSTREAM.orig.tar.gz"
	log "fio: building fio $FIO_UPSTREAM (static)"
	(cd "$src" && ./configure --build-static --disable-shm --disable-native --disable-numa \
		--disable-rdma --disable-http --disable-gfapi --disable-libnfs --disable-lex \
		--disable-pmem --disable-xnvme --disable-libzbc --disable-tcmalloc --disable-dfs \
		--disable-rados --disable-rbd && make -j"$(nproc)" fio) >"$fio_dir/build.log" 2>&1 ||
		die "fio: build failed (see $fio_dir/build.log)"
	grep -q '^#define CONFIG_LIBAIO$' "$src/config-host.h" ||
		die "fio: configure found no libaio (see $fio_dir/build.log)"
	cp "$src/fio" "$fio_dir/fio-fsaio"
	stamp_set "$fio_dir" "$stamp"
}

# Relinks fio's objects with libaiopoll.a in place of libaio.a: -laio is looked up in a
# directory of our own first, where libaio.a is libaiopoll's.
link_aiopoll() {
	local src=$fio_dir/fio-$FIO_UPSTREAM lib=$AIOPOLL_TOP/build/lib/libaiopoll.a
	make -s -C "$AIOPOLL_TOP/lib" O="$AIOPOLL_TOP/build"
	if [ -x "$fio_dir/fio-aiopoll" ] && [ "$fio_dir/fio-aiopoll" -nt "$lib" ] &&
		[ "$fio_dir/fio-aiopoll" -nt "$fio_dir/fio-fsaio" ]; then
		return 0
	fi
	mkdir -p "$fio_dir/aiopoll-lib"
	cp "$lib" "$fio_dir/aiopoll-lib/libaio.a"
	rm -f "$src/fio"
	make -C "$src" fio LDFLAGS="-static -Wl,--gc-sections -L$fio_dir/aiopoll-lib" \
		>"$fio_dir/link.log" 2>&1 || die "fio: link with libaiopoll failed (see $fio_dir/link.log)"
	# The link must have taken libaiopoll's io_submit (it opens /dev/aiopoll).
	grep -q aiopoll "$src/fio" || die "fio: the relinked fio does not contain libaiopoll"
	mv "$src/fio" "$fio_dir/fio-aiopoll"
	cp "$fio_dir/fio-fsaio" "$src/fio"
}

case "${1:-}" in
build)
	mkdir -p "$fio_dir"
	exec 9>"$fio_dir.lock"
	flock 9
	build_fsaio
	link_aiopoll
	echo "$fio_dir"
	;;
*) die "usage: scripts/fio.sh build" ;;
esac
