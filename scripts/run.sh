#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: builds what is missing, boots the test kernel, loads aiopoll.ko and runs the
# demo (scripts/demo-guest.sh): the echo example serving a few hundred loopback clients on
# aiopoll and on epoll, and the file copier.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

B=$AIOPOLL_TOP/scripts/build.sh
"$B" module
"$B" userspace
payload=$("$B" payload)
cp "$AIOPOLL_TOP/scripts/demo-guest.sh" "$payload/demo.sh"
exec "$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout "${TIMEOUT:-900}" -- "sh /aiopoll/demo.sh"
