#!/bin/sh
# The Python bindings (python/medsam) over the freshly built shared library, with
# Debian's /usr/bin/python3 + python3-numpy: masks, logits and embeddings equal to
# `medsam segment` / `medsam embed` bit for bit on the fixtures, volumes equal to
# `medsam segment -B`, metrics equal to `medsam eval`, bad input raising the right
# exception, the GIL released during encode (tests/python/test_bindings.py).
# Not in sanitizer builds (no shared library there: /usr/bin/python3 cannot load an
# instrumented one without preloading the sanitizer runtime).
BUILD=${BUILD:-build}
LIB=$BUILD/libmedsam.so.0
if [ ! -e "$LIB" ] && { case "$BUILD" in *asan*) true ;; *) nm "$BUILD/medsam" 2>/dev/null | grep -q __asan_ ;; esac; }; then
    echo "skipped: sanitizer build (the Python bindings are tested in the plain build)"
    echo "0 passed, 0 failed"
    exit 0
fi
if [ ! -e "$LIB" ]; then echo "FAIL no $LIB (make shared)"; echo "0 passed, 1 failed"; exit 1; fi
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then
    echo "FAIL /usr/bin/python3 has no numpy (Debian: python3-numpy)"; echo "0 passed, 1 failed"; exit 1
fi
MEDSAM_LIBRARY=$(pwd)/$LIB PYTHONPATH=$(pwd)/python MEDSAM_CLI=$BUILD/medsam /usr/bin/python3 tests/python/test_bindings.py
