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
if tr -d '\r' <"$log" | grep -qE "$pattern"; then
	echo "=== kernel reports in $log ===" >&2
	tr -d '\r' <"$log" | grep -nE -A25 "$pattern" | head -n 200 >&2
	exit 1
fi
exit 0
