#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the virtme-ng guest only (scripts/vng.sh sets AIOPOLL_VNG=1): the guest's root is the
# host's, so the libaio differential programs linked to libaio.so.1 run as any installed
# program would, with the host's own loader and libc (the busybox guest needs the loader
# staged beside them, selftests/libaio/run_diff.sh). Each runs once on the host's libaio.so.1
# (fs/aio) and once with libaiopoll's drop-in found through LD_LIBRARY_PATH while fs/aio is
# switched off; both transcripts must be the same. Prints TAP; skips elsewhere.
TAP_PREFIX="vng: "
. "$(dirname "$0")/tap.sh"
d=$(dirname "$0")/../libaio
out=/tmp/vng-host
progs="diff_basic diff_poll diff_badargs"
if [ "${AIOPOLL_VNG:-0}" != 1 ]; then
	for p in $progs; do skip "$p on the host's libaio.so.1 and on the drop-in" "not a virtme-ng guest"; done
	exit 0
fi
mkdir -p $out
maxnr=$(cat /proc/sys/fs/aio-max-nr)
for p in $progs; do
	if [ ! -x "$d/$p.dyn" ]; then
		tap 1 "$p: $d/$p.dyn is staged"
		continue
	fi
	"$d/$p.dyn" >$out/$p.sys 2>$out/$p.sys.err
	tap $? "$p on the host's libaio.so.1 (fs/aio) meets its expectations" $out/$p.sys.err
	echo 0 >/proc/sys/fs/aio-max-nr
	LD_LIBRARY_PATH="$d/dyn/aiopoll" LIBAIOPOLL_FALLBACK=0 "$d/$p.dyn" >$out/$p.drop 2>$out/$p.drop.err
	rc=$?
	echo "$maxnr" >/proc/sys/fs/aio-max-nr
	tap $rc "$p on libaiopoll's drop-in, fs/aio off, meets its expectations" $out/$p.drop.err
	same $out/$p.sys $out/$p.drop "$p on libaiopoll's drop-in, fs/aio off: same transcript"
done
exit $status
