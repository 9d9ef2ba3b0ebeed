#!/bin/sh
# run.sh - builds the libFuzzer targets (`make fuzz`) and runs each for a
# bounded time: FUZZ_SECONDS each (default 60), so CI's budget is known.
# Any crash, timeout, out-of-memory or sanitizer report fails the run, and so
# does a leak when the inputs kept are replayed under LeakSanitizer after it;
# the input that did it is kept in build-fuzz/run/<target>/ and printed as hex.
# Usage: tests/fuzz/run.sh [TARGET...]   (default: every build-fuzz/tests/fuzz/fuzz_*)
# Environment: FUZZ_SECONDS (60), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s per input),
# FUZZ_JOBS (make -j, default nproc).
set -eu
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
build=build-fuzz

make -j"${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}" fuzz

if [ $# -eq 0 ]; then
    set -- $(cd "$build/tests/fuzz" && ls fuzz_* | grep -v '\.[od]$' | sed 's/^fuzz_//')
fi

# Leaks in libraries we cannot fix are listed, with why, in lsan.supp.
export LSAN_OPTIONS="suppressions=$(pwd)/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"

failed=""
for name in "$@"; do
    bin=$build/tests/fuzz/fuzz_$name
    seeds=$build/corpus/$name
    dir=$build/run/$name
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    [ -x "$bin" ] || { echo "fuzz: no target $bin" >&2; exit 1; }
    echo "== fuzz_$name: ${seconds}s, seeds $seeds"
    # New inputs go to $dir/corpus (first directory); the seeds stay as built.
    # Every seed runs first, so a kept reproducer fails at once if its bug is back.
    # Leaks are looked for afterwards, on every input kept (each seed and each
    # one that reached new code): libconfig leaks on most broken files (see
    # lsan.supp), and a LeakSanitizer pass after each of those would cost the
    # config target two thirds of its executions.
    rc=0
    ASAN_OPTIONS=detect_leaks=0 \
    "$bin" -detect_leaks=0 -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
        -timeout="$timeout" -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" "$seeds" >"$dir/log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$dir/log" || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
        "$dir/log" || true
    if [ "$rc" -eq 0 ]; then
        ASAN_OPTIONS=detect_leaks=1 \
        "$bin" -detect_leaks=1 -runs=0 -rss_limit_mb="$rss_mb" -timeout="$timeout" \
            -artifact_prefix="$dir/" "$dir/corpus" "$seeds" >>"$dir/log" 2>&1 || rc=$?
        echo "leaks: $(find "$dir/corpus" "$seeds" -type f | wc -l) inputs replayed with LeakSanitizer"
    fi
    artifacts=$(ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' || true)
    if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
        echo "fuzz: fuzz_$name FAILED (exit $rc); log $dir/log" >&2
        # The report itself: from the sanitizer's or libFuzzer's first word on.
        sed -n '/^==[0-9]*==\|^[^ ]*: runtime error\|^fuzz_[a-z]*:\|ERROR: libFuzzer/,$p' "$dir/log" |
            head -80 >&2
        for a in $artifacts; do
            echo "fuzz: input $dir/$a ($(wc -c <"$dir/$a") bytes), hex:" >&2
            od -An -tx1 -v "$dir/$a" | head -64 >&2
            echo "fuzz: reproduce with $bin $dir/$a" >&2
        done
        failed="$failed fuzz_$name"
    fi
done

nfailed=$(echo $failed | wc -w)
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed" >&2
fi
echo "fuzz: $(($# - nfailed)) passed, $nfailed failed"
[ -z "$failed" ]
