#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the virtme-ng guest (scripts/vng.sh): the counterpart of scripts/guest-init.sh.
#   vng-guest.sh RW-DIR PAYLOAD SHARE|-
# Writes the command's output to RW-DIR/out and its status to RW-DIR/status.
rw=$1 payload=$2 share=$3
exec >"$rw/out" 2>&1 </dev/null

finish() {
	echo "$1" >"$rw/status"
	sync
	exit 0
}

# vng's writable overlays need overlayfs, which the test kernel does not have: the few
# places the tests write get a tmpfs of their own.
for d in /tmp /dev/shm /lib/modules; do
	mountpoint -q "$d" && [ "$d" != /lib/modules ] && continue
	mount -t tmpfs tmpfs "$d" || { echo "aiopoll-vng: cannot mount a tmpfs on $d"; finish 125; }
done
chmod 1777 /tmp /dev/shm
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up 2>/dev/null
# Report hung tasks well before the host's timeout.
echo 60 >/proc/sys/kernel/hung_task_timeout_secs 2>/dev/null
export PATH="$payload/bin:$PATH" AIOPOLL_KO="$payload/aiopoll.ko" AIOPOLL_PAYLOAD="$payload" AIOPOLL_VNG=1

if ! insmod "$payload/aiopoll.ko"; then
	echo "aiopoll-vng: insmod aiopoll.ko failed"
	finish 126
fi
if [ "$share" != - ]; then cd "$share" || finish 125; else cd /tmp || finish 125; fi
sh "$rw/cmd"
status=$?
cd /
# The command may have unloaded the module itself; otherwise unloading must succeed.
if [ -d /sys/module/aiopoll ] && ! rmmod aiopoll; then
	echo "aiopoll-vng: rmmod aiopoll failed"
	[ $status -eq 0 ] && status=127
fi
finish $status
