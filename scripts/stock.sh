#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Debian's stock kernels: builds aiopoll.ko against their headers and gets them ready to boot.
#
#   scripts/stock.sh kdir FLAVOUR|HEADERS   print a KDIR to build the module against:
#                 Debian's headers plus the Rust metadata they lack (rebuilt and checked once)
#   scripts/stock.sh fetch FLAVOUR          download and unpack Debian's packages; print the root
#   scripts/stock.sh check KDIR             the crate-hash check alone, on a KDIR printed above
#
# FLAVOUR is a Debian flavour of linux-image-$STOCK_ABI-*: amd64, rt-amd64 or cloud-amd64;
# its KDIR also holds aiopoll-boot/ (vmlinuz, and the kernel's own modules the guest loads,
# which scripts/vm.sh picks up). HEADERS is an installed or unpacked Debian headers directory,
# such as /usr/src/linux-headers-7.3.4+deb13-amd64.
#
# Debian builds its kernels with CONFIG_RUST=y, but linux-headers-* ship no Rust metadata
# (rust/*.rmeta, the proc-macro libraries, scripts/target.json), which an out-of-tree Rust
# module compiles against. They are rebuilt here with `make prepare` from linux-source of the
# same Debian version, with the headers' .config and .kernelvariables (gcc-14, the release),
# in the toolchain, which must have the rustc, bindgen and gcc that built the kernel: Kconfig
# records their versions, and the regenerated .config must equal the headers' one. Rust
# symbols carry a hash of the crate and the rustc that built it (`Cs2lKf6AS60Zg_4core` in
# `_RNvNtNtCs2lKf6AS60Zg_4core...`); before the metadata is used, the hashes of every crate in
# Module.symvers must equal the rebuilt ones, and every Rust symbol vmlinux exports must be
# defined by the rebuilt objects. Cached under $AIOPOLL_CACHE/stock/, by release and a key.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TC=$AIOPOLL_TOP/scripts/toolchain.sh
SROOT=$AIOPOLL_CACHE/stock

# The kernel's own modules the guest needs, loaded at boot from the initramfs in dependency
# order: the payload's 9p transport, then NVMe and ext4 for the polled-I/O tests.
BOOT_MODULES="9pnet_virtio 9p nvme ext4"
# Loaded by the tests themselves from the payload (selftests/run_tests.sh): null_blk.
TEST_MODULES="configfs null_blk"

release_of() { sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$1/include/generated/utsrelease.h"; }
pkgver_of() { sed -n 's/^#define LINUX_PACKAGE_ID " *Debian \(.*\)"$/\1/p' "$1/include/generated/package.h" 2>/dev/null; }
config_of() { sed -n "s/^$2=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$1/.config"; }

# fetch FLAVOUR: downloads and unpacks linux-{headers,base,binary,modules}-$STOCK_ABI-FLAVOUR,
# linux-headers-$STOCK_ABI-common and linux-kbuild-$STOCK_ABI; prints the root they are in.
fetch() {
	local f=$1 rel=$STOCK_ABI-$1 root p pkgs=() deb
	case "$f" in amd64|rt-amd64|cloud-amd64) ;; *) die "unknown Debian flavour $f (amd64, rt-amd64, cloud-amd64)" ;; esac
	root=$SROOT/pkg/$rel
	stamp_ok "$root" "$KSRC_PKGVER" && { echo "$root"; return 0; }
	for p in linux-headers-$rel linux-headers-$STOCK_ABI-common linux-kbuild-$STOCK_ABI \
		linux-base-$rel linux-binary-$rel linux-modules-$rel; do
		ls "$SROOT/dl/${p}_$(echo "$KSRC_PKGVER" | sed 's/:/%3a/')_"*.deb >/dev/null 2>&1 || pkgs+=("$p=$KSRC_PKGVER")
	done
	if [ ${#pkgs[@]} -gt 0 ]; then
		log "downloading Debian's $rel kernel (${#pkgs[@]} packages) from $KSRC_SUITE"
		debian_download "$SROOT/dl" "${pkgs[@]}" ||
			die "Debian's packages ${pkgs[*]} are not available from $(debian_mirror) $KSRC_SUITE (see $AIOPOLL_CACHE/kernel/apt.log); the project pins version $KSRC_PKGVER (KSRC_PKGVER in scripts/lib.sh)"
	fi
	rm -rf "$root"
	mkdir -p "$root"
	for p in linux-headers-$rel linux-headers-$STOCK_ABI-common linux-kbuild-$STOCK_ABI \
		linux-base-$rel linux-binary-$rel linux-modules-$rel; do
		deb=$(ls "$SROOT/dl/${p}_$(echo "$KSRC_PKGVER" | sed 's/:/%3a/')_"*.deb)
		dpkg-deb -x "$deb" "$root"
	done
	# depmod and modprobe -d look in lib/modules.
	[ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
	stamp_set "$root" "$KSRC_PKGVER"
	echo "$root"
}

# The Debian headers directory of a flavour (fetched) or as given.
headers_dir() {
	case "$1" in
	*/*) (cd "$1" && pwd -P) ;;
	*) echo "$(fetch "$1")/usr/src/linux-headers-$STOCK_ABI-$1" ;;
	esac
}

# The cache directory for a headers directory: release plus a key over what the rebuilt
# metadata depends on. Not the toolchain: whichever it is (host or chroot), rebuild() makes
# sure it is the one that built the kernel.
outdir() {
	local h=$1 key
	key=$( { cat "$h/.config" "$h/Module.symvers" "$h/include/generated/package.h"
		cat "$h/.kernelvariables" 2>/dev/null || true
		echo "$KSRC_PKG $KSRC_PKGVER"
		sed -n '/^# BUILD-KEY-START/,/^# BUILD-KEY-END/p' "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12)
	echo "$SROOT/$(release_of "$h")-$key"
}

# BUILD-KEY-START (edits between these markers change the cache key)

# rebuild H OUT: the Rust crates of headers H, rebuilt in OUT/rust (an O= tree of the source).
rebuild() {
	local h=$1 out=$2 src o want have
	o=$out/rust
	src=$("$AIOPOLL_TOP/scripts/kernel.sh" source)
	want=$(config_of "$h" CONFIG_RUSTC_VERSION_TEXT)
	have=$(cd "$src" && AIOPOLL_BINDS="$out" "$TC" exec rustc --version)
	[ "$want" = "$have" ] || die "$(release_of "$h") was built by '$want'; the toolchain has '$have' ($("$TC" mode)): its Rust metadata can only be rebuilt with the same rustc (the crate hashes of the kernel's Rust symbols depend on it)"
	# Kconfig probes `openssl` for ML-DSA support: without it the .config would differ.
	"$TC" ensure-pkg openssl
	rm -rf "$o"
	mkdir -p "$o"
	cp "$h/.config" "$o/.config"
	if [ -f "$h/.kernelvariables" ]; then cp "$h/.kernelvariables" "$o/"; fi
	log "rebuilding the Rust metadata of $(release_of "$h") from $KSRC_PKG $KSRC_PKGVER (about 5 minutes on 2 cores; cached afterwards)"
	(cd "$src" && AIOPOLL_BINDS="$out" "$TC" exec make -s O="$o" olddefconfig) >"$out/build.log" 2>&1 ||
		{ tail -n 20 "$out/build.log" >&2; die "olddefconfig with the headers' .config failed, see $out/build.log"; }
	if ! diff -u "$h/.config" "$o/.config" >"$out/config.diff"; then
		grep '^[-+]CONFIG\|^[-+]# CONFIG' "$out/config.diff" | head -n 20 >&2 || true
		die "the headers' .config does not survive olddefconfig with this source and toolchain (above, - the headers, + here; $out/config.diff): the toolchain or the source differs from what built $(release_of "$h")"
	fi
	# prepare builds scripts/target.json and everything under rust/.
	(cd "$src" && AIOPOLL_BINDS="$out" "$TC" exec make -s O="$o" -j"$(nproc)" prepare) >>"$out/build.log" 2>&1 ||
		{ tail -n 30 "$out/build.log" >&2; die "rebuilding the Rust crates failed, see $out/build.log"; }
}
# BUILD-KEY-END

# crates SYMBOLS-FILE: "crate hash" pairs of the v0-mangled symbols listed (one a line).
crates() {
	awk '{
		s = $0
		while (match(s, /Cs[0-9A-Za-z]*_[0-9]+/)) {
			m = substr(s, RSTART + 2, RLENGTH - 2); s = substr(s, RSTART + RLENGTH)
			u = index(m, "_"); n = substr(m, u + 1) + 0
			print substr(s, 1, n), substr(m, 1, u - 1)
		}
	}' "$1" | sort -u
}

# check KDIR: the crate hashes of the kernel's Rust symbols (Module.symvers) against the
# rebuilt objects, and every Rust symbol vmlinux exports defined by them. Dies on a mismatch.
check() {
	local k=$1 o t rel c h mine bad=0 n missing
	[ -f "$k/.aiopoll-stock" ] || die "$k is not a KDIR made by scripts/stock.sh"
	o=$(sed -n 's/^rust=//p' "$k/.aiopoll-stock")
	rel=$(release_of "$k")
	t=$(mktemp -d)
	awk -F'\t' '$3 == "vmlinux" && ($2 ~ /^_R/ || $2 ~ /^rust_helper_/) { print $2 }' \
		"$k/Module.symvers" | sort -u >"$t/symvers"
	[ -s "$t/symvers" ] || { rm -rf "$t"; die "$k/Module.symvers lists no Rust symbols of vmlinux"; }
	(cd "$o/rust" && "$TC" exec sh -c 'nm -p --defined-only *.o helpers/*.o 2>/dev/null' || true) |
		awk '$2 ~ /^[TRDB]$/ { print $3 }' | sort -u >"$t/defined"
	(cd "$o/rust" && "$TC" exec sh -c 'nm -p *.o' || true) | awk '{ print $NF }' | sort -u >"$t/all"
	crates "$t/symvers" >"$t/want"
	crates "$t/all" >"$t/have"
	while read -r c h; do
		mine=$(awk -v c="$c" '$1 == c { print $2 }' "$t/have" | paste -sd,)
		if [ "$mine" = "$h" ]; then
			log "crate $c: Module.symvers Cs${h}_, rebuilt Cs${mine}_: match"
		else
			log "crate $c: Module.symvers Cs${h}_, rebuilt Cs${mine:-?}_: MISMATCH"
			bad=1
		fi
	done <"$t/want"
	n=$(wc -l <"$t/symvers")
	missing=$(comm -23 "$t/symvers" "$t/defined" | wc -l)
	if [ "$missing" -ne 0 ]; then
		comm -23 "$t/symvers" "$t/defined" | head -n 5 | sed 's/^/[aiopoll]   not rebuilt: /' >&2 || true
		log "$missing of the $n Rust symbols vmlinux exports are not defined by the rebuilt crates"
		bad=1
	fi
	rm -rf "$t"
	[ $bad -eq 0 ] || die "the Rust crates rebuilt from $KSRC_PKG $KSRC_PKGVER with $(sed -n 's/^rustc=//p' "$k/.aiopoll-stock") do not match $rel (Debian $(pkgver_of "$k"), $(config_of "$k" CONFIG_RUSTC_VERSION_TEXT)); a module built against them would not link to that kernel"
	log "$rel: the rebuilt Rust crates match Module.symvers ($n Rust symbols of vmlinux)"
}

# overlay H OUT: OUT/kdir, a copy of the headers (the flavour's, the common ones and
# linux-kbuild, in Debian's layout) with the rebuilt rust/ metadata and scripts/target.json.
overlay() {
	local h=$1 out=$2 root hn common kbuild k
	root=$out/kdir
	hn=$(basename "$h")
	common=$(sed -n 's/^include \(.*\)\/Makefile$/\1/p' "$h/Makefile")
	[ -n "$common" ] || die "$h/Makefile does not include a common headers tree: not Debian's headers layout"
	[ -d "$common" ] || common=$(dirname "$h")/$(basename "$common")
	kbuild=$(dirname "$(readlink -f "$h/scripts")")
	[ -f "$common/Makefile" ] && [ -d "$kbuild/scripts" ] || die "cannot find the common headers ($common) or linux-kbuild ($kbuild) of $h"
	rm -rf "$root"
	mkdir -p "$root/usr/src" "$root/usr/lib"
	cp -a "$h" "$root/usr/src/$hn"
	cp -a "$common" "$root/usr/src/$(basename "$common")"
	cp -a "$kbuild" "$root/usr/lib/$(basename "$kbuild")"
	k=$root/usr/src/$hn
	for d in "$k" "$root/usr/src/$(basename "$common")"; do
		rm -f "$d/scripts" "$d/tools"
		ln -s "../../lib/$(basename "$kbuild")/scripts" "$d/scripts"
		ln -s "../../lib/$(basename "$kbuild")/tools" "$d/tools"
	done
	printf 'KBUILD_OUTPUT=%s\ninclude %s/Makefile\n' "$k" "$root/usr/src/$(basename "$common")" >"$k/Makefile"
	mkdir -p "$k/rust"
	cp "$out"/rust/rust/*.rmeta "$out"/rust/rust/*.so "$k/rust/"
	cp "$out/rust/scripts/target.json" "$k/scripts/"
	{
		echo "release=$(release_of "$h")"
		echo "debian=$(pkgver_of "$h")"
		echo "headers=$h"
		echo "rust=$out/rust"
		echo "rustc=$(cd "$out" && "$TC" exec rustc --version) ($("$TC" mode) toolchain)"
	} >"$k/.aiopoll-stock"
	echo "$k"
}

# boot FLAVOUR KDIR: KDIR/aiopoll-boot/: vmlinuz and modules/ (the boot modules, uncompressed,
# with their load order in modules/order, and the test modules).
boot() {
	local f=$1 k=$2 root rel b m
	root=$(fetch "$f")
	rel=$STOCK_ABI-$f
	b=$k/aiopoll-boot
	stamp_ok "$b" "$KSRC_PKGVER $BOOT_MODULES $TEST_MODULES" && return 0
	rm -rf "$b"
	mkdir -p "$b/modules"
	cp "$root/usr/lib/modules/$rel/vmlinuz" "$b/vmlinuz"
	if [ "$("$TC" mode)" = host ]; then host_install kmod xz-utils; else host_install xz-utils; fi
	# Only what the flavour builds as a module is loaded: -cloud builds NVMe and ext4 in, and
	# has no 9p at all (then the guest gets its payload in the initramfs: aiopoll-boot/no-9p).
	local want=() sym cfg=$root/usr/src/linux-headers-$rel/.config
	for m in $BOOT_MODULES; do
		case "$m" in
		9pnet_virtio) sym=CONFIG_NET_9P_VIRTIO ;;
		9p) sym=CONFIG_9P_FS ;;
		nvme) sym=CONFIG_BLK_DEV_NVME ;;
		ext4) sym=CONFIG_EXT4_FS ;;
		*) die "stock.sh: no configuration symbol known for the boot module $m" ;;
		esac
		case "$(config_of "$(dirname "$cfg")" "$sym")" in
		m) want+=("$m") ;;
		y) ;;
		*) [ "$sym" = CONFIG_9P_FS ] && : >"$b/no-9p" ;;
		esac
	done
	: >"$b/deps"
	if [ ${#want[@]} -gt 0 ]; then
		(cd "$b" && AIOPOLL_BINDS="$root" "$TC" exec sh -c '
			set -e
			PATH=$PATH:/usr/sbin:/sbin
			root=$1 rel=$2
			shift 2
			depmod -b "$root" "$rel"
			modprobe -a -d "$root" -S "$rel" --show-depends "$@"
		' sh "$root" "$rel" "${want[@]}") >"$b/deps" || die "cannot resolve the dependencies of ${want[*]} in $root"
	fi
	: >>"$b/modules/order"
	awk '$1 == "insmod" { print $2 }' "$b/deps" | awk '!seen[$0]++' | while read -r m; do
		xz -dc "$m" >"$b/modules/$(basename "$m" .xz)"
		basename "$m" .ko.xz >>"$b/modules/order"
	done
	for m in $TEST_MODULES; do
		m=$(find "$root/usr/lib/modules/$rel/kernel" -name "$m.ko.xz" | head -n1)
		[ -n "$m" ] && xz -dc "$m" >"$b/modules/$(basename "$m" .xz)"
	done
	rm -f "$b/deps"
	stamp_set "$b" "$KSRC_PKGVER $BOOT_MODULES $TEST_MODULES"
}

kdir() {
	local h out k rel pv
	h=$(headers_dir "$1")
	[ -f "$h/.config" ] && [ -f "$h/Module.symvers" ] && [ -f "$h/include/generated/utsrelease.h" ] ||
		die "$h is not a kernel headers directory (.config, Module.symvers, include/generated)"
	grep -q '^CONFIG_RUST=y' "$h/.config" || die "$h: the kernel has no CONFIG_RUST=y: aiopoll is written in Rust"
	rel=$(release_of "$h")
	pv=$(pkgver_of "$h")
	[ "$pv" = "$KSRC_PKGVER" ] ||
		die "$h is Debian's $rel of version '${pv:-unknown}'; the project rebuilds the Rust metadata from $KSRC_PKG $KSRC_PKGVER, which must be the same version (KSRC_PKGVER in scripts/lib.sh)"
	out=$(outdir "$h")
	mkdir -p "$out"
	exec 9>"$out.lock"
	flock 9
	k=$out/kdir/usr/src/$(basename "$h")
	if ! stamp_ok "$out" ready; then
		"$TC" ensure
		stamp_ok "$out/rust" built || { rebuild "$h" "$out"; stamp_set "$out/rust" built; }
		k=$(overlay "$h" "$out")
		check "$k"
		stamp_set "$out" ready
	fi
	case "$1" in */*) ;; *) boot "$1" "$k" ;; esac
	echo "$k"
}

case "${1:-}" in
kdir) [ $# -eq 2 ] || die "usage: $0 kdir FLAVOUR|HEADERS-DIR"; kdir "$2" ;;
fetch) [ $# -eq 2 ] || die "usage: $0 fetch FLAVOUR"; fetch "$2" ;;
check) [ $# -eq 2 ] || die "usage: $0 check KDIR"; check "$2" ;;
*) die "usage: $0 kdir FLAVOUR|HEADERS-DIR | fetch FLAVOUR | check KDIR" ;;
esac
