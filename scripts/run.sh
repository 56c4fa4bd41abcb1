#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: builds what is missing, boots a kernel, loads aiopoll.ko and runs the demo
# (scripts/demo-guest.sh): the echo example serving a few hundred loopback clients on
# aiopoll and on epoll, and the file copier.
#
# The kernel is Debian's stock 7.3.4+deb13-amd64 by default (downloaded, with the module
# built against its headers: scripts/stock.sh), so that a fresh machine builds no kernel.
# RUN_KERNEL=test boots the project's KASAN + lockdep test kernel instead (built once, about
# 15 minutes); RUN_KERNEL=stock-rt Debian's -rt-amd64 kernel; rt and perf the project's
# other flavours. With KDIR=, that tree's kernel.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -z "${KDIR:-}" ]; then
	case "${RUN_KERNEL:-stock}" in
	stock|stock-rt|stock-cloud|test|rt|perf) export AIOPOLL_FLAVOUR=${RUN_KERNEL:-stock} ;;
	*) die "RUN_KERNEL must be stock, stock-rt, stock-cloud, test, rt or perf" ;;
	esac
fi
B=$AIOPOLL_TOP/scripts/build.sh
"$B" module
"$B" userspace
payload=$("$B" payload)
cp "$AIOPOLL_TOP/scripts/demo-guest.sh" "$payload/demo.sh"
exec "$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout "${TIMEOUT:-900}" -- "sh /aiopoll/demo.sh"
