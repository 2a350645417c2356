# lib_cli.sh — sourced by the command-line test scripts (tests/cli_*.sh, tests/mpi_train.sh)
# from the repository root: the binary $B, a scratch folder $T removed on exit, the
# ok/bad counters and the closing "N passed, N failed" line (summary). Not a test itself.
B=${BUILD:-build}/medsam
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
summary() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }

# expect NAME EXPECTED_TEXT COMMAND...: the command must fail with exactly one line on stderr
# containing the text, and leave no $T/out* file behind (outputs are written atomically).
expect() {
    name=$1; text=$2; shift 2
    "$@" >"$T/stdout" 2>"$T/stderr"; rc=$?
    lines=$(wc -l <"$T/stderr")
    left=$(ls "$T" | grep -c '^out' || true)
    if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$text" "$T/stderr" && [ "$left" -eq 0 ]; then
        ok "$name: $(cat "$T/stderr")"
    else
        bad "$name: rc=$rc lines=$lines left=$left: $(cat "$T/stderr")"
    fi
    rm -f "$T"/out*
}

# expect_train NAME EXPECTED_TEXT COMMAND...: the command must fail with exactly one error line
# ("medsam: ...", after at most `medsam train: ` banner lines) on stderr containing the text.
expect_train() {
    name=$1; text=$2; shift 2
    "$@" >"$T/stdout" 2>"$T/stderr"; rc=$?
    lines=$(grep -c -v '^medsam train: ' "$T/stderr")
    if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep '^medsam: ' "$T/stderr" | grep -q -- "$text"; then
        ok "$name: $(grep '^medsam: ' "$T/stderr")"
    else
        bad "$name: rc=$rc lines=$lines: $(cat "$T/stderr")"
    fi
}

# npy_header DESCR SHAPE: a version-1.0 .npy header padded to 128 bytes
npy_header() {
    h="{'descr': '$1', 'fortran_order': False, 'shape': $2, }"
    printf '\223NUMPY\001\000\166\000%s%*s\n' "$h" $((128 - 10 - ${#h} - 1)) ""
}
