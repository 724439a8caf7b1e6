# SPDX-License-Identifier: GPL-2.0
#
# Test accounting shared by tools/testing/check and tools/testing/soak. Sourced
# after scripts/lib.sh; the caller sets $logs and $bin and starts
# passed=0 failed=0.

report() { # NAME OK(0|1)
	if [ "$2" = 0 ]; then
		passed=$((passed + 1))
		echo "ok - $1"
	else
		failed=$((failed + 1))
		echo "not ok - $1"
	fi
}

# vm_suites NAME RUN-OPTIONS... -- GUEST-COMMAND...: one boot; counts its TAP.
vm_suites() {
	local name=$1 rc p f counts
	shift
	set +e
	"$REPO/tools/testing/vm/run" --module none --log "$logs/$name" \
		$(printf -- '--add %s ' "$bin"/*) "$@" | tee "$logs/$name.tap"
	rc=${PIPESTATUS[0]}
	set -e
	report "$name: the guest finished, unloaded both drivers and logged no kernel report" "$rc"
	counts=$("$REPO/tools/testing/tap-count" "$logs/$name.tap")
	grep -v '^[0-9]* [0-9]*$' <<<"$counts" || true
	read -r p f < <(tail -n1 <<<"$counts")
	passed=$((passed + p))
	failed=$((failed + f))
}

