# SPDX-License-Identifier: GPL-2.0
# Shared settings of the build and VM scripts. Sourced, never run.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${NTSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ntsync-rs}
OUT=${NTSYNC_OUT:-$REPO/build}

KERNEL_PKG=linux-source-7.3
KERNEL_SUITE=trixie-backports
KSRC=$CACHE/src/$KERNEL_PKG
BINDGEN_VERSION=0.71.1
BINDGEN=$CACHE/tools/bindgen-$BINDGEN_VERSION/bin/bindgen
LIBCLANG_VERSION=18.1.1
LIBCLANG_DIR=$CACHE/tools/libclang-$LIBCLANG_VERSION
KRUSTC=/usr/bin/rustc

export LIBCLANG_PATH=$LIBCLANG_DIR
export PATH=$HOME/.cargo/bin:$PATH

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The kernel's own make with the toolchain this project pins.
kmake() {
	make -s RUSTC="$KRUSTC" BINDGEN="$BINDGEN" HOSTRUSTC="$KRUSTC" "$@"
}

# Build directory of a kernel variant: keyed by the kernel version, the
# fragments and the compiler versions, so any change rebuilds and nothing else does.
kernel_dir() {
	local variant=$1 key
	[ -f "$KSRC/Makefile" ] || die "kernel source missing at $KSRC: run scripts/bootstrap"
	key=$( {
		make -s -C "$KSRC" kernelversion
		cat "$REPO/tools/testing/vm/configs/fast.config"
		[ "$variant" = fast ] || cat "$REPO/tools/testing/vm/configs/$variant.config"
		gcc --version | head -n1
		"$KRUSTC" --version
		"$BINDGEN" --version
	} | sha256sum | cut -c1-12)
	printf '%s/kbuild/%s-%s\n' "$CACHE" "$variant" "$key"
}

# The package version in dkms.conf.
dkms_version() {
	local ver
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/dkms.conf")
	[ -n "$ver" ] || die "dkms.conf has no PACKAGE_VERSION"
	printf '%s\n' "$ver"
}

# check_packaged_module KO KERNEL-RELEASE: what every DKMS-built ntsync_rs.ko
# must be: built for that kernel, found by its aliases, GPL, and a production
# build, whose loading runs no KUnit test. Prints its modinfo.
check_packaged_module() {
	local ko=$1 kver=$2 info
	[ -f "$ko" ] || die "no $ko"
	info=$(modinfo "$ko")
	printf '%s\n' "$info"
	grep -q "^vermagic: *$kver " <<<"$info" || die "vermagic is not $kver"
	grep -qx 'alias: *devname:ntsync' <<<"$info" || die "no devname alias"
	grep -qx 'alias: *char-major-10-243' <<<"$info" || die "no char-major alias"
	grep -qx 'license: *GPL' <<<"$info" || die "license is not GPL"
	! objdump -h "$ko" | grep -q kunit_test_suites || die "the packaged module carries KUnit tests"
}
