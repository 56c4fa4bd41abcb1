#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# fio as a real client of the drop-in, in the guest: Debian's fio 3.33 linked statically with
# libaiopoll.a (scripts/fio.sh), its unmodified libaio engine, run with --thread (the guest has
# no SysV shm). Verify jobs (random 4 KiB writes with crc32c, then every block read back and
# checked) on the memory-backed null_blk device /dev/nullb0 (O_DIRECT) and on a tmpfs file
# (buffered), each with fio reaping through io_getevents() and from the ring in user space
# (--userspace_reap=1, which fio uses only with iodepth_batch_complete_min=0). fs/aio is
# switched off (fs.aio-max-nr = 0) and so is libaiopoll's fallback: a job that reached fs/aio
# instead of /dev/aiopoll fails. Any fio error or verify failure fails the test. Prints TAP.
fio=${AIOPOLL_FIO:-$(dirname "$0")/../fio/fio-aiopoll}
out=/tmp/fio-test.out
TAP_PREFIX='fio: '
. "$(dirname "$0")/tap.sh"

if [ ! -x "$fio" ]; then
	tap 1 "fio-aiopoll present ($fio)"
	exit $status
fi
maxnr=$(cat /proc/sys/fs/aio-max-nr)
echo 0 > /proc/sys/fs/aio-max-nr

# job TARGET DIRECT REAP DESCRIPTION
job() {
	extra=''
	[ "$3" = 1 ] && extra='--iodepth_batch_complete_min=0'
	LIBAIOPOLL_FALLBACK=0 "$fio" --name=verify --thread --ioengine=libaio \
		--filename="$1" --direct="$2" --userspace_reap="$3" $extra \
		--rw=randwrite --bs=4k --size=16M --iodepth=16 --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --exitall_on_error=1 > "$out" 2>&1
	rc=$?
	# The verify pass read every block back, and no job reported an error.
	[ $rc -eq 0 ] && grep -q 'READ: bw=' "$out" && grep -q 'WRITE: bw=' "$out" &&
		grep -q 'err= 0' "$out" && ! grep -qi 'verify: bad\|bad magic\|crc32c: verify failed' "$out" ||
		rc=1
	grep -E 'READ:|WRITE:|err=' "$out" | sed 's/^/# /'
	tap $rc "$4, userspace_reap=$3: randwrite 16 MiB, crc32c verified" "$out"
}

if [ -b /dev/nullb0 ]; then
	job /dev/nullb0 1 0 "libaio engine on libaiopoll, O_DIRECT on null_blk"
	job /dev/nullb0 1 1 "libaio engine on libaiopoll, O_DIRECT on null_blk"
else
	skip "libaio engine on libaiopoll, O_DIRECT on null_blk" "no /dev/nullb0"
fi
job /tmp/fio-verify.file 0 0 "libaio engine on libaiopoll, buffered on tmpfs"
rm -f /tmp/fio-verify.file
job /tmp/fio-verify.file 0 1 "libaio engine on libaiopoll, buffered on tmpfs"
rm -f /tmp/fio-verify.file
echo "$maxnr" > /proc/sys/fs/aio-max-nr
exit $status
