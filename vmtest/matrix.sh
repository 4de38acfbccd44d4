#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vmtest/matrix.sh: vmtest on Debian's 5.10, 6.1 and 6.12 kernels in turn;
# one line per kernel (what was native, what fell back, its results), then
# the sum as "N passed, N failed". Fails if any kernel failed.
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=${VMTEST_DIR:-${SSBPF_BUILD:-build}/vmtest}
mkdir -p "$WORK"
lines=() pass=0 fail=0
for k in ${VMTEST_KERNELS:-5.10 6.1 6.12}; do
	out=$WORK/matrix-$k.log
	echo "== vmtest on $k (log: $out)"
	VMTEST_DIR=$WORK vmtest/run.sh "$k" > "$out" 2>&1
	rc=$?
	line=$(grep '^MATRIX ' "$out" | tail -1)
	sum=$(tail -1 "$out")
	if [[ "$sum" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		pass=$((pass + BASH_REMATCH[1]))
		fail=$((fail + BASH_REMATCH[2]))
	else
		fail=$((fail + 1))
		line="MATRIX $k | did not report (exit $rc) | see $out"
	fi
	[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
	line=${line#MATRIX }
	line=${line//native: /}
	lines+=("${line//fell back: /}")
	grep -E '^\| .* \| FAIL' "$out" || true
	# A guest that died: its console's last lines (a panic), and what ran again.
	sed -n '/^the guest died before the end/,/^$/p; /^re-run after a guest crash/p' "$out"
done
echo
echo "| guest kernel | native | fell back | results |"
echo "| --- | --- | --- | --- |"
for l in "${lines[@]}"; do echo "| $l |"; done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
