#!/bin/sh
# run-integration.sh - runs the integration test binaries against one throwaway
# PostgreSQL (tools/scripts/pgtmp.sh) and the real sluiced; always destroys the server.
#
#   BUILD=build sh tests/run-integration.sh BIN...
#
# Each test creates its own database, so tests never share state. Prints
# "N passed, N failed" counting cmocka test cases (a binary that dies before
# its summary counts as one failure). Exit status is non-zero if any failed.
# SLUICE_TEST_KEEP=1 keeps the test temp dirs; TEST_TIMEOUT (seconds, default
# 900) bounds each binary.
set -u

BUILD=${BUILD:-build}
[ $# -gt 0 ] || { echo "usage: BUILD=build sh tests/run-integration.sh BIN..." >&2; exit 2; }

mkdir -p "$BUILD/tmp"
BUILD_ABS=$(cd "$BUILD" && pwd)
dir="$BUILD_ABS/tmp/pg-$$"
out="$BUILD_ABS/tmp/integration-$$.out"

cleanup() {
    sh tools/scripts/pgtmp.sh destroy "$dir" >/dev/null 2>&1 || true
    rm -f "$out" "$out.rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$dir") || { echo "run-integration: failed to start PostgreSQL" >&2; exit 1; }
# the printed DSN minus dbname
dsn_base=$(printf '%s\n' "$dsn" | sed 's/ *dbname=[^ ]*//')

export SLUICE_TEST_PGDIR="$dir"
export SLUICE_TEST_DSN_BASE="$dsn_base"
export SLUICE_BIN="$BUILD_ABS/sluiced"
export SLUICE_TOOLS="$(pwd)/tools/scripts"
export TMPDIR="$BUILD_ABS/tmp"

passed=0
failed=0
for bin in "$@"; do
    echo "== $bin"
    rm -f "$out.rc"
    if command -v timeout >/dev/null 2>&1; then
        { timeout -k 10 "${TEST_TIMEOUT:-900}" "$bin" 2>&1; echo $? >"$out.rc"; } | tee "$out"
    else
        { "$bin" 2>&1; echo $? >"$out.rc"; } | tee "$out"
    fi
    rc=$(cat "$out.rc" 2>/dev/null || echo 1)
    # count test cases from cmocka's summary
    p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s), listed below:.*/\1/p' "$out" | tail -1)
    if [ -z "$p" ] && [ -z "$f" ]; then
        ok=$(grep -c '^\[       OK \]' "$out")
        echo "run-integration: $bin ended without a cmocka summary (exit $rc: crash or timeout)" >&2
        passed=$((passed + ok))
        failed=$((failed + 1))
        continue
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
        echo "run-integration: $bin exited $rc although no test failed" >&2
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
