#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The C examples (/aiopoll/bin), in the guest: the echo server with its clients, on aiopoll
# and on epoll, and the file copier with the copy compared byte for byte. Prints TAP. (The
# Rust examples run with the crate's tests, in aiopoll_crate_test.)
bin=$(dirname "$0")/../bin
. "$(dirname "$0")/tap.sh"

run_echo() {	# run_echo <binary> <name> [--epoll]
	"$1" --clients 50 --messages 10 $3 > /tmp/echo.out 2>&1
	rc=$?
	cat /tmp/echo.out | sed 's/^/# /'
	grep -q "served .* for 50 clients in .* 0 errors" /tmp/echo.out || rc=1
	tap $rc "examples: $2 ${3:-aiopoll}: 50 clients x 10 messages echoed, 0 errors" /tmp/echo.out
}

run_copy() {	# run_copy <binary> <name>
	rm -f /tmp/copy.dst
	"$1" /tmp/copy.src /tmp/copy.dst > /tmp/copy.out 2>&1 && cmp /tmp/copy.src /tmp/copy.dst
	tap $? "examples: $2 copies a 1,000,000-byte file exactly" /tmp/copy.out
}

head -c 1000000 /dev/urandom > /tmp/copy.src
run_echo "$bin/aiopoll-echo" aiopoll-echo
run_echo "$bin/aiopoll-echo" aiopoll-echo --epoll
run_copy "$bin/aiopoll-copy" aiopoll-copy
exit $status
