#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Smoke test of the readiness-polling benchmark (bench/poll_bench.c), in the guest: one run
# of every test with tiny sizes (N = 1 and 16 pipes, 256 events, 64 round trips in each
# latency test, 64 cancels, 64 armed polls for the memory test). Checks that the program
# exits 0 and prints a figure for every system and test; times nothing. Prints TAP.
#
#   bench_smoke.sh   (POLL_BENCH=/path/to/poll_bench overrides the binary)
bin=${POLL_BENCH:-$(dirname "$0")/../bin/poll_bench}
[ -x "$bin" ] || bin=/aiopoll/bin/poll_bench
out=/tmp/bench_smoke.out
TAP_PREFIX='bench smoke: '
. "$(dirname "$0")/tap.sh"

# has <awk condition>: a result line of the output satisfies it.
has() {
	awk "$1 { found = 1 } END { exit !found }" "$out"
}

if [ ! -x "$bin" ]; then
	tap 1 "poll_bench binary present ($bin)"
	exit 1
fi
systems=$("$bin" list | cut -d' ' -f1)
cancels=$("$bin" list | grep -v 'no cancel' | cut -d' ' -f1)
"$bin" -r 1 -e 256 -n 1,16 -b 8 -l 64 -c 64 -m 64 all > "$out" 2>&1
rc=$?
sed 's/^/# /' "$out"
tap $rc "poll_bench all exited with status $rc"
for s in $systems; do
	for N in 1 16; do
		has "\$1 == \"tput\" && \$2 == \"$s\" && \$3 == $N && \$4 >= 256 && \$5 > 0"
		tap $? "$s: poll throughput with $N armed pipes (events/s)"
	done
	has "\$1 == \"lat\" && \$2 == \"$s\" && \$3 == 64 && \$4 > 0 && \$5 >= \$4"
	tap $? "$s: ping-pong round trip p50 and p99"
	has "\$1 == \"lat1\" && \$2 == \"$s\" && \$3 == 64 && \$4 > 0 && \$5 >= \$4"
	tap $? "$s: ping-pong round trip p50 and p99, both threads on one CPU"
	has "\$1 == \"mem\" && \$2 == \"$s\" && \$3 == 64 && NF == 5"
	tap $? "$s: memory per armed poll"
done
for s in $cancels; do
	has "\$1 == \"cancel\" && \$2 == \"$s\" && \$3 == 64 && \$4 > 0"
	tap $? "$s: arm and cancel (ops/s)"
done
# Every figure line carries the costs: system calls and context switches per unit of work.
has "(\$1 == \"tput\" || \$1 ~ /^lat/) && NF != 9 || \$1 == \"cancel\" && NF != 8"
[ $? -ne 0 ]
tap $? "every line has its syscall and context-switch counts"
exit $status
