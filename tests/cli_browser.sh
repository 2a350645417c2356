#!/bin/sh
# The medsam serve page in a real browser: Debian's chromium driven by npm's
# playwright-core (tests/browser/serve.test.js under `node --test`). Each
# browser test becomes an ok / FAIL line here, so that it counts in the total.
# Screenshots go to $BUILD/screenshots/. Skips (with a message) only when
# chromium or node is not installed at all; in CI (.ci/run) both are.
. tests/lib_cli.sh
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null 2>&1; then
    if [ -n "${CI:-}" ]; then bad "chromium ($CHROMIUM) or node missing in CI"; summary; exit 1; fi
    echo "skip: the browser test needs Debian's chromium and nodejs (apt-get install chromium nodejs npm)"
    summary
    exit 0
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    bad "playwright-core is not installed: (cd tests/browser && npm ci --ignore-scripts)"
    summary
    exit 1
fi
root=$(pwd)
bdir=${BUILD:-build}
case $bdir in /*) ;; *) bdir="$root/$bdir" ;; esac   # BUILD may already be absolute
(cd tests/browser && BUILD="$bdir" MEDSAM_SHOTS="$bdir/screenshots" CHROMIUM=$CHROMIUM \
    timeout 600 node --test --test-reporter=tap serve.test.js) >"$T/tap" 2>&1
rc=$?
# top-level TAP results: "ok N - name" / "not ok N - name"
while IFS= read -r line; do
    case "$line" in
    "ok "*) ok "browser: ${line#ok * - }" ;;
    "not ok "*) bad "browser: ${line#not ok * - }" ;;
    esac
done <"$T/tap"
if [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; then
    grep -E "error:|expected|actual|message" "$T/tap" | head -20
    [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && bad "node --test exited $rc: $(tail -5 "$T/tap")"
    [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && bad "node --test exited $rc"
fi
summary
