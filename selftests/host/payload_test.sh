#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host-side test of scripts/build.sh payload (run by `make check` on the host, not in the
# guest): staging must work from whatever subset of build/ exists, as `make vm-run` needs it
# after `make userspace` alone on a fresh clone, and a failure must stop with the failing
# step's own message, leaving no half-staged directory. Each case stages from a temporary
# build directory of its own (AIOPOLL_BUILD_DIR) against a stand-in kernel tree (KDIR) that
# holds only what payload() copies from it. Needs the tree's aiopoll.ko (make module) and
# libaio-dev and gcc for the library parts (make userspace installs them). Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
TAP_PREFIX="host: payload: "
. "$top/selftests/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

if [ ! -f "$top/aiopoll.ko" ]; then
	echo "ok 1 - ${TAP_PREFIX}staging # SKIP no $top/aiopoll.ko (make module)"
	exit 0
fi

# The stand-in kernel tree: kdir() wants a Makefile and a Module.symvers; payload() copies
# configfs.ko and null_blk.ko.
kdir=$tmp/kernel
mkdir -p "$kdir/fs/configfs" "$kdir/drivers/block/null_blk"
touch "$kdir/Makefile" "$kdir/Module.symvers" "$kdir/fs/configfs/configfs.ko" \
	"$kdir/drivers/block/null_blk/null_blk.ko"

# The library and the libaio differential tests, the parts `make userspace` builds first:
# from build/ when it has them, else built here.
lib=$tmp/lib-build
if [ -f "$top/build/lib/libaio/libaio.so.1" ] && [ -f "$top/build/libaio-diff/diff_basic.dyn" ]; then
	mkdir -p "$lib"
	cp -r "$top/build/lib" "$top/build/include" "$top/build/libaio-diff" "$lib/"
else
	make -s -C "$top/lib" O="$lib" >"$log" 2>&1 &&
		make -s -C "$top/selftests/libaio" OUTPUT="$lib/libaio-diff" AIOPOLL_BUILD="$lib" \
			>>"$log" 2>&1
	tap $? "the library and the libaio tests build (for the cases below)" "$log"
fi

# stage NAME: runs scripts/build.sh payload on build directory $tmp/NAME; sets $p to the
# payload (empty on failure) and returns the script's status.
stage() {
	p=$(AIOPOLL_BUILD_DIR=$tmp/$1 KDIR=$kdir "$top/scripts/build.sh" payload 2>"$log")
	local rc=$?
	[ $rc -eq 0 ] || p=
	return $rc
}

# has P FILE...: every file is in payload P (executable when it is a test's entry point,
# selftests/aiopoll_*, or under bin/).
has() {
	local d=$1 f
	shift
	for f in "$@"; do
		if [ ! -f "$d/$f" ]; then
			echo "missing: $f" >>"$log"
			return 1
		fi
		case "$f" in
		selftests/aiopoll_*|bin/*) [ -x "$d/$f" ] || { echo "not executable: $f" >>"$log"; return 1; } ;;
		esac
	done
}

# 1. No build/ at all: aiopoll.ko, the kernel's modules and the guest runner only.
stage empty && has "$p" aiopoll.ko modules/configfs.ko modules/null_blk.ko \
	selftests/run_tests.sh selftests/tap.sh && [ -d "$p/bin" ]
tap $? "no build directory: aiopoll.ko and the kernel's modules staged" "$log"

# 2. `make -C lib` only: nothing of it goes into the payload, and staging still works.
mkdir -p "$tmp/libonly"
cp -r "$lib/lib" "$lib/include" "$tmp/libonly/"
stage libonly && has "$p" aiopoll.ko && [ ! -e "$p/libaio" ]
tap $? "library only: staged, aiopoll.ko in it" "$log"

# 3. `make userspace` without the selftests (the fresh-clone `make vm-run` case): the libaio
# tests with their loader, libc, the system's libaio.so.1 and libaiopoll's drop-in, and
# their entry point with the tap.sh it sources. No bench-bin/ and no crate/ here either.
mkdir -p "$tmp/userspace/bin"
cp -r "$lib/lib" "$lib/include" "$lib/libaio-diff" "$tmp/userspace/"
printf '#!/bin/sh\necho example\n' >"$tmp/userspace/bin/example"
chmod +x "$tmp/userspace/bin/example"
stage userspace && has "$p" aiopoll.ko selftests/aiopoll_libaio_diff selftests/tap.sh \
	selftests/aiopoll_examples_test bin/example libaio/diff_basic.libaio \
	libaio/dyn/ld-linux-x86-64.so.2 libaio/dyn/system/libaio.so.1 \
	libaio/dyn/aiopoll/libaio.so.1 && [ ! -e "$p/selftests/aiopoll_bench_smoke" ]
tap $? "user space without selftests: libaio tests, drop-in and examples staged" "$log"

# 4. A part that cannot be staged (the libaio tests without the binary whose libraries are
# staged): payload fails with that step's message and leaves no payload directory behind.
mkdir -p "$tmp/broken"
cp -r "$lib/lib" "$lib/include" "$lib/libaio-diff" "$tmp/broken/"
rm "$tmp/broken/libaio-diff/diff_basic.dyn"
if stage broken; then
	echo "payload succeeded: $p" >>"$log"
	false
else
	grep -q 'diff_basic.dyn' "$log" && ! ls -d "$tmp/broken/vm/payload."* >>"$log" 2>&1
fi
tap $? "a failing step: non-zero status, its own message, no half-staged payload" "$log"
exit $status
