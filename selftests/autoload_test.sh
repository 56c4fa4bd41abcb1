#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Autoloading: with aiopoll unloaded, opening a device node of its fixed minor (10:243) makes
# the kernel ask modprobe for char-major-10-243, which the module's alias answers (as on an
# installed system, where kmod's static-nodes makes /dev/aiopoll at boot from the devname
# alias). The module goes to /lib/modules/RELEASE/extra with the guest's depmod; the kernel's
# modprobe helper is the guest's modprobe (busybox's, or kmod's in the virtme-ng guest).
# Leaves the module loaded. Prints TAP.
TAP_PREFIX="autoload: "
. "$(dirname "$0")/tap.sh"
rel=$(uname -r)
d=/lib/modules/$rel
log=/tmp/autoload.log

if grep -q '^aiopoll ' /proc/modules; then rmmod aiopoll >$log 2>&1; else : >$log; fi
tap $? "aiopoll unloaded" $log
mkdir -p "$d/extra" && cp "${AIOPOLL_KO:-/aiopoll/aiopoll.ko}" "$d/extra/" && depmod -a >$log 2>&1
tap $? "installed in $d/extra, depmod" $log
grep 'aiopoll' "$d/modules.alias" >$log 2>&1
grep -q 'char-major-10-243' $log && grep -q 'devname:aiopoll' $log
tap $? "modules.alias has char-major-10-243 and devname:aiopoll" $log
# An absolute path for the kernel (busybox's `command -v` names an applet without one).
mp=''
for p in /sbin/modprobe /usr/sbin/modprobe /bin/modprobe; do
	[ -x "$p" ] && { mp=$p; break; }
done
[ -n "$mp" ] && echo "$mp" >/proc/sys/kernel/modprobe && [ "$(cat /proc/sys/kernel/modprobe)" = "$mp" ] >$log 2>&1
tap $? "the kernel's modprobe helper is ${mp:-(none found)}" $log
rm -f /tmp/aiopoll-node
mknod /tmp/aiopoll-node c 10 243 && (exec 3</tmp/aiopoll-node) >$log 2>&1
tap $? "opening a node 10:243 succeeds with the module unloaded" $log
grep '^aiopoll ' /proc/modules >$log 2>&1
tap $? "the open loaded aiopoll" $log
ls -l /dev/aiopoll >$log 2>&1
grep -q ' 10, *243 ' $log
tap $? "/dev/aiopoll is 10:243" $log
rm -f /tmp/aiopoll-node
exit $status
