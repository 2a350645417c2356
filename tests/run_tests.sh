#!/bin/sh
# Runs each test binary (and the CLI shell tests), prints their output, and
# closes with the total "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
passed=0; failed=0
for t in "$@" tests/cli_*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    case "$t" in
    *.sh) [ -n "${TEST_WRAPPER:-}" ] && continue  # shell tests run the native binary
          out=$(BUILD=${BUILD:-build} ASAN_OPTIONS=${CLI_ASAN_OPTIONS:-${ASAN_OPTIONS:-}} sh "$t" 2>&1) ;;
    *) out=$(${TEST_WRAPPER:-} "./$t" 2>&1) ;;
    esac
    rc=$?
    printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $t: no summary line (exit $rc)"; failed=$((failed + 1)); continue
    fi
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $t: exit $rc"; failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
