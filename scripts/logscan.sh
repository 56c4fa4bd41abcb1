#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scans a guest kernel log for reports that make a test run fail. Prints each report with
# some context and exits 1 if there is any, 0 if the log is clean.
set -u
log=${1:?usage: logscan.sh KERNEL-LOG}
[ -f "$log" ] || { echo "logscan: no log $log" >&2; exit 1; }
# KASAN, lockdep ("WARNING: possible circular locking", "inconsistent lock state", ...),
# WARN_ON (WARNING:), BUG and oopses, refcount_t saturation/underflow, hung tasks, soft
# lockups and RCU stalls, debugobjects, list corruption, UBSAN, kmemleak and panics.
pattern='BUG:|WARNING:|KASAN|refcount_t:|INFO: task .* blocked for more than|soft lockup|rcu_.* detected stalls|self-detected stall|ODEBUG:|list_(add|del) corruption|UBSAN:|kmemleak: [0-9]+ new suspected|Kernel panic|Oops|general protection fault|kernel BUG at|possible recursive locking|inconsistent lock state|Call Trace:'
# Allocation failures that the fault-injection test provokes on purpose are expected: between
# the markers "aiopoll-fault: begin" and "aiopoll-fault: end" it writes to /dev/kmsg, the stack
# dumps of warn_alloc() ("page allocation failure", "vmalloc error") are dropped, up to the end
# of their trace. Everything else in that window, KASAN and lockdep included, still counts.
filtered() {
	tr -d '\r' <"$log" | awk '
		/aiopoll-fault: begin/ { window = 1 }
		/aiopoll-fault: end/ { window = 0 }
		window && /page allocation failure|vmalloc error/ { skip = 1 }
		skip { if (/<\/TASK>/) skip = 0; next }
		{ print }'
}
if filtered | grep -qE "$pattern"; then
	echo "=== kernel reports in $log ===" >&2
	filtered | grep -nE -A25 "$pattern" | head -n 200 >&2
	exit 1
fi
exit 0
