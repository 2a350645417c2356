#!/bin/sh
# Debian packages: `dpkg-buildpackage -us -uc -b` on a copy of the tree (nocheck: CI
# runs the test suite itself), then a scratch check of the .debs: the packages
# expected, each holding what it should, their dependencies, the command, the C
# example through pkg-config and the Python package working from the unpacked files.
# With MEDSAM_DEB_INSTALL=1 (CI's throwaway machine) the packages are also installed
# with dpkg -i, used from the system paths, and removed with dpkg -r.
# Needs debhelper and dpkg-dev. Run by `make test-deb`.
. tests/lib_cli.sh
ROOT=$(pwd)
V=$(sed -n 's/^#define MEDSAM_VERSION "\(.*\)"/\1/p' include/medsam.h)
DV=$(sed -n '1s/^medsam (\([^)]*\)).*/\1/p' debian/changelog)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
M=$ROOT/tests/fixtures/tiny/model.pth
IMG=$ROOT/tests/fixtures/images/horse.png
[ "${DV%%-*}" = "$V" ] && ok "debian/changelog $DV matches MEDSAM_VERSION $V" || bad "debian/changelog $DV vs medsam.h $V"

S=$T/medsam-$V
mkdir -p "$S"
# the tree as git sees it (no build outputs); without git, everything but the build folders
if git ls-files -co --exclude-standard >"$T/list" 2>/dev/null && [ -s "$T/list" ]; then
    tar -cf - -T "$T/list" | tar -xf - -C "$S"
else
    tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$S"
fi
start=$(date +%s)
if (cd "$S" && DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-2}" dpkg-buildpackage -us -uc -b -Pnocheck) >"$T/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b: $(($(date +%s) - start)) s"
else
    bad "dpkg-buildpackage: $(grep -i error "$T/build.log" | head -3 | tr '\n' ' ')"
    tail -20 "$T/build.log"
    summary; exit
fi
for p in libmedsam0_${DV}_$ARCH libmedsam-dev_${DV}_$ARCH medsam_${DV}_$ARCH python3-medsam_${DV}_all; do
    [ -f "$T/$p.deb" ] && ok "built $p.deb" || bad "missing $p.deb: $(ls "$T"/*.deb | tr '\n' ' ')"
done
contents() { dpkg-deb -c "$T/$1" | awk '{print $6}' | sed 's|^\./|/|'; }
contents "libmedsam0_${DV}_$ARCH.deb" | grep -q "^/usr/lib/$MA/libmedsam.so.$V$" && ! contents "libmedsam0_${DV}_$ARCH.deb" | grep -q '\.h$' &&
    ok "libmedsam0: the shared library only" || bad "libmedsam0 contents"
c=$(contents "libmedsam-dev_${DV}_$ARCH.deb")
echo "$c" | grep -q '^/usr/include/medsam.h$' && echo "$c" | grep -q "^/usr/lib/$MA/libmedsam.a$" &&
    echo "$c" | grep -q "^/usr/lib/$MA/pkgconfig/medsam.pc$" && echo "$c" | grep -q "^/usr/lib/$MA/libmedsam.so$" &&
    ok "libmedsam-dev: header, static library, .so link, pkg-config file" || bad "libmedsam-dev contents: $c"
c=$(contents "medsam_${DV}_$ARCH.deb")
echo "$c" | grep -q '^/usr/bin/medsam$' && echo "$c" | grep -q '^/usr/share/man/man1/medsam.1.gz$' &&
    ok "medsam: the command and its man page" || bad "medsam contents: $c"
dep=$(dpkg-deb -f "$T/libmedsam0_${DV}_$ARCH.deb" Depends)
echo "$dep" | grep -q libpng16-16 && echo "$dep" | grep -q libgomp1 && ok "libmedsam0 Depends: $dep" || bad "libmedsam0 Depends: $dep"
dep=$(dpkg-deb -f "$T/medsam_${DV}_$ARCH.deb" Depends)  # libmicrohttpd is loaded by `serve`, not linked
echo "$dep" | grep -q libmicrohttpd12 && ok "medsam Depends names libmicrohttpd12: $dep" || bad "medsam Depends: $dep"

# unpacked into a scratch root: the command, the C example through pkg-config, Python
R=$T/root
for d in "$T"/*.deb; do dpkg-deb -x "$d" "$R"; done
L=$R/usr/lib/$MA
[ "$(LD_LIBRARY_PATH=$L "$R/usr/bin/medsam" --version)" = "medsam $V" ] && ok "unpacked medsam --version" || bad "medsam --version"
if [ -f "$ROOT/models/medsam-small.safetensors" ]; then
    if echo "$c" | grep -q '^/usr/share/medsam/medsam-small.safetensors$' && echo "$c" | grep -q '^/usr/share/medsam/medsam-small.sha256$' &&
        LD_LIBRARY_PATH=$L "$R/usr/bin/medsam" info 2>"$T/err" | grep -q '/usr/share/medsam/medsam-small.safetensors$'
    then ok "medsam: the bundled default model in /usr/share/medsam, used without -m"
    else bad "default model in the package: $(cat "$T/err") $(LD_LIBRARY_PATH=$L "$R/usr/bin/medsam" info 2>&1 | head -1)"; fi
fi
"$ROOT/$B" segment -m "$M" -i "$IMG" -b 30,20,180,150 -o "$T/cli.png" --threads 2 2>/dev/null
flags=$(PKG_CONFIG_SYSROOT_DIR=$R PKG_CONFIG_PATH=$L/pkgconfig pkg-config --cflags --libs medsam)
# shellcheck disable=SC2086
if cc "$R/usr/share/doc/libmedsam-dev/examples/segment.c" $flags -o "$T/seg" 2>"$T/err" &&
    LD_LIBRARY_PATH=$L "$T/seg" "$M" "$IMG" 30 20 180 150 "$T/ex.raw" >"$T/out" 2>>"$T/err"; then
    ok "the packaged example, built with pkg-config: $(cat "$T/out")"
else
    bad "packaged example: $(cat "$T/err")"
fi
if MEDSAM_LIBRARY=$L/libmedsam.so.0 PYTHONPATH=$R/usr/lib/python3/dist-packages /usr/bin/python3 -c "
import sys, numpy as np, medsam
m = medsam.Model(sys.argv[1], threads=2)
lab = m.segment(sys.argv[2], boxes=[30, 20, 180, 150])
assert np.array_equal(np.where(lab > 0, 255, 0), medsam.read_image(sys.argv[3]))
assert np.array_equal(lab, np.fromfile(sys.argv[4], np.uint8).reshape(lab.shape))
" "$M" "$IMG" "$T/cli.png" "$T/ex.raw" 2>"$T/err"; then
    ok "the packaged Python module gives the CLI's mask"
else
    bad "packaged Python: $(tail -2 "$T/err")"
fi

if [ "${MEDSAM_DEB_INSTALL:-0}" = 1 ]; then
    if dpkg -i "$T"/libmedsam0_*.deb "$T"/libmedsam-dev_*.deb "$T"/medsam_${DV}_*.deb "$T"/python3-medsam_*.deb >"$T/dpkg" 2>&1 &&
        [ "$(medsam --version)" = "medsam $V" ] && (cd "$T" && /usr/bin/python3 -c "import medsam; medsam.Model('$M')") &&
        cc "$R/usr/share/doc/libmedsam-dev/examples/segment.c" $(pkg-config --cflags --libs medsam) -o "$T/seg2" &&
        "$T/seg2" "$M" "$IMG" 30 20 180 150 "$T/ex2.raw" >/dev/null && cmp -s "$T/ex.raw" "$T/ex2.raw"; then
        ok "dpkg -i: medsam --version, import medsam, the example linked against the system library"
    else
        bad "dpkg -i: $(tail -3 "$T/dpkg")"
    fi
    dpkg -r python3-medsam medsam libmedsam-dev libmedsam0 >"$T/dpkg" 2>&1 && [ ! -e /usr/bin/medsam ] &&
        ok "dpkg -r removes them" || bad "dpkg -r: $(tail -3 "$T/dpkg")"
fi
summary
