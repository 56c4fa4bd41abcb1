#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The Rust user-space crate, crates/aiopoll, built with the host's cargo.
#
#   scripts/crate.sh build OUTDIR   static test binaries and examples (feature tokio on) into
#                                   OUTDIR, plus the guest runner OUTDIR/run-crate-tests.sh (TAP)
#   scripts/crate.sh lint           cargo fmt --check, cargo clippy -D warnings (with and
#                                   without the tokio feature)
#   scripts/crate.sh doc            doctests on the host, then cargo doc
#
# Run the tests in the guest:
#   scripts/crate.sh build /tmp/crate-out &&
#       make vm-run RUN='sh ./run-crate-tests.sh' SHARE=/tmp/crate-out
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRATE=$TOP/crates/aiopoll
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$TOP/build/cargo}
# The examples the guest runs.
EXAMPLES="echo echo_async copy"

die() {
	echo "crate.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '3,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

# The host's cargo: PATH first, then rustup's default place.
find_cargo() {
	if command -v cargo >/dev/null 2>&1; then
		CARGO=$(command -v cargo)
	elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
		CARGO=${CARGO_HOME:-$HOME/.cargo}/bin/cargo
		export PATH="$(dirname "$CARGO"):$PATH"
	else
		die "cargo not found (install a Rust toolchain with rustup)"
	fi
}

cmd_build() {
	local out=${1:-}
	[ -n "$out" ] || usage
	mkdir -p "$out/tests"
	out=$(cd "$out" && pwd)
	local host json
	host=$("$CARGO" -vV 2>/dev/null | sed -n 's/^host: //p')
	[ -n "$host" ] || host=$(rustc -vV | sed -n 's/^host: //p')
	# Static binaries: the guest is a busybox initramfs without a libc. An explicit --target
	# keeps RUSTFLAGS away from build scripts and proc macros.
	export RUSTFLAGS="-C target-feature=+crt-static"
	json=$(mktemp)
	trap 'rm -f "$json"' RETURN
	(cd "$CRATE" && "$CARGO" test --release --locked --target "$host" --features tokio \
		--no-run --message-format=json-render-diagnostics) >"$json"
	(cd "$CRATE" && "$CARGO" build --release --locked --target "$host" --features tokio \
		--examples)
	rm -f "$out"/tests/*
	local exe name count=0
	# One line per compiler artifact; the test executables are the ones with "test":true.
	while IFS= read -r exe; do
		name=$(basename "$exe")
		name=${name%-*}
		cp "$exe" "$out/tests/$name"
		count=$((count + 1))
	done < <(grep '"test":true' "$json" | grep -o '"executable":"[^"]*"' |
		sed 's/^"executable":"//; s/"$//')
	[ "$count" -gt 0 ] || die "no test executable found in cargo's output"
	local ex
	for ex in $EXAMPLES; do
		cp "$CARGO_TARGET_DIR/$host/release/examples/$ex" "$out/$ex"
	done
	for exe in "$out"/tests/* $(printf "$out/%s " $EXAMPLES); do
		if readelf -l "$exe" 2>/dev/null | grep -q 'Requesting program interpreter'; then
			die "$exe is not static"
		fi
	done
	write_runner "$out/run-crate-tests.sh"
	echo "crate.sh: $count test binaries and the examples ($EXAMPLES) in $out"
}

# The guest runner: busybox sh and awk only. libtest's lines become TAP lines.
write_runner() {
	cat >"$1" <<'RUNNER'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs the aiopoll crate's tests and examples in the guest (made by scripts/crate.sh build).
# Prints one TAP line per test, "ok N - crate: <binary>::<test>", "not ok N - ..." or, for
# a test that said "skipped <binary>::<test>: <why>" on stderr (tests/common), "ok N - ...
# # SKIP <why>"; exits non-zero if any failed. AIOPOLL_CRATE_TESTS='context io' runs only
# those binaries. A missing /dev/aiopoll fails the tests (AIOPOLL_REQUIRE_DEVICE=1) unless
# AIOPOLL_REQUIRE_DEVICE=0 is set.
cd "$(dirname "$0")" || exit 1
export AIOPOLL_REQUIRE_DEVICE=${AIOPOLL_REQUIRE_DEVICE:-1}
tmp=${TMPDIR:-/tmp}/aiopoll-crate.$$
mkdir -p "$tmp" || exit 1
n=0
failed=0
skipped=0

tap() { # tap ok|fail DESCRIPTION
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n - crate: $2"
	else
		echo "not ok $n - crate: $2"
		failed=$((failed + 1))
	fi
}

# Runs a command with a time limit when busybox has timeout.
limited() {
	if command -v timeout >/dev/null 2>&1; then
		timeout "$@"
	else
		shift
		"$@"
	fi
}

bins=${AIOPOLL_CRATE_TESTS:-$(ls tests)}
for b in $bins; do
	echo "# crate test binary: $b"
	limited 300 "./tests/$b" --test-threads=1 >"$tmp/out" 2>"$tmp/err"
	rc=$?
	# "test NAME ... ok|FAILED|ignored"; a line left without a verdict crashed the binary.
	# An "ok" test that said "skipped <binary>::NAME: <why>" on stderr was skipped.
	awk -v bin="$b" '
	FILENAME == ARGV[1] {
		if ($0 ~ /^skipped [^ ]+: /) {
			name = substr($2, 1, length($2) - 1)
			if (index(name, bin "::") == 1) name = substr(name, length(bin) + 3)
			why[name] = substr($0, length($1) + length($2) + 3)
		}
		next
	}
	/^test .* \.\.\. / {
		line = $0
		sub(/^test /, "", line)
		i = index(line, " ... ")
		name = substr(line, 1, i - 1)
		verdict = substr(line, i + 5)
		if (verdict == "ok" && (name in why)) print "skip " name " " why[name]
		else if (verdict == "ok") print "ok " name
		else if (verdict ~ /^ignored/) print "skip " name
		else if (verdict == "FAILED") print "fail " name
		else print "fail " name " (no verdict: the binary crashed?)"
		next
	}
	/^test .* \.\.\.$/ { sub(/^test /, ""); sub(/ \.\.\.$/, ""); print "fail " $0 " (no verdict: the binary crashed?)" }
	' "$tmp/err" "$tmp/out" >"$tmp/verdicts"
	bad=0
	while read -r verdict name why; do
		case $verdict in
		ok) tap ok "$b::$name" ;;
		skip) n=$((n + 1)); skipped=$((skipped + 1)); echo "ok $n - crate: $b::$name # SKIP $why" ;;
		*) tap fail "$b::$name${why:+ $why}"; bad=1 ;;
		esac
	done <"$tmp/verdicts"
	if [ $rc -ne 0 ] && [ $bad -eq 0 ]; then
		tap fail "$b (exited with status $rc)"
		bad=1
	fi
	if [ $bad -ne 0 ] || [ ! -s "$tmp/verdicts" ]; then
		[ -s "$tmp/verdicts" ] || tap fail "$b (ran no test)"
		sed 's/^/# /' "$tmp/out" "$tmp/err"
	fi
done

if [ -z "${AIOPOLL_CRATE_TESTS:-}" ]; then
	echo "# crate examples"
	# copy: a file of odd size, through several reads and writes in flight, then fsync.
	dd if=/dev/urandom of="$tmp/src" bs=1000 count=777 2>/dev/null
	if limited 300 ./copy "$tmp/src" "$tmp/dst" >"$tmp/out" 2>&1 && cmp "$tmp/src" "$tmp/dst" &&
		grep -q '^copied 777000 bytes' "$tmp/out"; then
		tap ok "example copy"
	else
		tap fail "example copy"
	fi
	sed 's/^/# /' "$tmp/out"
	# echo: the aiopoll loop, then the same on epoll, then the async server on tokio's
	# current-thread and multi-thread runtimes; every byte checked by the clients.
	for run in "echo --aiopoll" "echo --epoll" "echo_async --workers 0" "echo_async --workers 2"; do
		set -- $run
		prog=$1
		shift
		[ "$1" = --aiopoll ] && shift # echo's default
		if limited 300 "./$prog" "$@" --clients 16 --messages 10 >"$tmp/out" 2>&1 &&
			grep -q 'served 160 requests, 0 errors' "$tmp/out"; then
			tap ok "example $run"
		else
			tap fail "example $run"
		fi
		sed 's/^/# /' "$tmp/out"
	done
fi
rm -rf "$tmp"
echo "# crate: $n tests, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $n -gt 0 ]
RUNNER
	chmod +x "$1"
}

cmd_lint() {
	cd "$CRATE"
	"$CARGO" fmt --check
	"$CARGO" clippy --locked --all-targets -- -D warnings
	"$CARGO" clippy --locked --all-targets --features tokio -- -D warnings
}

cmd_doc() {
	cd "$CRATE"
	"$CARGO" test --locked --doc --features tokio
	RUSTDOCFLAGS="-D warnings" "$CARGO" doc --locked --no-deps --features tokio
	echo "crate.sh: documentation in $CARGO_TARGET_DIR/doc/aiopoll/index.html"
}

find_cargo
case "${1:-}" in
build) shift; cmd_build "$@" ;;
lint) cmd_lint ;;
doc) cmd_doc ;;
*) usage ;;
esac
