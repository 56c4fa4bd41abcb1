#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fetches, configures and builds the test kernels, cached by version, flavour and config.
#
#   scripts/kernel.sh source            unpack linux-source $KVER; print its path
#   scripts/kernel.sh build [FLAVOUR]   build a kernel; print its build (O=) directory
#   scripts/kernel.sh dir [FLAVOUR]     print the build directory without building
#
# FLAVOUR is "test" (default: KASAN, lockdep and the other debug options), "perf" (the same
# kernel without the debug options, for benchmarks) or "rt" (the test kernel with PREEMPT_RT). The configuration is tinyconfig plus
# selftests/config (plus scripts/config.perf or config.rt); the cache key hashes those files,
# the kernel version, this script and the toolchain, so editing a fragment rebuilds.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TC=$AIOPOLL_TOP/scripts/toolchain.sh
KROOT=$AIOPOLL_CACHE/kernel
KSRC=$KROOT/src/linux-$KVER

ensure_source() {
	stamp_ok "$KSRC" "$KSRC_PKG=$KSRC_PKGVER" && return 0
	local dl=$KROOT/dl deb
	mkdir -p "$KROOT/src"
	deb=$(ls "$dl"/${KSRC_PKG}_*.deb 2>/dev/null | grep -F "$(echo "$KSRC_PKGVER" | sed 's/:/%3a/')" | head -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $KSRC_PKG=$KSRC_PKGVER from $KSRC_SUITE"
		debian_download "$dl" "$KSRC_PKG=$KSRC_PKGVER" ||
			die "package $KSRC_PKG version $KSRC_PKGVER is not available from $(debian_mirror) $KSRC_SUITE (see $KROOT/apt.log); the project pins that version: point KDIR= at your own tree or update KSRC_PKGVER in scripts/lib.sh"
		deb=$(ls "$dl"/${KSRC_PKG}_*.deb | head -n1)
	fi
	log "unpacking $(basename "$deb") (about a minute)"
	local tmp=$KROOT/src/tmp.$$
	rm -rf "$tmp" "$KSRC"
	mkdir -p "$tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/src/
	tar -xf "$tmp"/usr/src/linux-source-*.tar.xz -C "$tmp"
	mv "$tmp"/linux-source-* "$KSRC" 2>/dev/null || mv "$(find "$tmp" -maxdepth 1 -type d -name 'linux-source-*' | head -n1)" "$KSRC"
	rm -rf "$tmp"
	grep -q "^SUBLEVEL = ${KVER##*.}" "$KSRC/Makefile" || die "unpacked tree is not $KVER"
	stamp_set "$KSRC" "$KSRC_PKG=$KSRC_PKGVER"
}

fragments() {
	echo "$AIOPOLL_TOP/selftests/config"
	case "$1" in
	perf) echo "$AIOPOLL_TOP/scripts/config.perf" ;;
	rt) echo "$AIOPOLL_TOP/scripts/config.rt" ;;
	esac
	return 0
}

builddir() {
	local flavour=$1 key
	key=$( { echo "$KVER $KSRC_PKGVER $flavour $("$TC" mode) $("$TC" llvm)"
		fragments "$flavour" | xargs cat
		sed -n '/^# BUILD-KEY-START/,/^# BUILD-KEY-END/p' "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12)
	echo "$KROOT/build/$KVER-$flavour-$key"
}

# BUILD-KEY-START (edits between these markers change the cache key)
build() {
	local flavour=$1 out llvm
	out=$(builddir "$flavour")
	stamp_ok "$out" built && { echo "$out"; return 0; }
	"$TC" ensure
	ensure_source
	llvm=$("$TC" llvm)
	mkdir -p "$out"
	log "building the $flavour kernel in $out (about 12 minutes on 2 cores; cached afterwards)"
	local frags
	frags=$(fragments "$flavour" | tr '\n' ' ')
	(cd "$KSRC" && AIOPOLL_BINDS="$out" "$TC" exec sh -c "
		set -e
		make -s LLVM=$llvm O='$out' tinyconfig
		scripts/kconfig/merge_config.sh -m -O '$out' '$out/.config' $frags >/dev/null
		make -s LLVM=$llvm O='$out' olddefconfig
	") >"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log" >&2; die "kernel configuration failed, see $out/build.log"; }
	check_config "$out" "$frags"
	(cd "$KSRC" && AIOPOLL_BINDS="$out" "$TC" exec \
		make -s LLVM="$llvm" O="$out" -j"$(nproc)" bzImage modules) >>"$out/build.log" 2>&1 ||
		{ tail -n 30 "$out/build.log" >&2; die "kernel build failed, see $out/build.log"; }
	stamp_set "$out" built
	echo "$out"
}
# BUILD-KEY-END

# Options a fragment asks for that may drop out, with the reason given when they do.
declare -A OPTIONAL_CONFIG=(
	[CONFIG_RUST_INLINE_HELPERS]="the toolchain's clang and rustc use different LLVM majors (RUSTC_CLANG_LLVM_COMPATIBLE); the C helpers stay out-of-line calls (slower, otherwise the same)"
)

# Every option a fragment asks for must have survived olddefconfig; a silently dropped one
# (an unmet dependency) would make the test kernel weaker than it claims.
check_config() {
	local out=$1 frags=$2 line sym want have bad=0
	declare -A final=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) final[${line%%=*}]=${line#*=} ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; final[${sym%% *}]=n ;;
		esac
	done <"$out/.config"
	declare -A wanted=()
	for f in $frags; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*) wanted[${line%%=*}]=${line#*=} ;;
			"# CONFIG_"*" is not set") sym=${line#\# }; wanted[${sym%% *}]=n ;;
			esac
		done <"$f"
	done
	for sym in "${!wanted[@]}"; do
		want=${wanted[$sym]}
		have=${final[$sym]:-n}
		if [ "$want" != "$have" ] && [ -n "${OPTIONAL_CONFIG[$sym]:-}" ]; then
			log "config: $sym wanted $want, got $have: ${OPTIONAL_CONFIG[$sym]}"
			continue
		fi
		if [ "$want" != "$have" ]; then
			log "config: $sym wanted $want, got $have"
			bad=1
		fi
	done
	[ $bad -eq 0 ] || die "the kernel configuration lost options of the fragment (see above); fix selftests/config"
}

case "${1:-}" in
source) ensure_source; echo "$KSRC" ;;
build)
	# One build per kernel at a time: a second caller (make check next to make bench, say)
	# waits for the first and then finds the kernel cached.
	d=$(builddir "${2:-test}")
	mkdir -p "$(dirname "$d")"
	exec 9>"$d.lock"
	flock 9
	build "${2:-test}"
	;;
dir) builddir "${2:-test}" ;;
*) die "usage: $0 source|build [test|perf|rt]|dir [test|perf|rt]" ;;
esac
