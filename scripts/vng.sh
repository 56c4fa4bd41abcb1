#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The virtme-ng runner: boots the test kernel with `vng`, which shares the host's own root
# file system with the guest (read-only, over 9p), loads aiopoll.ko and runs one shell
# command there. Unlike the busybox guest of scripts/vm.sh, every program of the host runs
# in this guest, dynamically linked ones included (the host's fio, python3, gdb, a libaio
# program with the drop-in on LD_LIBRARY_PATH).
#
#   scripts/vng.sh [options] -- 'shell command'
#
# Options, exit statuses and environment (AIOPOLL_QEMU_ARGS, AIOPOLL_APPEND, AIOPOLL_KVM) as
# for scripts/vm.sh, except --modules: vng boots kernels built by scripts/kernel.sh (a build
# directory or a bzImage), whose drivers are built in. Debian's stock kernels keep
# scripts/vm.sh (their 9p and virtio drivers are modules the busybox initramfs loads).
#
# In the guest: / is the host's, read-only; /tmp, /dev/shm and /lib/modules are fresh tmpfs
# mounts (the test kernel has no overlayfs for vng's writable overlays); the payload is seen
# at its host path, and --share DIR at its host path, read-write (the command's cwd).
# virtme-ng comes from PyPI (VNG_VERSION, default 1.42) into a virtualenv in the cache.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runner_args vng.sh "$@"
[ -z "$mods" ] || die "vng.sh: --modules is not supported (stock kernels run with scripts/vm.sh)"
[ "$stock" = 0 ] || die "vng.sh: $kdir is a stock kernel; its guest runs with scripts/vm.sh (VNG=1 covers the kernels scripts/kernel.sh builds)"

# depmod (virtme-prep-kdir-mods runs it), QEMU and a Python for the virtualenv.
host_install qemu-system-x86 kmod python3-venv
# The guest mounts a tmpfs on /lib/modules (the autoload test installs the module there): the
# directory must exist in the host's root, as it does wherever kmod is in use.
[ -d /lib/modules ] || mkdir -p /lib/modules
vver=${VNG_VERSION:-1.42}
venv=$AIOPOLL_CACHE/vng/virtme-ng-$vver
if [ ! -f "$venv/.complete" ]; then
	log "installing virtme-ng $vver from PyPI into $venv"
	rm -rf "$venv"
	/usr/bin/python3 -m venv "$venv"
	"$venv/bin/pip" install -q "virtme-ng==$vver" >&2 || { rm -rf "$venv"; die "pip could not install virtme-ng $vver"; }
	touch "$venv/.complete"
fi

# The command's output and status come back through a read-write directory of the host (the
# console carries the kernel log, which is kept apart from them).
rw=$(mktemp -d "$AIOPOLL_TOP/build/vm/vng.XXXXXX")
printf '%s\n' "$cmd" >"$rw/cmd"
: >"$rw/out"
case "$payload" in
"${AIOPOLL_BUILD_DIR:-$AIOPOLL_TOP/build}"/vm/payload.*) trap 'rm -rf "$rw" "$payload"' EXIT ;;
*) trap 'rm -rf "$rw"' EXIT ;;
esac

args=(--run "$image" --force-9p --memory 2G --cpus 2 --verbose --rwdir="$rw")
[ -n "$share" ] && args+=(--rwdir="$share")
[ "${AIOPOLL_KVM:-0}" = 1 ] || args+=(--disable-kvm)
[ -n "${AIOPOLL_QEMU_ARGS:-}" ] && args+=(--qemu-opts="$AIOPOLL_QEMU_ARGS")
# The options of scripts/vm.sh's guest that vng does not set itself.
append="oops=panic ${AIOPOLL_APPEND:-}"

start=$(date +%s)
PATH=$venv/bin:$PATH timeout -k 10 "$timeout" "$venv/bin/vng" "${args[@]}" --append "$append" \
	--exec "sh $AIOPOLL_TOP/scripts/vng-guest.sh $rw $payload ${share:--}" >"$klog" 2>&1 </dev/null &
qpid=$!
tail -n +1 -f --pid=$qpid "$rw/out" 2>/dev/null &
tpid=$!
set +e
wait $qpid
qrc=$?
set -e
wait $tpid 2>/dev/null || true
secs=$(( $(date +%s) - start ))

[ -n "$keep" ] && cp "$rw/out" "$keep"
rc=$(cat "$rw/status" 2>/dev/null || true)
guest_status "$rc" "$qrc" "$secs" "$timeout" "$klog" vng
