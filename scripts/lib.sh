# SPDX-License-Identifier: GPL-2.0
# Shared settings and helpers for aiopoll's build and test scripts. Sourced, not run.
#
# Everything the scripts download or build lives under $AIOPOLL_CACHE, keyed so that a
# second run reuses it:
#   chroot-trixie/            Debian trixie toolchain (only when the host's is too old)
#   kernel/src/linux-$KVER/   unpacked linux-source package
#   kernel/build/$KVER-$FLAVOUR-$HASH/   configured and built kernel trees
#   initramfs/$HASH.cpio.gz   busybox guest image
#   stock/                    Debian's stock kernels: packages, rebuilt Rust metadata (stock.sh)

set -euo pipefail

AIOPOLL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AIOPOLL_CACHE=${AIOPOLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiopoll}

# The kernel the project targets: Debian's linux-source package, pinned.
KVER=7.3.4
KSRC_PKG=linux-source-7.3
KSRC_PKGVER=7.3.4-1~bpo13+1
KSRC_SUITE=trixie-backports

# Debian's own kernels of the same source (scripts/stock.sh): linux-image-$STOCK_ABI-FLAVOUR
# and linux-headers-$STOCK_ABI-FLAVOUR, version $KSRC_PKGVER, in $KSRC_SUITE.
STOCK_ABI=7.3.4+deb13

# Toolchain minimums of Linux 7.3 (scripts/min-tool-version.sh, scripts/rust_is_available.sh).
MIN_CLANG=17
MIN_RUSTC=1.85.0
MIN_BINDGEN=0.71.1

CHROOT_DIR=$AIOPOLL_CACHE/chroot-trixie
CHROOT_PKGS=clang-19,lld-19,llvm-19,libclang-19-dev,rustc,rust-src,rust-clippy,rustfmt,bindgen,make,gcc,libc6-dev,flex,bison,bc,libelf-dev,libssl-dev,cpio,kmod,python3,xz-utils,pahole,rsync

log() { printf '[aiopoll] %s\n' "$*" >&2; }
die() { printf '[aiopoll] error: %s\n' "$*" >&2; exit 1; }

# version_ge A B: true when version A >= B (dotted numbers).
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# The Debian mirror the host already uses (the project reaches no other).
debian_mirror() {
	local m
	m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list 2>/dev/null | grep -v security | grep -oE 'https?://[^ ]+' | head -n1)
	[ -n "$m" ] || die "no Debian mirror found in /etc/apt sources"
	echo "${m%/}"
}

# debian_download DIR PKG=VERSION...: downloads Debian packages into DIR with a private apt
# configuration (state under $AIOPOLL_CACHE/kernel/apt; the host's sources stay as they are),
# from $KSRC_SUITE of the host's mirror. Updates the index when a package is not found.
debian_download() {
	local dir=$1 apt=$AIOPOLL_CACHE/kernel/apt alog=$AIOPOLL_CACHE/kernel/apt.log
	shift
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dir"
	printf 'deb %s %s main\n' "$(debian_mirror)" "$KSRC_SUITE" >"$apt/sources.list"
	local aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1)
	(cd "$dir" && apt-get "${aptopts[@]}" download "$@") >>"$alog" 2>&1 && return 0
	apt-get "${aptopts[@]}" update >>"$alog" 2>&1 || die "apt-get update for $KSRC_SUITE failed, see $alog"
	(cd "$dir" && apt-get "${aptopts[@]}" download "$@") >>"$alog" 2>&1
}

# debian_source PKG VERSION DIR: downloads Debian bookworm's source package PKG=VERSION into
# DIR/dl (its .dsc and tarballs), through a private apt state in DIR/apt (a deb-src entry of
# the host's mirror), so that the host's apt configuration is left alone.
debian_source() {
	local pkg=$1 ver=$2 dir=$3 apt=$3/apt mirror
	mirror=$(debian_mirror)
	mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$dir/dl"
	cat > "$apt/parts/src.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
	log "$pkg: fetching Debian's $pkg $ver source"
	apt-get "${opts[@]}" update >"$dir/apt.log" 2>&1 ||
		die "$pkg: apt-get update of deb-src failed (see $dir/apt.log)"
	(cd "$dir/dl" && apt-get "${opts[@]}" source --download-only "$pkg=$ver") \
		>>"$dir/apt.log" 2>&1 || die "$pkg: no source of $pkg $ver (see $dir/apt.log)"
}

# host_install PKG...: install the Debian packages that are missing on the host.
host_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing host packages: ${missing[*]} (run as root, or install them)"
	log "installing host packages: ${missing[*]}"
	mkdir -p "$AIOPOLL_CACHE"
	local alog=$AIOPOLL_CACHE/host-apt.log
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$alog" 2>&1; then
		apt-get update >>"$alog" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$alog" 2>&1 ||
			die "could not install host packages: ${missing[*]} (see $alog)"
	fi
}

# Stamp helpers: a directory is complete only when its stamp file exists.
stamp_ok() { [ -f "$1/.aiopoll-stamp" ] && [ "$(cat "$1/.aiopoll-stamp")" = "$2" ]; }
stamp_set() { echo "$2" > "$1/.aiopoll-stamp"; }

# perf_payload: the benchmarks' start. Sets kdir to the perf kernel (built or cached)
# and payload to a new payload directory holding aiopoll.ko built for it (in
# build/module-perf, so the tree's aiopoll.ko, for the test kernel, is left alone).
perf_payload() {
	kdir=$("$AIOPOLL_TOP/scripts/kernel.sh" build perf)
	AIOPOLL_FLAVOUR=perf "$AIOPOLL_TOP/scripts/build.sh" module
	mkdir -p "$AIOPOLL_TOP/build/vm"
	payload=$(mktemp -d "$AIOPOLL_TOP/build/vm/payload.XXXXXX")
	chmod 755 "$payload"
	cp "$AIOPOLL_TOP/build/module-perf/aiopoll.ko" "$payload/"
}

# guest_status RC QEMU-RC SECS TIMEOUT KLOG RUNNER: the exit status of a guest run of
# scripts/vm.sh or scripts/vng.sh. RC is the command's status as the guest reported it (empty
# when it never did: 124 after a timeout, else 1, with the last kernel messages); a kernel log
# with KASAN, lockdep, WARNING, BUG, refcount or hung-task reports turns 0 into 1.
guest_status() {
	local rc=$1 qrc=$2 secs=$3 timeout=$4 klog=$5 runner=$6
	if [ -z "$rc" ]; then
		if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
			log "guest timed out after ${timeout}s; last kernel messages:"
			rc=124
		else
			log "guest died before the command finished ($runner status $qrc); last kernel messages:"
			rc=1
		fi
		tail -n 40 "$klog" | tr -d '\r' >&2
	fi
	if "$AIOPOLL_TOP/scripts/logscan.sh" "$klog"; then
		log "guest finished in ${secs}s with status $rc; kernel log clean ($klog)"
	else
		log "guest finished in ${secs}s with status $rc; KERNEL LOG HAS REPORTS ($klog)"
		[ "$rc" -eq 0 ] && rc=1
	fi
	return "$rc"
}

# runner_args RUNNER ARGS...: the options of scripts/vm.sh and scripts/vng.sh (described in
# vm.sh), checked. Sets cmd, payload (absolute), share, kdir, timeout, klog (its directory
# made), keep, mods, image (the kernel image to boot), stock=1 for a stock kernel's KDIR
# from scripts/stock.sh (its aiopoll-boot/ holds vmlinuz and the modules it needs) and no9p=1
# for one without 9p, which gets no --share.
runner_args() {
	local me=$1
	shift
	payload='' share='' kdir='' timeout=1200 klog='' keep='' mods='' stock=0 no9p=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--payload) payload=$2; shift 2 ;;
		--share) share=$2; shift 2 ;;
		--kernel) kdir=$2; shift 2 ;;
		--modules) mods=$2; shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--log) klog=$2; shift 2 ;;
		--out) keep=$2; shift 2 ;;
		--) shift; break ;;
		*) die "$me: unknown option $1" ;;
		esac
	done
	[ $# -eq 1 ] || die "usage: $me [--payload DIR] [--share DIR] [--kernel DIR] [--timeout S] -- 'command'"
	cmd=$1
	[ -n "$payload" ] || die "$me: --payload DIR is required (scripts/build.sh payload stages one)"
	[ -f "$payload/aiopoll.ko" ] || die "$me: the payload $payload has no aiopoll.ko"
	payload=$(cd "$payload" && pwd)
	[ -n "$kdir" ] || kdir=$("$AIOPOLL_TOP/scripts/kernel.sh" build test)
	if [ -f "$kdir" ]; then
		image=$kdir
	elif [ -f "$kdir/arch/x86/boot/bzImage" ]; then
		image=$kdir/arch/x86/boot/bzImage
	elif [ -f "$kdir/aiopoll-boot/vmlinuz" ]; then
		image=$kdir/aiopoll-boot/vmlinuz stock=1
		# A kernel without 9p (Debian's -cloud) gets the payload in the initramfs.
		[ -f "$kdir/aiopoll-boot/no-9p" ] && no9p=1
	else
		die "no bzImage in $kdir (nor aiopoll-boot/vmlinuz of a stock kernel)"
	fi
	if [ -n "$share" ]; then
		[ "$no9p" = 0 ] || die "$me: $kdir has no 9p file system: no --share"
		case "$share" in /*) ;; *) die "SHARE must be an absolute path: $share" ;; esac
		mkdir -p "$share"
	fi
	[ -n "$klog" ] || klog=$AIOPOLL_TOP/build/vm/kernel.log
	mkdir -p "$(dirname "$klog")"
}
