#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the aiopoll test guest (busybox initramfs made by scripts/vm.sh).
#
# The kernel console is ttyS0; everything the command prints goes to ttyS1, so the host
# keeps the kernel log and the command's output apart. Protocol on ttyS1: the command's
# output, then one line "AIOPOLL-EXIT=<status>".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /aiopoll /share /mnt
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
exec >/dev/ttyS1 2>&1 </dev/null

status=0
finish() {
	echo "AIOPOLL-EXIT=$1"
	sync
	reboot -f
}

# A stock kernel's own modules (scripts/vm.sh --modules), in their order, with the parameters
# the kernel command line gives them (NAME.param=value), as modprobe would.
if [ -f /boot-modules/order ]; then
	while read -r m; do
		n=$(echo "$m" | tr - _)
		# shellcheck disable=SC2046 # one word per parameter
		insmod "/boot-modules/$m.ko" $(tr ' ' '\n' </proc/cmdline | sed -n "s/^$n\.//p") ||
			echo "aiopoll-guest: insmod $m failed"
	done </boot-modules/order
fi
# The payload over 9p, unless it came in the initramfs (a kernel without 9p: Debian's -cloud).
if [ -f /aiopoll/aiopoll.ko ]; then
	:
elif ! mount -t 9p -o trans=virtio,version=9p2000.L,ro aiopoll /aiopoll; then
	echo "aiopoll-guest: cannot mount the payload"
	finish 125
fi
if grep -q 'aiopoll.share=1' /proc/cmdline; then
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share ||
		{ echo "aiopoll-guest: cannot mount /share"; finish 125; }
fi
ip link set lo up 2>/dev/null
# Report hung tasks well before the host's timeout.
echo 60 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null
export PATH=/aiopoll/bin:$PATH AIOPOLL_KO=/aiopoll/aiopoll.ko AIOPOLL_PAYLOAD=/aiopoll

if ! insmod /aiopoll/aiopoll.ko; then
	echo "aiopoll-guest: insmod aiopoll.ko failed"
	finish 126
fi
cd /share 2>/dev/null || cd /tmp
sh /aiopoll/cmd
status=$?
cd /
# The command may have unloaded the module itself; otherwise unloading must succeed.
if [ -d /sys/module/aiopoll ] && ! rmmod aiopoll; then
	echo "aiopoll-guest: rmmod aiopoll failed"
	[ $status -eq 0 ] && status=127
fi
finish $status
