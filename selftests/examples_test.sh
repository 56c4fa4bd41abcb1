#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The examples (C in /aiopoll/bin, Rust in /aiopoll/crate), in the guest: the echo servers
# with their clients, on aiopoll and on epoll, and the file copiers with the copy compared
# byte for byte. Prints TAP.
bin=$(dirname "$0")/../bin
crate=$(dirname "$0")/../crate
n=0
status=0
tap() {	# tap <status> <description> [output file]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[ -n "$3" ] && sed 's/^/# /' "$3"
		status=1
	fi
}

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
for e in "$bin/aiopoll-echo C-echo" "$crate/echo Rust-echo"; do
	set -- $e
	run_echo "$1" "$2"
	run_echo "$1" "$2" --epoll
done
run_copy "$bin/aiopoll-copy" C-copy
run_copy "$crate/copy" Rust-copy
exit $status
