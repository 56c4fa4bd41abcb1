# SPDX-License-Identifier: GPL-2.0
# TAP for the selftests written in shell, sourced from the payload's selftests/ directory:
#   tap <status> <description> [file]
#   skip <description> <reason>
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
