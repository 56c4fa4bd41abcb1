#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: builds what is missing, boots the test kernel, loads aiopoll.ko and shows the
# module at work.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

B=$AIOPOLL_TOP/scripts/build.sh
"$B" module
payload=$("$B" payload)
exec "$AIOPOLL_TOP/scripts/vm.sh" --payload "$payload" --kernel "$("$B" kdir)" \
	--timeout "${TIMEOUT:-600}" -- '
echo "== guest kernel"; cat /proc/version
echo "== module"; grep aiopoll /proc/modules; dmesg | grep "aiopoll:"
echo "== device"; ls -l /dev/aiopoll
echo "== a context (fdinfo of an open /dev/aiopoll)"
exec 3<>/dev/aiopoll; cat /proc/$$/fdinfo/3; exec 3>&-
'
