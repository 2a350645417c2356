#!/bin/sh
# `make install` into a scratch DESTDIR, used from another directory as a user would:
# the file list, SONAME and links; examples/segment.c compiled and linked through
# pkg-config (shared, and static with Libs.private) and giving the CLI's mask; the
# Python package found from the prefix with its library and giving the CLI's mask;
# ldd shows only system libraries; only medsam_* exported (every function of medsam.h);
# the man page renders without warnings and names every option of cli/*.c;
# `make uninstall` removes everything. Skipped in sanitizer builds (no shared library).
. tests/lib_cli.sh
BUILD=${BUILD:-build}
if [ ! -e "$BUILD/libmedsam.so.0" ] && { case "$BUILD" in *asan*) true ;; *) nm "$B" 2>/dev/null | grep -q __asan_ ;; esac; }; then
    echo "skipped: sanitizer build (make install is tested in the plain build)"
    summary; exit
fi
ROOT=$(pwd)
R=$T/root
M=$ROOT/tests/fixtures/tiny/model.pth
IMG=$ROOT/tests/fixtures/images/horse.png
V=$(sed -n 's/^#define MEDSAM_VERSION "\(.*\)"/\1/p' include/medsam.h)
MAJOR=${V%%.*}

if make -s --no-print-directory install install-python BUILD="$BUILD" DESTDIR="$R" PREFIX=/usr >"$T/log" 2>&1; then
    ok "make install install-python DESTDIR=... PREFIX=/usr"
else
    bad "make install: $(tail -5 "$T/log")"
fi
(cd "$R" && find . \( -type f -o -type l \) | sort) >"$T/files"
cat >"$T/want" <<EOT
./usr/bin/medsam
./usr/include/medsam.h
./usr/lib/libmedsam.a
./usr/lib/libmedsam.so
./usr/lib/libmedsam.so.$MAJOR
./usr/lib/libmedsam.so.$V
./usr/lib/pkgconfig/medsam.pc
EOT
for f in python/medsam/*.py; do echo "./usr/lib/python3/dist-packages/medsam/${f##*/}"; done >>"$T/want"
echo "./usr/share/man/man1/medsam.1" >>"$T/want"
if [ -f models/medsam-small.safetensors ]; then # the bundled default model, once it exists
    printf './usr/share/medsam/medsam-small.safetensors\n./usr/share/medsam/medsam-small.sha256\n' >>"$T/want"
fi
sort "$T/want" -o "$T/want"
if cmp -s "$T/files" "$T/want"; then ok "installed files: $(wc -l <"$T/files") as listed"; else bad "installed files: $(diff "$T/want" "$T/files" | tr '\n' ' ')"; fi
L=$R/usr/lib
if [ "$(readlink "$L/libmedsam.so")" = "libmedsam.so.$MAJOR" ] && [ "$(readlink "$L/libmedsam.so.$MAJOR")" = "libmedsam.so.$V" ] &&
    readelf -d "$L/libmedsam.so.$V" | grep -q "SONAME.*\[libmedsam.so.$MAJOR\]"; then
    ok "libmedsam.so -> .so.$MAJOR -> .so.$V, SONAME libmedsam.so.$MAJOR"
else
    bad "links / SONAME: $(ls -l "$L" | tr '\n' ' ')"
fi
[ "$("$R/usr/bin/medsam" --version)" = "medsam $V" ] && ok "installed medsam --version: medsam $V" || bad "medsam --version"

# from another directory, through pkg-config pointed into the DESTDIR
mkdir -p "$T/work" && cd "$T/work" || exit 1
export PKG_CONFIG_SYSROOT_DIR="$R" PKG_CONFIG_PATH="$L/pkgconfig"
flags=$(pkg-config --cflags --libs medsam)
if [ "$(pkg-config --modversion medsam)" = "$V" ] && echo "$flags" | grep -q -- "-I$R/usr/include" &&
    echo "$flags" | grep -q -- "-L$L" && echo "$flags" | grep -q -- "-lmedsam"; then
    ok "pkg-config --cflags --libs medsam: $flags"
else
    bad "pkg-config: $flags ($(pkg-config --modversion medsam 2>&1))"
fi
"$ROOT/$B" segment -m "$M" -i "$IMG" -b 30,20,180,150 -o "$T/cli.png" --threads 2 2>"$T/err" || bad "CLI: $(cat "$T/err")"
# shellcheck disable=SC2086
if cc "$ROOT/examples/segment.c" $flags -o seg 2>"$T/err" &&
    LD_LIBRARY_PATH="$L" ./seg "$M" "$IMG" 30 20 180 150 "$T/ex.raw" >"$T/out" 2>"$T/err"; then
    ok "examples/segment.c built with pkg-config, run: $(cat "$T/out")"
else
    bad "examples/segment.c: $(cat "$T/err")"
fi
if LD_LIBRARY_PATH="$L" ldd ./seg | grep -q "libmedsam.so.$MAJOR => $L/libmedsam.so.$MAJOR"; then
    ok "the example runs on the installed libmedsam.so.$MAJOR"
else
    bad "the example's libmedsam: $(LD_LIBRARY_PATH="$L" ldd ./seg | grep medsam)"
fi
# shellcheck disable=SC2086
if cc "$ROOT/examples/segment.c" $(pkg-config --cflags medsam) "$L/libmedsam.a" \
    $(pkg-config --static --libs medsam | sed 's/-lmedsam//') -o seg_static 2>"$T/err" &&
    ./seg_static "$M" "$IMG" 30 20 180 150 "$T/ex_static.raw" >/dev/null 2>"$T/err" &&
    ! ldd ./seg_static | grep -q medsam && cmp -s "$T/ex.raw" "$T/ex_static.raw"; then
    ok "static link with pkg-config --static (Libs.private, Requires.private): the same mask"
else
    bad "static link: $(cat "$T/err")"
fi

# the header from C++ (extern "C"), linked through pkg-config
printf '#include <medsam.h>\n#include <cstdio>\nint main() { std::puts(medsam_version()); }\n' >"$T/v.cc"
# shellcheck disable=SC2086
if c++ -Wall -Wextra -pedantic "$T/v.cc" $flags -o v_cc 2>"$T/err" && [ "$(LD_LIBRARY_PATH="$L" ./v_cc)" = "$V" ]; then
    ok "medsam.h from C++: medsam_version() = $V"
else
    bad "C++: $(cat "$T/err")"
fi

# the Python package from the prefix finds the prefix's library, and gives the CLI's mask
unset MEDSAM_LIBRARY
PYTHONPATH="$L/python3/dist-packages" /usr/bin/python3 - "$M" "$IMG" "$T" "$L" >"$T/py" 2>&1 <<'EOT'
import os, sys
import numpy as np
import medsam
model, img, t, lib = sys.argv[1:]
assert os.path.dirname(medsam.library_path) == lib, medsam.library_path
m = medsam.Model(model, threads=2)
labels = m.segment(img, boxes=[[30, 20, 180, 150]])
cli = medsam.read_image(os.path.join(t, "cli.png"))
raw = np.fromfile(os.path.join(t, "ex.raw"), np.uint8).reshape(labels.shape)
assert np.array_equal(np.where(labels > 0, 255, 0), cli), "python mask differs from the CLI's"
assert np.array_equal(raw, labels), "examples/segment.c's mask differs from python's"
print("import medsam from the prefix: library %s, %d mask pixels = CLI = examples/segment.c" % (
    medsam.library_path, int((labels > 0).sum())))
EOT
if [ $? -eq 0 ]; then ok "$(tail -1 "$T/py")"; else bad "python from the prefix: $(tail -3 "$T/py" | tr '\n' ' ')"; fi
cd "$ROOT" || exit 1

# only system libraries, only medsam_* exported, every function of medsam.h exported
deps=$(ldd "$R/usr/bin/medsam" "$L/libmedsam.so.$V" | awk '/=>/ {print $3}' | sort -u)
if ! ldd "$R/usr/bin/medsam" "$L/libmedsam.so.$V" | grep -q "not found" &&
    ! echo "$deps" | grep -v -E '^/(usr/)?lib/' | grep -q .; then
    ok "ldd: only system libraries ($(echo "$deps" | xargs -n1 basename | tr '\n' ' '))"
else
    bad "ldd: $deps"
fi
nm -D --defined-only "$L/libmedsam.so.$V" | awk '{print $3}' | sort >"$T/exports"
other=$(grep -v '^medsam_' "$T/exports" | tr '\n' ' ')
[ -z "$other" ] && ok "nm -D: only medsam_* ($(wc -l <"$T/exports") symbols)" || bad "exported beyond medsam_*: $other"
grep -o 'medsam_[a-z0-9_]*(' include/medsam.h | tr -d '(' | sort -u >"$T/declared"
missing=$(comm -23 "$T/declared" "$T/exports" | tr '\n' ' ')
[ -z "$missing" ] && ok "every function declared in medsam.h is exported" || bad "declared, not exported: $missing"

# man page: renders, no groff warnings, every option of cli/*.c is documented
MP=$R/usr/share/man/man1/medsam.1
if LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$MP" 2>"$T/merr" >"$T/man.txt" && grep -q "medsam segment" "$T/man.txt" && [ ! -s "$T/merr" ]; then
    ok "man -l renders the page ($(wc -l <"$T/man.txt") lines, no warnings)"
else
    bad "man -l: $(head -3 "$T/merr")"
fi
undoc=""
for o in $(grep -ohE '"(--[a-z][a-z0-9-]*|-[a-zA-Z])"' cli/*.c | tr -d '"' | sort -u); do
    grep -q -- "$(printf '%s' "$o" | sed 's/-/\\\\-/g')" "$MP" || undoc="$undoc $o"
done
[ -z "$undoc" ] && ok "every option in cli/*.c is in the man page" || bad "options missing from doc/medsam.1:$undoc"

# pip install ./python, without network: the in-tree PEP 517 backend builds the wheel
# (checked directly, and through pip where python3-pip is installed)
mkdir -p "$T/wheel"
if (cd python && /usr/bin/python3 -c "import medsam_build, sys; print(medsam_build.build_wheel(sys.argv[1]))" "$T/wheel") >"$T/whl" 2>&1 &&
    (cd "$T/wheel" && /usr/bin/python3 -m zipfile -e "$(cat "$T/whl")" unpacked) &&
    (cd "$T/wheel" && MEDSAM_LIBRARY="$ROOT/$BUILD/libmedsam.so.0" PYTHONPATH=unpacked /usr/bin/python3 -c "import medsam; medsam.Model('$M')"); then
    ok "python/medsam_build.py builds $(cat "$T/whl"), which imports and loads a model"
else
    bad "wheel: $(tail -2 "$T/whl")"
fi
rm -rf "$T/wheel"
if /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
    if /usr/bin/python3 -m pip install -q --no-index --no-deps --target "$T/pip" ./python >"$T/pip.log" 2>&1 &&
        [ -f "$T/pip/medsam/model.py" ] && [ -d "$T/pip/medsam-$V.dist-info" ]; then
        ok "pip install --no-index ./python"
    else
        bad "pip install ./python: $(grep -i error "$T/pip.log" | head -2)"
    fi
fi

# make uninstall removes everything it installed
make -s --no-print-directory uninstall BUILD="$BUILD" DESTDIR="$R" PREFIX=/usr >"$T/log" 2>&1
left=$(cd "$R" && find . \( -type f -o -type l \) | tr '\n' ' ')
[ -z "$left" ] && ok "make uninstall removed every installed file" || bad "left after uninstall: $left"
summary
