#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host-side test of the installation on one's own machine (run by `make check` on the host,
# not in the guest), against Debian's stock 7.3.4+deb13-amd64 headers (scripts/stock.sh):
#   - dkms.conf's PACKAGE_VERSION is the ABI version of uapi/linux/aiopoll.h;
#   - `make modules_install KDIR=<headers> INSTALL_MOD_PATH=<stage>` installs aiopoll.ko (as
#     Debian's kernel compresses its modules) under updates/, and depmod lists the aliases
#     that make opening /dev/aiopoll load the module (modules.devname), and the udev rule
#     (scripts/60-aiopoll.rules) that systemd's udevadm accepts;
#   - `dkms build` of a copy of the tracked files, in the Debian trixie toolchain chroot (a
#     Debian system with a Rust toolchain, as a user's would be), against those headers,
#     builds aiopoll.ko for that release. dkms's tree and sources are temporary directories.
# STOCK=0 (make check's knob for the stock kernels) skips the build cases. Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
TAP_PREFIX="host: dkms: "
. "$top/selftests/tap.sh"
. "$top/scripts/lib.sh"
set +e

mkdir -p "$top/build"
# Under build/: the toolchain chroot sees the checkout at its own path.
tmp=$(mktemp -d "$top/build/dkms-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

abi=$(awk '/define AIOPOLL_ABI_MAJOR/ { ma = $3 } /define AIOPOLL_ABI_MINOR/ { mi = $3 } END { print ma "." mi }' \
	"$top/uapi/linux/aiopoll.h")
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
[ "$ver" = "$abi" ] && grep -q "dkms install aiopoll/$ver\$" "$top/dkms.conf"
tap $? "dkms.conf's PACKAGE_VERSION ($ver) is the ABI version ($abi), and so is its usage line"

if [ "${STOCK:-1}" = 0 ]; then
	echo "ok $((n + 1)) - ${TAP_PREFIX}modules_install and dkms build # SKIP STOCK=0"
	exit $status
fi

rel=$STOCK_ABI-amd64
unset KDIR AIOPOLL_FLAVOUR MAKEFLAGS MFLAGS MAKELEVEL
root=$("$top/scripts/stock.sh" fetch amd64 2>"$log")
tap $? "Debian's $rel packages are there" "$log"
hdr=$root/usr/src/linux-headers-$rel

# modules_install, from a copy of the tree (the checkout's aiopoll.ko stays as it is).
src=$tmp/src/aiopoll-$ver
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' |
	xargs -0 cp --parents -t "$src") 2>"$log"
tap $? "a copy of the tree" "$log"
stage=$tmp/stage
make -s -C "$src" modules_install KDIR="$hdr" INSTALL_MOD_PATH="$stage" >"$log" 2>&1
tap $? "make modules_install KDIR=<Debian's headers> INSTALL_MOD_PATH=<stage>" "$log"
ls "$stage/lib/modules/$rel/updates/aiopoll.ko"* >"$log" 2>&1
tap $? "aiopoll.ko installed under lib/modules/$rel/updates/" "$log"
d=$stage/lib/modules/$rel
grep -qx 'alias devname:aiopoll aiopoll' "$d/modules.alias" &&
	grep -qx 'alias char-major-10-243 aiopoll' "$d/modules.alias" &&
	grep -qx 'aiopoll aiopoll c10:243' "$d/modules.devname"
rc=$?
cat "$d/modules.alias" "$d/modules.devname" >"$log" 2>&1
tap $rc "depmod: both aliases in modules.alias, and aiopoll c10:243 in modules.devname (autoloading on open)" "$log"
cmp "$top/scripts/60-aiopoll.rules" "$stage/etc/udev/rules.d/60-aiopoll.rules" >"$log" 2>&1
tap $? "the udev rule installed as etc/udev/rules.d/60-aiopoll.rules" "$log"
# The rule as systemd's udev reads it (trixie's udevadm has verify), and what it says: mode
# 0666 for the device and for its static node.
"$top/scripts/toolchain.sh" ensure-pkg udev >"$log" 2>&1 &&
	AIOPOLL_BINDS="$tmp" "$top/scripts/toolchain.sh" exec \
		udevadm verify --no-style "$stage/etc/udev/rules.d/60-aiopoll.rules" >"$log" 2>&1
tap $? "udevadm verify accepts the rule" "$log"
grep -Eq '^KERNEL=="aiopoll",.*MODE="0666",.*OPTIONS\+="static_node=aiopoll"' "$top/scripts/60-aiopoll.rules"
tap $? "the rule gives /dev/aiopoll and its static node mode 0666"

# Signed for Secure Boot with one's own key (as enrolled with mokutil): the installed module
# carries a PKCS#7 signature that verifies against the certificate, over the module's
# contents, in the kernel's format (signature, struct module_signature, the magic string).
openssl req -new -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=aiopoll test MOK/" \
	-keyout "$tmp/mok.key" -outform DER -out "$tmp/mok.der" >"$log" 2>&1 &&
	openssl x509 -inform DER -in "$tmp/mok.der" -out "$tmp/mok.pem" >>"$log" 2>&1
tap $? "a throwaway signing key" "$log"
sstage=$tmp/signed
make -s -C "$src" modules_install KDIR="$hdr" INSTALL_MOD_PATH="$sstage" \
	MODULE_SIG_KEY="$tmp/mok.key" MODULE_SIG_CERT="$tmp/mok.der" >"$log" 2>&1
tap $? "make modules_install MODULE_SIG_KEY=... MODULE_SIG_CERT=..." "$log"
# installed_ko STAGE: the bytes of the aiopoll.ko installed under STAGE, uncompressed (Debian's
# kernels install modules as .ko.xz).
installed_ko() {
	local f
	f=$(ls "$1/lib/modules/$rel/updates/aiopoll.ko"* 2>/dev/null | head -n1)
	case "$f" in
	*.xz) xz -dc "$f" ;;
	*) cat "$f" 2>/dev/null ;;
	esac
}
installed_ko "$sstage" >"$tmp/signed.ko"
# The trailer: PKCS#7 (sig_len bytes), struct module_signature (12 bytes: sig_len last, big
# endian), "~Module signature appended~\n" (28 bytes).
python3 - "$tmp/signed.ko" "$tmp" >"$log" 2>&1 <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
magic = b"~Module signature appended~\n"
assert data.endswith(magic), "no signature magic at the end"
info = data[-len(magic) - 12:-len(magic)]
_algo, _hash, id_type, _signer_len, _key_id_len, sig_len = struct.unpack(">BBBBBxxxI", info)
assert id_type == 2, f"id_type {id_type} is not PKEY_ID_PKCS7"
end = len(data) - len(magic) - 12
open(sys.argv[2] + "/sig.p7", "wb").write(data[end - sig_len:end])
open(sys.argv[2] + "/body.ko", "wb").write(data[:end - sig_len])
print("sig_len", sig_len)
PY
rc=$?
[ $rc -eq 0 ] && openssl cms -verify -binary -inform DER -in "$tmp/sig.p7" -content "$tmp/body.ko" \
	-certfile "$tmp/mok.pem" -noverify -out /dev/null >>"$log" 2>&1
tap $? "the installed module's signature verifies against the certificate" "$log"
installed_ko "$stage" | cmp -s - "$tmp/body.ko"
tap $? "the signed module is the unsigned one plus the signature" "$log"

# dkms build in the trixie chroot: the tree as DKMS installs it under /usr/src, dkms's state
# in a temporary tree. The chroot counts as a host with the toolchain there; the stock cache
# is shared through the bind mount.
"$top/scripts/toolchain.sh" ensure-pkg dkms >"$log" 2>&1
tap $? "dkms is installed in the toolchain chroot" "$log"
mkdir -p "$tmp/dkms"
(cd "$tmp" && AIOPOLL_BINDS="$AIOPOLL_CACHE/stock:$tmp" "$top/scripts/toolchain.sh" exec \
	env PATH=/usr/sbin:/usr/bin:/sbin:/bin AIOPOLL_CACHE="$AIOPOLL_CACHE" dkms build -m aiopoll -v "$ver" -k "$rel" \
	--kernelsourcedir "$hdr" --dkmstree "$tmp/dkms" --sourcetree "$tmp/src") >"$log" 2>&1
tap $? "dkms build -k $rel (in the trixie chroot)" "$log"
ko=$(find "$tmp/dkms" -name 'aiopoll.ko*' -path "*$rel*" | head -n1)
case "$ko" in
*.xz) xz -dc "$ko" >"$tmp/aiopoll.ko" ;;
?*) cp "$ko" "$tmp/aiopoll.ko" ;;
esac
# grep reads all of it (no -q): with pipefail, strings killed by SIGPIPE would fail the test.
strings "$tmp/aiopoll.ko" 2>/dev/null | grep "^vermagic=$rel " >"$log" 2>&1
tap $? "dkms built aiopoll.ko for $rel (vermagic)" "$log"
exit $status
