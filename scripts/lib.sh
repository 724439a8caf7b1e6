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
