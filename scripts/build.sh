#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds aiopoll's parts and stages what the guest needs.
#
#   scripts/build.sh module      aiopoll.ko (against $KDIR, or the cached test kernel)
#   scripts/build.sh modules_install   install aiopoll.ko with kbuild's modules_install into
#                                /lib/modules/RELEASE/updates/ (under $INSTALL_MOD_PATH if set) and
#                                run depmod; builds it first
#   scripts/build.sh selftests   static selftest binaries in build/selftests/
#   scripts/build.sh userspace   libaiopoll (build/lib, build/include), the libaio differential
#                                tests (build/libaio-diff), the C examples and the poll
#                                benchmark (build/bin, build/bench-bin) and the Rust crate's tests and examples
#                                (build/crate; AIOPOLL_CRATE=0 leaves the crate out)
#   scripts/build.sh clients     real libaio clients for make check: libaio's own test harness
#                                (build/libaio-harness, scripts/libaio-harness.sh: each case
#                                linked with libaio and with libaiopoll) and fio linked with
#                                libaiopoll (build/fio, scripts/fio.sh); needs build/lib
#                                (userspace) first
#   scripts/build.sh payload     module + selftests + user space staged in a new build/vm/payload.XXXXXX/
#                                (scripts/vm.sh removes it after the run); prints its path.
#                                Stages whatever of build/ exists (only aiopoll.ko is needed)
#   scripts/build.sh kdir        print the kernel build directory in use
#   scripts/build.sh clippy      rebuild the module's Rust with clippy (kbuild's CLIPPY=1)
#   scripts/build.sh fmt [--check]  rustfmt the crate (rust/aiopoll.rs and its modules)
#
# AIOPOLL_FLAVOUR=perf|rt builds the module (and stages the payload) for that flavour of the
# cached kernel instead of the test kernel; its objects go to build/module-FLAVOUR/.
# AIOPOLL_FLAVOUR=stock|stock-rt|stock-cloud does the same for Debian's own kernel of that
# flavour (linux-image-7.3.4+deb13-amd64, -rt-amd64, -cloud-amd64; scripts/stock.sh).
# KDIR=/path builds against a prepared kernel tree of your own with your own toolchain
# (LLVM=1 by default; set LLVM= to what your tree was built with). When KDIR is Debian's
# headers (/usr/src/linux-headers-7.3.4+deb13-amd64), which lack the Rust metadata,
# scripts/stock.sh rebuilds it and the module is built with the toolchain that built Debian's.
# AIOPOLL_BUILD_DIR=/path uses that directory instead of build/ (the host tests stage
# payloads from partial build directories of their own with it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TC=$AIOPOLL_TOP/scripts/toolchain.sh
BUILD=${AIOPOLL_BUILD_DIR:-$AIOPOLL_TOP/build}

kdir() {
	if [ -n "${KDIR:-}" ]; then
		[ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel tree"
		[ -f "$KDIR/Module.symvers" ] || die "KDIR=$KDIR is not built (no Module.symvers): run 'make modules_prepare' or a full build there"
		if debian_headers "$KDIR"; then "$AIOPOLL_TOP/scripts/stock.sh" kdir "$KDIR"; else echo "$KDIR"; fi
	elif [ -n "$(debian_flavour)" ]; then
		"$AIOPOLL_TOP/scripts/stock.sh" kdir "$(debian_flavour)"
	else
		"$AIOPOLL_TOP/scripts/kernel.sh" build "${AIOPOLL_FLAVOUR:-test}"
	fi
}

# The Debian flavour of a stock AIOPOLL_FLAVOUR (empty for the project's own kernels).
debian_flavour() {
	case "${AIOPOLL_FLAVOUR:-test}" in
	stock) echo amd64 ;;
	stock-rt) echo rt-amd64 ;;
	stock-cloud) echo cloud-amd64 ;;
	esac
}

# debian_headers DIR: DIR is a Debian linux-headers-* tree of a Rust kernel, without the Rust
# metadata (Debian does not package it).
debian_headers() {
	[ -f "$1/.config" ] && grep -q '^CONFIG_RUST=y' "$1/.config" && [ ! -f "$1/rust/libkernel.rmeta" ] &&
		grep -qs Debian "$1/include/generated/package.h"
}

# The kernel source tree behind a build directory (O= trees link it as "source").
ksrc() {
	local k=$1
	if [ -f "$k/.aiopoll-stock" ]; then
		# Debian's headers: the same version's full source (kselftest_harness.h).
		"$AIOPOLL_TOP/scripts/kernel.sh" source
	elif [ -e "$k/source" ]; then readlink -f "$k/source"; else echo "$k"; fi
}

# The flavour of the cached kernel in use (AIOPOLL_FLAVOUR: test, perf or rt); with KDIR, the
# user's tree, built in place like the test flavour.
flavour() {
	if [ -n "${KDIR:-}" ]; then echo test; else echo "${AIOPOLL_FLAVOUR:-test}"; fi
}

# Where the module for the flavour in use is built: the tree itself for the test kernel (and
# KDIR); a copy of the sources under build/ for the others, so that their objects never
# replace the tree's.
moddir() {
	local f
	f=$(flavour)
	if [ "$f" = test ]; then echo "$AIOPOLL_TOP"; else echo "$BUILD/module-$f"; fi
}

module() {
	local k d
	k=$(kdir)
	d=$(moddir)
	if [ "$d" != "$AIOPOLL_TOP" ]; then
		host_install rsync
		mkdir -p "$d"
		rsync -a --delete "$AIOPOLL_TOP/Kbuild" "$AIOPOLL_TOP/rust" "$AIOPOLL_TOP/uapi" "$d/"
	fi
	M="$d" kmake "$k" modules
	log "built $d/aiopoll.ko against $k"
}

modules_install() {
	local k d dst rel imp=
	module
	k=$(kdir)
	d=$(moddir)
	if [ -n "${INSTALL_MOD_PATH:-}" ]; then
		mkdir -p "$INSTALL_MOD_PATH"
		imp=$(cd "$INSTALL_MOD_PATH" && pwd -P)
	fi
	mkdir -p "$imp/lib/modules"
	dst=$(cd "$imp/lib/modules" && pwd -P)
	local key=${MODULE_SIG_KEY:-} cert=${MODULE_SIG_CERT:-} nosig=()
	if [ -n "$key$cert" ]; then
		[ -f "$key" ] && [ -f "$cert" ] || die "MODULE_SIG_KEY and MODULE_SIG_CERT must both name files (a private key and its X.509 certificate, PEM or DER)"
		[ -x "$k/scripts/sign-file" ] || die "$k has no scripts/sign-file: that kernel was built without module signing (CONFIG_MODULE_SIG)"
		key=$(realpath "$key") cert=$(realpath "$cert")
		# kbuild would sign with the kernel's own key (certs/signing_key.x509, which headers
		# packages do not ship): its signature would come after ours.
		nosig=(CONFIG_MODULE_SIG_ALL=)
	fi
	# In the toolchain chroot, the destination is bind-mounted at its own path.
	M="$d" AIOPOLL_EXTRA_BINDS="$dst" kmake "$k" ${imp:+INSTALL_MOD_PATH="$imp"} "${nosig[@]}" modules_install
	rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$k/include/generated/utsrelease.h")
	[ -n "$key" ] && sign_installed "$k" "$dst/$rel/updates" "$key" "$cert"
	# kbuild runs depmod only next to a System.map, which headers packages do not have.
	if [ ! -f "$k/System.map" ]; then
		(cd "$dst" && AIOPOLL_BINDS="$dst" "$TC" exec env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			depmod -a ${imp:+-b "$imp"} "$rel") || die "depmod $rel failed"
	fi
	log "installed aiopoll.ko into $dst/$rel/updates/"
	# The udev rule (scripts/60-aiopoll.rules): mode 0666 for the static node too.
	local rules=$imp${UDEV_RULES_DIR:-/etc/udev/rules.d}
	install -D -m 0644 "$AIOPOLL_TOP/scripts/60-aiopoll.rules" "$rules/60-aiopoll.rules" ||
		die "cannot install the udev rule into $rules"
	log "installed the udev rule $rules/60-aiopoll.rules"
}

# sign_installed KDIR DIR KEY CERT: signs DIR/aiopoll.ko[.xz|.zst|.gz] with the kernel's
# sign-file and its CONFIG_MODULE_SIG_HASH (for Secure Boot: a key enrolled as a MOK). A
# compressed module is signed inside, then compressed again as kbuild compresses modules.
sign_installed() {
	local k=$1 dir=$2 key=$3 cert=$4 hash f z=''
	hash=$(sed -n 's/^CONFIG_MODULE_SIG_HASH="\(.*\)"$/\1/p' "$k/.config")
	[ -n "$hash" ] || die "$k/.config has no CONFIG_MODULE_SIG_HASH"
	f=$(ls "$dir"/aiopoll.ko* 2>/dev/null | head -n1)
	case "$f" in
	*.ko.xz) z=xz; xz -d "$f" ;;
	*.ko.zst) z=zst; zstd -q -d --rm "$f" ;;
	*.ko.gz) z=gz; gzip -d "$f" ;;
	*.ko) ;;
	*) die "no aiopoll.ko installed in $dir" ;;
	esac
	f=$dir/aiopoll.ko
	"$k/scripts/sign-file" "$hash" "$key" "$cert" "$f" || die "sign-file failed on $f"
	case "$z" in
	# kbuild's own flags (scripts/Makefile.modinst).
	xz) xz --check=crc32 --lzma2=dict=1MiB "$f" ;;
	zst) zstd -q --rm -f "$f" ;;
	gz) gzip -n -f "$f" ;;
	esac
	log "signed aiopoll.ko with $cert ($hash)"
}

# kmake KDIR ARGS...: runs kbuild for this external module.
kmake() {
	local k=$1
	shift
	grep -q '^CONFIG_RUST=y' "$k/.config" || die "$k has no CONFIG_RUST=y: aiopoll is written in Rust"
	local m=${M:-$AIOPOLL_TOP}
	if [ -f "$k/.aiopoll-stock" ]; then
		# A Debian kernel (scripts/stock.sh): its .kernelvariables name the compiler (gcc-14),
		# so no LLVM=; the toolchain is the one whose rustc built it (stock.sh checked).
		(cd "$m" && AIOPOLL_BINDS="$(cd "$k/../../.." && pwd)${AIOPOLL_EXTRA_BINDS:+:$AIOPOLL_EXTRA_BINDS}" "$TC" exec \
			make -s -C "$k" M="$m" "$@")
	elif [ -n "${KDIR:-}" ] && [ "${AIOPOLL_TOOLCHAIN:-}" != chroot ]; then
		make -C "$k" M="$m" LLVM="${LLVM:-1}" "$@"
	else
		(cd "$m" && AIOPOLL_BINDS="$k${AIOPOLL_EXTRA_BINDS:+:$AIOPOLL_EXTRA_BINDS}" "$TC" exec \
			make -s -C "$k" M="$m" LLVM="$("$TC" llvm)" "$@")
	fi
}

clippy() {
	local k
	k=$(kdir)
	rm -f "$AIOPOLL_TOP"/rust/*.o
	# Clippy's and rustc's warnings are errors here.
	kmake "$k" CLIPPY=1 rustflags-y=-Dwarnings modules
	log "clippy: clean"
}

fmt() {
	local src
	src=$("$AIOPOLL_TOP/scripts/kernel.sh" source)
	(cd "$AIOPOLL_TOP" && AIOPOLL_BINDS="$src" "$TC" exec \
		rustfmt --config-path "$src/.rustfmt.toml" "$@" rust/aiopoll.rs)
}

selftests() {
	local k
	k=$(kdir)
	# gcc-multilib: aiopoll_compat_test is a 32-bit program (gcc -m32 -static).
	host_install gcc libc6-dev make gcc-multilib
	make -s -C "$AIOPOLL_TOP/selftests" OUTPUT="$BUILD/selftests" KSRC="$(ksrc "$k")"
}

userspace() {
	host_install gcc libc6-dev make libaio-dev
	make -s -C "$AIOPOLL_TOP/lib" O="$BUILD"
	make -s -C "$AIOPOLL_TOP/selftests/libaio" OUTPUT="$BUILD/libaio-diff" AIOPOLL_BUILD="$BUILD"
	make -s -C "$AIOPOLL_TOP/examples" OUTPUT="$BUILD/bin" AIOPOLL_BUILD="$BUILD"
	host_install liburing-dev
	make -s -C "$AIOPOLL_TOP/bench" OUTPUT="$BUILD/bench-bin" AIOPOLL_BUILD="$BUILD"
	if [ "${AIOPOLL_CRATE:-1}" != 0 ] && [ -x "$AIOPOLL_TOP/scripts/crate.sh" ]; then
		"$AIOPOLL_TOP/scripts/crate.sh" build "$BUILD/crate"
	fi
}

clients() {
	"$AIOPOLL_TOP/scripts/libaio-harness.sh" build "$BUILD/libaio-harness"
	local fio
	fio=$("$AIOPOLL_TOP/scripts/fio.sh" build)
	mkdir -p "$BUILD/fio"
	cp "$fio/fio-aiopoll" "$BUILD/fio/"
}

# stage_dyn DIR: what the guest needs to run the dynamically linked libaio test binaries:
# the host's loader and libc, the system's libaio.so.1 (dyn/system) and libaiopoll's drop-in
# (dyn/aiopoll). The guest runs them as dyn/ld-linux-x86-64.so.2 --library-path ... BINARY.
stage_dyn() {
	local d=$1 lib libs
	mkdir -p "$d/system" "$d/aiopoll"
	libs=$(ldd "$BUILD/libaio-diff/diff_basic.dyn" | awk '/=>/ { print $3 } /ld-linux/ { print $1 }') ||
		die "cannot list the libraries of $BUILD/libaio-diff/diff_basic.dyn"
	for lib in $libs; do
		case "$lib" in
		*libaio.so*) cp -L "$lib" "$d/system/" ;;
		*ld-linux*) cp -L "$lib" "$d/ld-linux-x86-64.so.2" ;;
		/*) cp -L "$lib" "$d/" ;;
		esac
	done
	cp -L "$BUILD/lib/libaio/libaio.so.1" "$d/aiopoll/"
}

# Stages the payload from whatever build/ holds: `make module` alone, `make userspace` without
# the selftests, everything. Each part is staged only when it was built. A failure stops the
# script with the failing command's message and removes the half-staged directory.
payload() {
	local k p m ko
	k=$(kdir)
	ko=$(moddir)/aiopoll.ko
	[ -f "$ko" ] || die "no $ko: run 'make module' first"
	mkdir -p "$BUILD/vm"
	# One directory per run, so that runs (and their 9p mounts) never share one.
	p=$(mktemp -d "$BUILD/vm/payload.XXXXXX")
	# shellcheck disable=SC2064 # $p is expanded now, on purpose
	trap "rm -rf $(printf %q "$p")" EXIT
	chmod 755 "$p"
	# bin/ is on the guest's PATH and selftests/ holds every test's entry point, whichever
	# parts are staged below.
	mkdir -p "$p/bin" "$p/selftests"
	cp "$ko" "$p/"
	# Modules of the kernel itself that tests load (null_blk and its dependency configfs,
	# for the block paths), in /aiopoll/modules, to be loaded in this order.
	mkdir -p "$p/modules"
	for m in fs/configfs/configfs.ko drivers/block/null_blk/null_blk.ko; do
		if [ -f "$k/$m" ]; then
			cp "$k/$m" "$p/modules/"
		elif [ -f "$k/aiopoll-boot/modules/$(basename "$m")" ]; then
			# A stock kernel's (scripts/stock.sh), uncompressed.
			cp "$k/aiopoll-boot/modules/$(basename "$m")" "$p/modules/"
		fi
	done
	cp "$AIOPOLL_TOP/selftests/run_tests.sh" "$AIOPOLL_TOP/selftests/tap.sh" "$p/selftests/"
	if [ -d "$BUILD/selftests" ]; then
		cp -r "$BUILD/selftests/." "$p/selftests/"
		cp "$AIOPOLL_TOP/selftests/fuzz_test.sh" "$p/selftests/aiopoll_fuzz_test"
		cp "$AIOPOLL_TOP/selftests/kmemleak_test.sh" "$p/selftests/aiopoll_kmemleak_test"
		cp "$AIOPOLL_TOP/selftests/autoload_test.sh" "$p/selftests/aiopoll_autoload_test"
	fi
	if [ -d "$BUILD/libaio-diff" ]; then
		cp -r "$BUILD/libaio-diff" "$p/libaio"
		stage_dyn "$p/libaio/dyn"
		cp "$AIOPOLL_TOP/selftests/libaio/run_diff.sh" "$p/selftests/aiopoll_libaio_diff"
		cp "$AIOPOLL_TOP/selftests/vng_host_test.sh" "$p/selftests/aiopoll_vng_host_test"
	fi
	if [ -d "$BUILD/libaio-harness" ]; then
		cp -r "$BUILD/libaio-harness" "$p/libaio-harness"
		cp "$AIOPOLL_TOP/selftests/libaio_harness.sh" "$p/selftests/aiopoll_libaio_harness"
	fi
	if [ -x "$BUILD/fio/fio-aiopoll" ]; then
		mkdir -p "$p/fio"
		cp "$BUILD/fio/fio-aiopoll" "$p/fio/"
		cp "$AIOPOLL_TOP/selftests/fio_test.sh" "$p/selftests/aiopoll_fio_test"
	fi
	if [ -d "$BUILD/bin" ]; then
		cp -r "$BUILD/bin/." "$p/bin/"
		cp "$AIOPOLL_TOP/selftests/examples_test.sh" "$p/selftests/aiopoll_examples_test"
	fi
	if [ -f "$BUILD/bench-bin/poll_bench" ]; then
		cp "$BUILD/bench-bin/poll_bench" "$p/bin/"
		cp "$AIOPOLL_TOP/selftests/bench_smoke.sh" "$p/selftests/aiopoll_bench_smoke"
	fi
	if [ -d "$BUILD/crate" ]; then
		cp -r "$BUILD/crate" "$p/crate"
		printf '#!/bin/sh\nexec sh "$(dirname "$0")/../crate/run-crate-tests.sh"\n' \
			> "$p/selftests/aiopoll_crate_test"
		chmod +x "$p/selftests/aiopoll_crate_test"
	fi
	trap - EXIT
	echo "$p"
}

case "${1:-}" in
module) module ;;
modules_install) modules_install ;;
selftests) selftests ;;
userspace) userspace ;;
clients) clients ;;
payload) payload ;;
kdir) kdir ;;
clippy) clippy ;;
fmt) shift; fmt "$@" ;;
*) die "usage: $0 module|modules_install|selftests|userspace|clients|payload|kdir|clippy|fmt [--check]" ;;
esac
