#!/usr/bin/env bash
# A wheel that installs without a compiler or any of relaylink's build dependencies, and the sdist it comes
# from, into dist/. The wheel carries the shared libraries its C++ core needs (Boost's compiled parts are
# header-only here; OpenSSL, SQLite, libpq, Paho MQTT, date-tz) the ecosystem's way: `auditwheel repair`,
# which copies them into relaylink.libs/, rewrites their names and RPATHs, and tags the wheel with the
# most compatible manylinux policy the symbols it uses allow (built on Debian 12: manylinux_2_35).
#
# Usage: ./scripts/wheel.sh [--from-sdist] [--check]
#   --from-sdist  build the wheel from the sdist just made rather than from this tree (proves the sdist
#                 builds; a full compile, 4 min 25 s on 2 cores here, where the default reuses the main build's ccache: 25 s)
#   --check       then prove the wheel where relaylink's build dependencies are absent: a minimal Debian 12
#                 root (debootstrap, kept in $RELAYLINK_WHEEL_ROOT, by default ~/.cache/relaylink/debian12-root,
#                 so that fresh clones reuse it) with only python3, a clean venv, `pip install`
#                 of the wheel, the quickstart (which ends with the portal's drop-in call) on the embedded
#                 simulator, and ldd of every library in the wheel showing nothing missing
source "$(dirname "$0")/lib.sh"

from_sdist=0
check=0
for a in "$@"; do
  case "$a" in
    --from-sdist) from_sdist=1 ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--from-sdist] [--check]" >&2; exit 2 ;;
  esac
done

step "checking dependencies"
ensure_debs "${DEBS_BUILD[@]}" "${DEBS_WHEEL[@]}"
ensure_pip "${PIP_BUILD[@]}" "${PIP_WHEEL[@]}"
ensure_auditwheel
setup_ccache

dist="$RELAYLINK_ROOT/dist"
raw="$RELAYLINK_ROOT/build-wheel-raw"   # the wheel as built, before auditwheel
rm -rf "$raw"
mkdir -p "$dist" "$raw"
version=$(python3 -c "import tomllib; print(tomllib.load(open('$RELAYLINK_ROOT/pyproject.toml', 'rb'))['project']['version'])")
rm -f "$dist"/relaylink-"$version"*

step "sdist"
python3 -m build --sdist --no-isolation --outdir "$dist" "$RELAYLINK_ROOT" > "$raw/sdist.log" 2>&1 ||
  { tail -n 30 "$raw/sdist.log" >&2; echo "the sdist failed to build" >&2; exit 1; }
sdist="$dist/relaylink-$version.tar.gz"
[ -f "$sdist" ] || { echo "no $sdist" >&2; exit 1; }
# What the sdist must hold to build: the C++ sources, the headers, the bindings and the build files.
tar -tzf "$sdist" > "$raw/sdist.files"
for must in CMakeLists.txt pyproject.toml include/relaylink/service/service.hpp src/service/service.cpp \
            bindings/python/relaylink/__init__.py; do
  grep -qx "relaylink-$version/$must" "$raw/sdist.files" || { echo "the sdist lacks $must" >&2; exit 1; }
done
echo "sdist: $sdist ($(du -h "$sdist" | cut -f1))"

if [ $from_sdist = 1 ]; then
  source_arg=$sdist
  build_dir="$RELAYLINK_ROOT/build-wheel-sdist"
else
  source_arg=$RELAYLINK_ROOT
  build_dir="$RELAYLINK_ROOT/build-wheel"   # the one test.sh's `pip install .` uses: incremental
fi
step "wheel (from $( [ $from_sdist = 1 ] && echo "the sdist" || echo "this tree"))"
python3 -m pip wheel -q --no-deps --no-build-isolation --disable-pip-version-check -w "$raw" \
  "${pip_build_settings[@]}" "${pip_launcher[@]}" "--config-settings=build-dir=$build_dir" "$source_arg"
built=$(ls "$raw"/relaylink-*.whl)

step "auditwheel repair (the libraries it needs, into the wheel)"
auditwheel repair --strip -w "$dist" "$built" > "$raw/repair.log" 2>&1 ||
  { cat "$raw/repair.log" >&2; echo "auditwheel could not repair $built" >&2; exit 1; }
wheel=$(ls -t "$dist"/relaylink-"$version"-*manylinux*.whl | head -n 1)
auditwheel show "$wheel"
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"

[ $check = 1 ] || exit 0

root=${RELAYLINK_WHEEL_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/relaylink/debian12-root}
if [ ! -x "$root/usr/bin/python3" ]; then
  step "a minimal Debian 12 root with python3 only ($root)"
  rm -rf "$root"
  mkdir -p "$(dirname "$root")"
  logged "debootstrap" as_root debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" http://deb.debian.org/debian
fi
step "proving the wheel in $root: nothing of relaylink's build is there"
# Python itself brings OpenSSL and SQLite into the root; the wheel must not use those (checked below with ldd).
for lib in libboost libpq.so libpaho-mqtt libdate-tz; do
  if find "$root/usr/lib" "$root/lib" -name "$lib*" 2>/dev/null | grep -q .; then
    echo "$root has $lib: not a clean proof" >&2
    exit 1
  fi
done
[ -x "$root/usr/bin/c++" ] && { echo "$root has a C++ compiler: not a clean proof" >&2; exit 1; }
rm -rf "$root/proof"
mkdir -p "$root/proof"
cp "$wheel" "$RELAYLINK_ROOT/examples/python/relay_quickstart.py" "$root/proof/"
cat > "$root/proof/run.sh" <<EOF
set -eu
cd /proof
python3 -m venv /proof/venv
/proof/venv/bin/pip install -q --no-index --disable-pip-version-check /proof/$(basename "$wheel")
echo "installed: \$(/proof/venv/bin/pip list 2>/dev/null | grep relaylink)"
# Every library of the wheel resolves, and only to the wheel's own copies or to what every manylinux system
# has (glibc's libraries, libstdc++, libgcc_s): not to the root's OpenSSL or SQLite, which Python brought.
site=\$(/proof/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['platlib'])")
for so in \$(find "\$site" -name '*.so*'); do
  if ldd "\$so" | grep -q "not found"; then ldd "\$so"; echo "unresolved libraries in \$so" >&2; exit 1; fi
  outside=\$(ldd "\$so" | grep "=> /" | grep -v "/relaylink.libs/" |
            grep -vE "/(libc|libm|libpthread|libdl|librt|libresolv|libutil|libnsl|libstdc\\+\\+|libgcc_s|ld-linux-x86-64)\\.so" || true)
  if [ -n "\$outside" ]; then echo "\$so uses libraries outside the wheel:"; echo "\$outside"; exit 1; fi
done
echo "every library of the wheel resolves, to the wheel's own copies or to glibc and libstdc++"
/proof/venv/bin/python relay_quickstart.py
EOF
as_root chroot "$root" /bin/bash /proof/run.sh
echo "the wheel works where relaylink's build dependencies are absent"
