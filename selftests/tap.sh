# SPDX-License-Identifier: GPL-2.0
# TAP for the selftests written in shell, sourced from the payload's selftests/ directory:
#   tap <status> <description> [file]
#   skip <description> <reason>
#   same <reference> <other> <description>
# prints "ok N - [TAP_PREFIX]description" when status is 0, else "not ok N - ..." followed by
# the file's lines as diagnostics, and sets status=1. The script ends with `exit $status`.
n=0
status=0
tap() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - ${TAP_PREFIX:-}$2"
	else
		echo "not ok $n - ${TAP_PREFIX:-}$2"
		[ -n "${3:-}" ] && sed 's/^/# /' "$3"
		status=1
	fi
}
# skip <description> <reason>: "ok N - [TAP_PREFIX]description # SKIP reason" (counted as
# skipped by make check, neither a pass nor a failure).
skip() {
	n=$((n + 1))
	echo "ok $n - ${TAP_PREFIX:-}$1 # SKIP $2"
}
# same <reference> <other> <description>: tap 0 when the two files are the same, else tap 1
# with the first 40 lines of their diff as diagnostics.
same() {
	if cmp -s "$1" "$2"; then
		tap 0 "$3"
	else
		tap 1 "$3"
		diff "$1" "$2" | sed 's/^/# /' | head -40
	fi
}
