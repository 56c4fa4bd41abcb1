#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host-side test of the packaging (run by `make check` on the host, not in the guest), on a
# fresh copy of the tree (its tracked and unignored files, without build/):
#   - `make CFLAGS=-O2 userspace` builds, and the user's CPPFLAGS, CFLAGS and LDFLAGS reach
#     every compile and link of user space (the selftests' too, when the kernel source is
#     cached) without losing the required flags (the binaries stay static);
#   - `make install` with DESTDIR, PREFIX=/usr and a multiarch LIBDIR puts every file under
#     LIBDIR, INCLUDEDIR and MANDIR, and an aiopoll.pc whose libdir and includedir are those
#     directories and that builds and links a program against the installed library;
#   - every man page renders without warnings, and every function of <libaiopoll.h> has one;
#   - `make uninstall` with the same variables removes all of it and nothing else.
# The Rust crate is left out of `make userspace` (AIOPOLL_CRATE=0): cargo takes no C flags.
# Needs gcc, libaio-dev and liburing-dev (make userspace installs them), pkg-config, man-db
# and groff-base. Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
TAP_PREFIX="host: packaging: "
. "$top/selftests/tap.sh"

# Only what this test passes reaches the builds: nothing from the make that runs it.
unset MAKEFLAGS MFLAGS MAKELEVEL CC CPPFLAGS CFLAGS LDFLAGS PREFIX LIBDIR INCLUDEDIR MANDIR \
	DESTDIR AIOPOLL_BUILD_DIR
export AIOPOLL_CRATE=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
src=$tmp/src

# The fresh copy: the working tree's files that git tracks or would track, as they are now.
mkdir -p "$src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$src" -xf -
else
	tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

# The user's flags of cases 2 and 3, each recognisable. CC is a wrapper that logs
# every compiler command, to check that each compile has CPPFLAGS and CFLAGS and each link
# LDFLAGS; the build ID that LDFLAGS sets shows in every linked file.
mark_id=5eedc0de0ddba115
flags=(CPPFLAGS=-DAIOPOLL_TEST_CPPFLAGS CFLAGS="-O0 -g -frecord-gcc-switches"
	LDFLAGS="-Wl,--as-needed -Wl,--build-id=0x$mark_id" CC="$tmp/cc")
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\nexec cc "$@"\n' "$tmp/cc.log" >"$tmp/cc"
chmod +x "$tmp/cc"

# flagged: every command in cc.log that compiles has the user's CPPFLAGS and CFLAGS, and
# every one that links has LDFLAGS.
flagged() {
	local cmd bad=0
	[ -s "$tmp/cc.log" ] || { echo "no compiler command logged" >>"$log"; return 1; }
	while IFS= read -r cmd; do
		case " $cmd " in *" -print-"*) continue ;; esac
		case " $cmd " in *" -c "*|*".c "*)
			case " $cmd " in *" -DAIOPOLL_TEST_CPPFLAGS "*) ;; *) bad=1 ;; esac
			case " $cmd " in *" -O0 -g -frecord-gcc-switches "*) ;; *) bad=1 ;; esac
		esac
		case " $cmd " in *" -c "*) ;; *)
			case " $cmd " in *" -Wl,--as-needed -Wl,--build-id=0x$mark_id "*) ;; *) bad=1 ;; esac
		esac
		[ $bad -eq 0 ] || { echo "without the user's flags: $cmd" >>"$log"; return 1; }
	done <"$tmp/cc.log"
}

# exist FILE...: every file is there (the missing ones go to the log).
exist() {
	local f ok=0
	for f in "$@"; do
		[ -f "$f" ] || { echo "not there: $f" >>"$log"; ok=1; }
	done
	return $ok
}

# linked FILE...: every file has the build ID of the user's LDFLAGS; a file named with a
# leading '=' must also be static (its required -static not lost).
linked() {
	local f static
	for f in "$@"; do
		static=
		case "$f" in =*) static=1 f=${f#=} ;; esac
		exist "$f" || return 1
		if ! readelf -n "$f" | grep -q "Build ID: $mark_id\$"; then
			echo "linked without the user's LDFLAGS: $f" >>"$log"
			return 1
		fi
		if [ -n "$static" ] && readelf -l "$f" | grep -q INTERP; then
			echo "not static (the required -static was lost): $f" >>"$log"
			return 1
		fi
	done
}

# 1. The issue's command line: CFLAGS replaces the default, the required flags stay.
b=$src/build
make -C "$src" CFLAGS=-O2 userspace >"$log" 2>&1 &&
	exist "$b/lib/libaiopoll.so.1.4.0" "$b/lib/libaiopoll.a" "$b/lib/libaio/libaio.so.1" \
		"$b/bin/aiopoll-echo" "$b/bin/aiopoll-copy" "$b/bench-bin/poll_bench" \
		"$b/libaio-diff/diff_basic.aiopoll"
tap $? "make CFLAGS=-O2 userspace builds the library, examples, benchmark and libaio tests" "$log"

# 2. CPPFLAGS, CFLAGS and LDFLAGS reach every compile and link, the required flags stay.
rm -rf "$b"
make -C "$src" "${flags[@]}" userspace >"$log" 2>&1 && flagged &&
	linked "$b/lib/libaiopoll.so.1.4.0" "$b/lib/libaio/libaio.so.1" \
		="$b/bin/aiopoll-echo" ="$b/bin/aiopoll-copy" ="$b/bench-bin/poll_bench" \
		"$b/libaio-diff/diff_basic.dyn" ="$b/libaio-diff/diff_basic.aiopoll" \
		="$b/libaio-diff/diff_basic.libaio"
tap $? "make CPPFLAGS= CFLAGS='-O0 -g ...' LDFLAGS=-Wl,--as-needed,... userspace: the user's flags in every compile and link" "$log"

# 3. The selftests (make selftests) take the same flags; they need the kernel's
# kselftest_harness.h, so only when the kernel source is cached.
ksrc=$(bash -c '. "$1/scripts/lib.sh"; d=$AIOPOLL_CACHE/kernel/src/linux-$KVER
	[ -f "$d/tools/testing/selftests/kselftest_harness.h" ] && echo "$d"' _ "$src" 2>/dev/null)
if [ -z "$ksrc" ]; then
	echo "ok $((n += 1)) - ${TAP_PREFIX}selftests take the user's flags # SKIP no cached kernel source"
else
	targets=("$tmp/st/aiopoll_dev_test" "$tmp/st/aiopoll_poll_test")
	# The 32-bit test when the compiler can build 32-bit programs (gcc-multilib).
	if echo 'int main(void) { return 0; }' | cc -m32 -static -x c -o /dev/null - 2>/dev/null; then
		targets+=("$tmp/st/aiopoll_compat_test")
	fi
	: >"$tmp/cc.log"
	make -C "$src/selftests" OUTPUT="$tmp/st" KSRC="$ksrc" "${flags[@]}" "${targets[@]}" \
		>"$log" 2>&1 && flagged && linked "${targets[@]/#/=}"
	tap $? "make selftests takes the user's flags: ${targets[*]##*/}" "$log"
fi

# The layout of cases 4 to 7: multiarch, as a Debian package installs it.
d=$tmp/dest
libdir=/usr/lib/x86_64-linux-gnu
layout=(DESTDIR="$d" PREFIX=/usr LIBDIR="$libdir")
# Files of other packages in the directories aiopoll shares: uninstall must leave them.
foreign=("$d$libdir/pkgconfig/other.pc" "$d/usr/include/linux/other.h"
	"$d/usr/share/man/man3/other.3")
mkdir -p "${foreign[@]%/*}"
touch "${foreign[@]}"

# 4. Install: each file where its variable says, nothing anywhere else.
expected="$libdir/aiopoll/libaio.so.1
$libdir/libaiopoll.a
$libdir/libaiopoll.so
$libdir/libaiopoll.so.1
$libdir/libaiopoll.so.1.4.0
$libdir/pkgconfig/aiopoll.pc
/usr/include/aiopoll/libaio.h
/usr/include/aiopoll/libaiopoll.h
/usr/include/linux/aiopoll.h"
for p in "$src"/man/man*/*; do
	expected+=$'\n'/usr/share/man/${p#"$src"/man/}
done
make -C "$src" "${layout[@]}" install >"$log" 2>&1 &&
	(cd "$d" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$tmp/installed" &&
	printf '%s\n' "$expected" "${foreign[@]#"$d"}" | sort | diff -u - "$tmp/installed" >>"$log"
tap $? "make install DESTDIR PREFIX=/usr LIBDIR=$libdir: the library, drop-in, pc file, headers and man pages where they belong" "$log"

# 5. aiopoll.pc names the installed directories, and a program builds, links and runs
# against the installed library through it (PKG_CONFIG_SYSROOT_DIR: the DESTDIR).
pc() { PKG_CONFIG_LIBDIR=$d$libdir/pkgconfig PKG_CONFIG_PATH= pkg-config "$@" aiopoll; }
pc_ok() {
	local got
	got=$(pc --variable=libdir) && [ "$got" = "$libdir" ] ||
		{ echo "libdir: '$got'"; return 1; }
	got=$(pc --variable=includedir) && [ "$got" = /usr/include/aiopoll ] ||
		{ echo "includedir: '$got'"; return 1; }
	pc --validate || return 1
	grep -qE '^URL: https?://[^ ]+$' "$d$libdir/pkgconfig/aiopoll.pc" || { echo "URL"; return 1; }
	printf '#include <libaiopoll.h>\n#include <stdio.h>\nint main(void)\n{\n%s\n}\n' \
		'struct aiopoll_lib_version v; printf("%d\n", aiopoll_version(&v)); return 0;' \
		>"$tmp/prog.c"
	# shellcheck disable=SC2046 # the flags are words
	cc -o "$tmp/prog" "$tmp/prog.c" $(PKG_CONFIG_SYSROOT_DIR=$d pc --cflags --libs) || return 1
	LD_LIBRARY_PATH=$d$libdir "$tmp/prog" || return 1
	LD_LIBRARY_PATH=$d$libdir ldd "$tmp/prog" | grep -q "libaiopoll.so.1 => $d$libdir/libaiopoll.so.1 "
}
if ! command -v pkg-config >/dev/null; then
	echo "ok $((n += 1)) - ${TAP_PREFIX}aiopoll.pc # SKIP no pkg-config (install pkgconf)"
else
	pc_ok >"$log" 2>&1 || { echo "aiopoll.pc:"; cat "$d$libdir/pkgconfig/aiopoll.pc"; false; } >>"$log"
	tap $? "aiopoll.pc: libdir $libdir, includedir /usr/include/aiopoll, a URL; a program links and runs with it" "$log"
fi

# 6. Every installed man page renders without a warning (man-db and groff), has a NAME line
# that man-db can index, and every function of <libaiopoll.h> has a page.
# render PAGE: its complaints, if any; run in the man directory, where man-db and groff
# resolve a .so link.
render() {
	MANWIDTH=80 man --warnings -l "$1" 2>&1 >"$tmp/out"
	[ -s "$tmp/out" ] || echo "renders empty"
	groff -man -ww -z "$1" 2>&1
	lexgrog "$1" >/dev/null 2>&1 || echo "lexgrog finds no NAME"
}
if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
	echo "ok $((n += 1)) - ${TAP_PREFIX}man pages # SKIP no man or groff (install man-db groff-base)"
else
	: >"$log"
	mandir=$d/usr/share/man
	for p in "$src"/man/man*/*; do
		page=${p#"$src"/man/}
		(cd "$mandir" && render "$page") | sed "s|^|$page: |" >>"$log"
	done
	for f in $(sed -n 's/^\(static inline \)\{0,1\}[a-z_]\{1,\} \**\([a-z_][a-z0-9_]*\)(.*/\2/p' \
		"$src/lib/include/libaiopoll.h"); do
		[ -f "$mandir/man3/$f.3" ] || echo "no man page for $f() of <libaiopoll.h>" >>"$log"
	done
	[ ! -s "$log" ] && [ -f "$mandir/man4/aiopoll.4" ]
	tap $? "man pages render with man -l and groff -ww without warnings; one for each function of <libaiopoll.h>" "$log"
fi

# 7. Uninstall with the same variables: nothing of aiopoll is left, the other files are.
make -C "$src" "${layout[@]}" uninstall >"$log" 2>&1 &&
	(cd "$d" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$tmp/left" &&
	printf '%s\n' "${foreign[@]#"$d"}" | sort | diff -u - "$tmp/left" >>"$log" &&
	! ls -d "$d$libdir/aiopoll" "$d/usr/include/aiopoll" >>"$log" 2>/dev/null
tap $? "make uninstall with the same variables removes what install put there, and only that" "$log"

# 8. The default layout: PREFIX=/usr/local, LIBDIR and INCLUDEDIR under it.
d2=$tmp/dest-default
make -C "$src" DESTDIR="$d2" install >"$log" 2>&1 &&
	[ -f "$d2/usr/local/lib/libaiopoll.so.1.4.0" ] && [ -f "$d2/usr/local/include/aiopoll/libaio.h" ] &&
	[ -f "$d2/usr/local/share/man/man4/aiopoll.4" ] &&
	grep -qx 'libdir=${prefix}/lib' "$d2/usr/local/lib/pkgconfig/aiopoll.pc" &&
	grep -qx 'prefix=/usr/local' "$d2/usr/local/lib/pkgconfig/aiopoll.pc" &&
	make -C "$src" DESTDIR="$d2" uninstall >>"$log" 2>&1 &&
	[ -z "$(find "$d2" -type f -o -type l)" ] || { find "$d2" >>"$log"; false; }
tap $? "default layout: PREFIX=/usr/local, LIBDIR=\$PREFIX/lib, MANDIR=\$PREFIX/share/man; uninstall empties it" "$log"
exit $status
