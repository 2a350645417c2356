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
          out=$(BUILD=${BUILD:-build} ASAN_OPTIONS=${CLI_ASAN_OPTIONS:-${ASAN_OPTIONS:-}} sh "$t" 2>&1); rc=$? ;;
    *) out=$(${TEST_WRAPPER:-} "./$t" 2>&1); rc=$?
       # LeakSanitizer's tracer thread sometimes crashes under this kind of sandbox's ptrace
       # rules ("LeakSanitizer has encountered a fatal error"; not a leak report): run once more
       if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'LeakSanitizer has encountered a fatal error'; then
           echo "(LeakSanitizer's tracer crashed, not a leak: running $t once more)"
           out=$(${TEST_WRAPPER:-} "./$t" 2>&1); rc=$?
       fi ;;
    esac
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
