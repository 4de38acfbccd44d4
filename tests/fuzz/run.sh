#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each named libFuzzer harness for FUZZ_SECONDS on a scratch copy of its
# seed corpus; prints PASS/FAIL per harness. A crash or sanitizer report fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
fail=0
for name in "$@"; do
	work=$(mktemp -d /tmp/ssbpf-fuzz.XXXXXX)
	cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
	if "${SSBPF_BUILD:-build}/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
		echo "PASS fuzz/$name ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$') runs in ${seconds}s)"
	else
		echo "FAIL fuzz/$name"
		grep -A30 -E 'ERROR|runtime error|deadly signal' "$work.log" | head -40
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
		fail=1
	fi
	rm -rf "$work" "$work.log"
done
exit $fail
