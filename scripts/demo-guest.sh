#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The demo of `make run`, in the guest (aiopoll.ko is loaded): the echo example serving a
# few hundred loopback clients on aiopoll, the same loop on epoll, and a summary.
clients=${DEMO_CLIENTS:-200}
messages=${DEMO_MESSAGES:-10}
# The kernel's debug options, as the guest sees them (the test kernel has both, a stock one
# neither).
debug=
grep -q ' kasan_report$' /proc/kallsyms 2>/dev/null && debug="KASAN"
[ -e /proc/lockdep ] && debug="${debug:+$debug + }lockdep"
echo "== guest: $(uname -sr), $(nproc) CPUs under QEMU software emulation, ${debug:-no KASAN or lockdep}"
echo "== aiopoll.ko loaded: $(grep -c '^aiopoll ' /proc/modules) module, device $(ls -l /dev/aiopoll | awk '{ print $1, $5, $6, $NF }')"
echo "== TCP echo on loopback: $clients client threads x $messages messages of 64 bytes"
echo "   server: one event loop; aiopoll POLL (multishot on the listener), PREAD and PWRITE"
echo "   iocbs on the sockets, completions reaped from the mmap'ed ring (examples/echo.c)"
status=0
aiopoll-echo --clients "$clients" --messages "$messages" > /tmp/a.out 2>&1 || status=1
cat /tmp/a.out
echo "== the same loop on epoll_wait + read/write"
aiopoll-echo --epoll --clients "$clients" --messages "$messages" > /tmp/e.out 2>&1 || status=1
cat /tmp/e.out
echo "== summary"
awk '
/^aiopoll:/ { for (i = 1; i <= NF; i++) { if ($i == "served") ar = $(i + 1); if ($i == "in") at = $(i + 1); if ($i == "errors") ae = $(i - 1) } }
/^epoll:/ { for (i = 1; i <= NF; i++) { if ($i == "served") er = $(i + 1); if ($i == "in") et = $(i + 1); if ($i == "errors") ee = $(i - 1) } }
END {
	printf "requests served: aiopoll %d, epoll %d; errors: aiopoll %s, epoll %s\n", ar, er, (ae == 0 ? "none" : ae), (ee == 0 ? "none" : ee)
	if (at > 0 && et > 0)
		printf "wall time: aiopoll %.2f s, epoll %.2f s (aiopoll/epoll %.2fx; one run under emulation%s: make bench measures properly)\n", at, et, at / et, debug
}' debug="${debug:+ with $debug}" /tmp/a.out /tmp/e.out
echo "== file copy with 8 requests in flight (examples/copy.c)"
head -c 4000000 /dev/urandom > /tmp/src
if aiopoll-copy /tmp/src /tmp/dst && cmp /tmp/src /tmp/dst; then
	echo "copy identical to the source"
else
	status=1
fi
exit $status
