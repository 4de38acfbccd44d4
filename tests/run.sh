#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every test layer and ends with one line: "N passed, N failed".
# Each layer prints "PASS name" / "FAIL name" lines; this script counts them.
set -uo pipefail
cd "$(dirname "$0")/.."
export SSBPF_BUILD=${SSBPF_BUILD:-build}
log=$(mktemp -d /tmp/ssbpf-test.XXXXXX)
pass=0 fail=0

run_layer() { # name command...
	local name=$1 out=$log/$1.out rc
	shift
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	local p f
	p=$(grep -c '^PASS ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	grep -E '^(PASS|FAIL) ' "$out"
	# A file that planned more tests than it reported lost some: each one is a failure.
	local planned missing
	planned=$(awk '/^PLAN [0-9]+ / {n += $2} END {print n + 0}' "$out")
	missing=$((planned - p - f))
	if [ "$planned" -gt 0 ] && [ "$missing" -gt 0 ]; then
		echo "FAIL $name: $missing of $planned planned tests never reported"
		f=$((f + missing))
	fi
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		echo "-- output of $name (exit $rc):"
		tail -n 60 "$out"
		# A layer that died without naming a failed test still counts as one.
		[ "$f" -eq 0 ] && f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
}

run_layer unit "$SSBPF_BUILD/unit-tests"
run_layer unit-asan "$SSBPF_BUILD/asan/unit-tests"
# libFuzzer harnesses, bounded: SSBPF_FUZZ_SECONDS each (make fuzz runs longer).
fuzzers=$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')
run_layer fuzz env FUZZ_SECONDS="${SSBPF_FUZZ_SECONDS:-15}" tests/fuzz/run.sh $fuzzers
# Real binaries: over loopback, in network namespaces, against other implementations.
for t in tests/integration/test_*.py tests/netns/test_*.py tests/interop/test_*.py; do
	[ -e "$t" ] || continue
	run_layer "$(basename "$t" .py)" python3 "$t"
done

rm -rf "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
