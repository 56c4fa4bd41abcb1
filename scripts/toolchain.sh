#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Provides a toolchain that can build Linux 7.3 with Rust and KASAN (clang/libclang >= 17,
# rustc >= 1.85 with rust-src, bindgen >= 0.71.1), and runs commands with it.
#
#   scripts/toolchain.sh ensure          make sure a toolchain exists (host or chroot)
#   scripts/toolchain.sh llvm            print the LLVM= value to pass to kbuild
#   scripts/toolchain.sh exec CMD...     run CMD in the current directory with the toolchain
#   scripts/toolchain.sh ensure-pkg PKG...   install Debian packages one script needs besides the
#                                        toolchain (in the chroot, or on a Debian host)
#
# The host's toolchain is used when it meets the minimums; otherwise (Debian bookworm, for
# example) a Debian trixie chroot is made with debootstrap under $AIOPOLL_CACHE. Set
# AIOPOLL_TOOLCHAIN=host or =chroot to force one.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Prints the LLVM= suffix of a usable host clang ("1" or "-NN"), or fails.
host_llvm() {
	local v cc ver
	for v in "" -23 -22 -21 -20 -19 -18 -17; do
		cc=clang$v
		command -v "$cc" >/dev/null 2>&1 || continue
		command -v "ld.lld$v" >/dev/null 2>&1 || continue
		ver=$("$cc" -dumpversion 2>/dev/null) || continue
		version_ge "$ver" "$MIN_CLANG" || continue
		if [ -z "$v" ]; then echo 1; else echo "$v"; fi
		return 0
	done
	return 1
}

host_ok() {
	local rv bv sysroot
	host_llvm >/dev/null || return 1
	command -v rustc >/dev/null 2>&1 && command -v bindgen >/dev/null 2>&1 || return 1
	rv=$(rustc --version | awk '{print $2}')
	version_ge "$rv" "$MIN_RUSTC" || return 1
	bv=$(bindgen --version | awk '{print $2}')
	version_ge "$bv" "$MIN_BINDGEN" || return 1
	sysroot=$(rustc --print sysroot)
	[ -d "$sysroot/lib/rustlib/src/rust/library" ] || return 1
	# bindgen needs a libclang >= 17 as well; the kernel's own check is authoritative later.
	return 0
}

mode() {
	case "${AIOPOLL_TOOLCHAIN:-auto}" in
	host) echo host ;;
	chroot) echo chroot ;;
	auto) if host_ok; then echo host; else echo chroot; fi ;;
	*) die "AIOPOLL_TOOLCHAIN must be host, chroot or auto" ;;
	esac
}

ensure_chroot() {
	local want="trixie:$CHROOT_PKGS"
	stamp_ok "$CHROOT_DIR" "$want" && return 0
	[ "$(id -u)" -eq 0 ] || die "the Debian trixie toolchain chroot needs root (debootstrap, chroot); or install clang/libclang >= $MIN_CLANG, rustc >= $MIN_RUSTC with rust-src and bindgen >= $MIN_BINDGEN and set AIOPOLL_TOOLCHAIN=host"
	if [ -f "$CHROOT_DIR/.aiopoll-stamp" ]; then
		# The package list grew: add what is missing to the existing chroot.
		log "installing new packages into the toolchain chroot"
		unshare --mount --propagation private -- sh -c '
			mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
			chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
				sh -c "apt-get update && apt-get install -y --no-install-recommends $2"
		' sh "$CHROOT_DIR" "$(echo "$CHROOT_PKGS" | tr , ' ')" >"$AIOPOLL_CACHE/chroot-apt.log" 2>&1 ||
			die "could not install packages into $CHROOT_DIR, see $AIOPOLL_CACHE/chroot-apt.log"
		stamp_set "$CHROOT_DIR" "$want"
		return 0
	fi
	host_install debootstrap
	local mirror tmp
	mirror=$(debian_mirror)
	tmp=$CHROOT_DIR.tmp
	rm -rf "$tmp"
	log "creating Debian trixie toolchain chroot (about 2 minutes) from $mirror"
	debootstrap --variant=minbase --include="$CHROOT_PKGS" trixie "$tmp" "$mirror" >"$AIOPOLL_CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap of trixie failed, see $AIOPOLL_CACHE/debootstrap.log"
	rm -rf "$CHROOT_DIR"
	mv "$tmp" "$CHROOT_DIR"
	stamp_set "$CHROOT_DIR" "$want"
}

# Packages beyond CHROOT_PKGS that a script needs (scripts/stock.sh: openssl, whose presence
# Kconfig probes), added to the chroot when missing without touching its stamp, so that the
# chroot other checkouts share stays theirs as well.
ensure_pkg() {
	local missing=() p
	if [ "$(mode)" = host ]; then
		command -v dpkg-query >/dev/null 2>&1 && host_install "$@"
		return 0
	fi
	ensure_chroot
	for p in "$@"; do
		chroot "$CHROOT_DIR" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "the toolchain chroot lacks ${missing[*]}; installing needs root"
	log "installing ${missing[*]} into the toolchain chroot"
	unshare --mount --propagation private -- sh -c '
		mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
		chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
			sh -c "apt-get install -y --no-install-recommends $2 || { apt-get update && apt-get install -y --no-install-recommends $2; }"
	' sh "$CHROOT_DIR" "${missing[*]}" >"$AIOPOLL_CACHE/chroot-apt.log" 2>&1 ||
		die "could not install ${missing[*]} into $CHROOT_DIR, see $AIOPOLL_CACHE/chroot-apt.log"
}

ensure() {
	mkdir -p "$AIOPOLL_CACHE"
	if [ "$(mode)" = chroot ]; then ensure_chroot; fi
}

llvm() {
	if [ "$(mode)" = chroot ]; then echo -19; else host_llvm; fi
}

# Runs "$@" in $PWD. In the chroot, the cache, the repository, $PWD and any directory in
# $AIOPOLL_BINDS (colon separated) are bind-mounted at their own paths inside a private
# mount namespace, so nothing stays mounted when the command ends.
tc_exec() {
	if [ "$(mode)" = host ]; then
		"$@"
		return
	fi
	ensure_chroot
	local binds=("$AIOPOLL_CACHE/kernel" "$AIOPOLL_TOP" "$PWD") d
	IFS=: read -r -a extra <<<"${AIOPOLL_BINDS:-}"
	for d in "${extra[@]}"; do [ -n "$d" ] && binds+=("$d"); done
	mkdir -p "$AIOPOLL_CACHE/kernel"
	unshare --mount --propagation private -- bash -c '
		set -e
		root=$1; shift
		n=$1; shift
		for ((i = 0; i < n; i++)); do
			mkdir -p "$root$1"
			mount --bind "$1" "$root$1"
			shift
		done
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
			LANG=C.UTF-8 /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$@"
	' bash "$CHROOT_DIR" "${#binds[@]}" "${binds[@]}" "$PWD" "$@"
}

case "${1:-}" in
ensure) ensure ;;
llvm) llvm ;;
mode) mode ;;
exec) shift; tc_exec "$@" ;;
ensure-pkg) shift; ensure_pkg "$@" ;;
*) die "usage: $0 ensure|llvm|mode|exec CMD...|ensure-pkg PKG..." ;;
esac
