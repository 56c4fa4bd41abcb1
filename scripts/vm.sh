#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the test kernel under QEMU, loads aiopoll.ko and runs one shell command in the guest.
#
#   scripts/vm.sh [options] -- 'shell command'
#     --payload DIR   staged files, mounted read-only at /aiopoll (must hold aiopoll.ko)
#     --share DIR     host directory mounted read-write at /share (the command's cwd)
#     --kernel DIR|FILE  kernel build directory (default: the cached test kernel), a stock
#                     kernel's KDIR from scripts/stock.sh (its aiopoll-boot/ holds vmlinuz and
#                     the modules it needs), or a kernel image (bzImage, vmlinuz)
#     --modules DIR   the kernel's own modules to load at boot, before the payload is mounted:
#                     DIR/NAME.ko for each NAME of DIR/order, in that order; parameters come
#                     from the kernel command line (NAME.param=value)
#     --timeout SEC   wall-clock limit for the whole guest run (default 1200)
#     --log FILE      where to keep the guest's kernel log (default build/vm/kernel.log)
#     --out FILE      also keep the command's output in FILE
#
# Exit status: the command's status; 124 on timeout; 125/126 when the guest could not set
# up or load the module; 127 when rmmod failed; and 1 when the command succeeded but the
# kernel log has a KASAN, lockdep, WARNING, BUG, refcount, hung-task or similar report, or
# when the guest died before the command finished (panic, oops with panic_on_oops).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runner_args vm.sh "$@"
# A stock kernel's own modules, unless --modules names others.
[ "$stock" = 1 ] && [ -z "$mods" ] && mods=$kdir/aiopoll-boot/modules
if [ -n "$mods" ]; then [ -f "$mods/order" ] || die "vm.sh: no $mods/order"; fi

host_install qemu-system-x86 busybox-static cpio

# The initramfs holds busybox and /init only; it is cached by the hash of both and of this
# script (which lays it out).
initramfs() {
	local bb=/bin/busybox key dir out
	key=$(cat "$bb" "$AIOPOLL_TOP/scripts/guest-init.sh" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)
	out=$AIOPOLL_CACHE/initramfs/$key.cpio.gz
	if [ ! -f "$out" ]; then
		dir=$(mktemp -d)
		chmod 0755 "$dir"
		mkdir -p "$dir"/{bin,sbin,proc,sys,dev,tmp,etc,root}
		chmod 1777 "$dir/tmp"
		cp "$bb" "$dir/bin/busybox"
		install -m 0755 "$AIOPOLL_TOP/scripts/guest-init.sh" "$dir/init"
		mkdir -p "$(dirname "$out")"
		(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -9) >"$out.tmp"
		mv "$out.tmp" "$out"
		rm -rf "$dir"
	fi
	# The boot modules go in a second archive after it (the kernel unpacks both), cached by
	# the hash of both.
	if [ -n "$mods" ]; then
		local base=$out m
		key=$( { echo "$base"; cat "$mods/order" $(sed "s|.*|$mods/&.ko|" "$mods/order"); } | sha256sum | cut -c1-12)
		out=$AIOPOLL_CACHE/initramfs/$key-modules.cpio.gz
		if [ ! -f "$out" ]; then
			dir=$(mktemp -d)
			# The archive's "." is the guest's / : world-readable, as in the first one.
			chmod 0755 "$dir"
			mkdir -p "$dir/boot-modules"
			while read -r m; do cp "$mods/$m.ko" "$dir/boot-modules/"; done <"$mods/order"
			cp "$mods/order" "$dir/boot-modules/"
			{ cat "$base"; (cd "$dir" && find . | cpio -o -H newc --quiet | gzip -9); } >"$out.tmp"
			mv "$out.tmp" "$out"
			rm -rf "$dir"
		fi
	fi
	echo "$out"
}

printf '%s\n' "$cmd" >"$payload/cmd"
out=$(mktemp)
initrd=$(initramfs)
pin=''
if [ "$no9p" = 1 ]; then
	# The payload as one more archive, unpacked at /aiopoll (made for this run only): the
	# archive's names go through a link named aiopoll to the payload directory.
	pin=$(mktemp "$AIOPOLL_TOP/build/vm/initrd.XXXXXX")
	d=$(mktemp -d)
	ln -s "$payload" "$d/aiopoll"
	{ cat "$initrd"; (cd "$d" && find -L aiopoll | cpio -o -L -H newc --quiet | gzip -1); } >"$pin"
	rm -rf "$d"
	initrd=$pin
fi
# A payload staged by scripts/build.sh for this run goes away with it.
case "$payload" in
"${AIOPOLL_BUILD_DIR:-$AIOPOLL_TOP/build}"/vm/payload.*) trap 'rm -f "$out" $pin; rm -rf "$payload"' EXIT ;;
*) trap 'rm -f "$out" $pin' EXIT ;;
esac
args=(-m 2G -smp 2 -display none -monitor none -no-reboot -nodefaults
	-kernel "$image" -initrd "$initrd"
	-serial "file:$klog" -serial "file:$out"
	-fsdev "local,id=payload,path=$payload,security_model=none,readonly=on"
	-device virtio-9p-pci,fsdev=payload,mount_tag=aiopoll)
# acpi=noirq: ACPI enumerates both vCPUs, but PCI interrupts keep the BIOS's routing table:
# evaluating QEMU's _PRT under emulation with KASAN can hit the AML loop timeout, leaving the
# NVMe disk without an interrupt.
append="console=ttyS0 loglevel=7 panic=-1 oops=panic acpi=noirq ${AIOPOLL_APPEND:-}"
if [ -n "$share" ]; then
	args+=(-fsdev "local,id=share,path=$share,security_model=none"
		-device virtio-9p-pci,fsdev=share,mount_tag=share)
	append+=" aiopoll.share=1"
fi
if [ "${AIOPOLL_KVM:-0}" = 1 ]; then args+=(-enable-kvm); fi
# Extra QEMU arguments (devices for the block tests, for example).
read -r -a extra <<<"${AIOPOLL_QEMU_ARGS:-}"

start=$(date +%s)
timeout -k 10 "$timeout" qemu-system-x86_64 "${args[@]}" "${extra[@]}" -append "$append" &
qpid=$!
# Stream the command's output while the guest runs (without QEMU's carriage returns).
tail -n +1 -f --pid=$qpid "$out" 2>/dev/null | tr -d '\r' | grep -av '^AIOPOLL-EXIT=' &
tpid=$!
set +e
wait $qpid
qrc=$?
set -e
wait $tpid 2>/dev/null || true
secs=$(( $(date +%s) - start ))

if [ -n "$keep" ]; then tr -d '\r' <"$out" | { grep -av '^AIOPOLL-EXIT=' || true; } >"$keep"; fi
rc=$(tr -d '\r' <"$out" | sed -n 's/^AIOPOLL-EXIT=\([0-9]*\)$/\1/p' | tail -n1)
guest_status "$rc" "$qrc" "$secs" "$timeout" "$klog" QEMU
