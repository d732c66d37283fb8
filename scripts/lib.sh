# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, configure, build.
# Safe to run any number of times: nothing is installed or rebuilt twice.
set -euo pipefail

RELAYLINK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${RELAYLINK_BUILD_DIR:-$RELAYLINK_ROOT/build}
JOBS=${RELAYLINK_JOBS:-$(nproc)}

step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }  # time since the script began

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages relaylink builds and tests with.
DEBS_BUILD=(build-essential cmake ninja-build pkg-config libboost1.81-dev libssl-dev libsqlite3-dev libpq-dev
            libpaho-mqtt-dev libpaho-mqttpp-dev libhowardhinnant-date-dev tzdata)
DEBS_TEST=(libgtest-dev libbenchmark-dev clang libclang-rt-14-dev mosquitto wrk nginx-light ccache
           postgresql-15)   # the PostgreSQL store's tests start their own server (tests/support/pg_server.sh)
DEBS_BROWSER=(chromium chromium-driver)   # the example portal's browser tests (test.sh only)
# demo.sh and portal.sh install DEBS_BUILD alone (no test frameworks, clang, wrk, PostgreSQL or broker: the
# test command's), and use ccache when it happens to be there.
# Python packages (python3 on PATH is not Debian's, so these come from pip): the bindings' build, and the tests.
PIP_BUILD=(pybind11=pybind11 scikit_build_core=scikit-build-core)
PIP_TEST=(pytest=pytest pytest_timeout=pytest-timeout xdist=pytest-xdist flask=flask requests=requests mypy=mypy selenium=selenium
          gunicorn=gunicorn celery=celery    # the deployment of docs/deploying.md, run by tests/python/test_deploy.py
          flask_sqlalchemy=flask-sqlalchemy flask_login=flask-login psycopg2=psycopg2-binary)  # the portal-like app (test_portal_integration.py)
PIP_PORTAL=(flask=flask)
# scripts/wheel.sh: auditwheel repair, the sdist, and a minimal Debian root to prove the wheel in.
# auditwheel 6.8 and later refuse Debian 12's patchelf (0.14.3; they want 0.14.5): the last release that takes it.
DEBS_WHEEL=(patchelf debootstrap)
AUDITWHEEL_SPEC="auditwheel>=6.4,<6.8"
PIP_WHEEL=("auditwheel=$AUDITWHEEL_SPEC" build=build)
# ensure_auditwheel: an auditwheel that works with Debian 12's patchelf, also where a newer one is installed.
ensure_auditwheel() {
  if ! (cd / && python3 -c "
import sys
from importlib.metadata import version
sys.exit(0 if tuple(int(x) for x in version('auditwheel').split('.')[:2]) < (6, 8) else 1)") 2>/dev/null; then
    step "installing $AUDITWHEEL_SPEC (Debian 12's patchelf is 0.14.3; auditwheel 6.8 and later want 0.14.5)"
    logged "pip install" python3 -m pip install "$AUDITWHEEL_SPEC"
  fi
}

# What apt-get and pip print goes to this file, one line per step on the screen; on a failure its end is shown.
SETUP_LOG=${RELAYLINK_SETUP_LOG:-$BUILD_DIR/setup.log}

# logged DESCRIPTION COMMAND...: runs COMMAND with its output in $SETUP_LOG; on failure shows the log's end.
logged() {
  local what=$1; shift
  mkdir -p "$(dirname "$SETUP_LOG")"
  printf '    %s (output: %s)\n' "$what" "$SETUP_LOG"
  printf '\n==> %s: %s\n' "$what" "$*" >>"$SETUP_LOG"
  if ! "$@" >>"$SETUP_LOG" 2>&1; then
    echo "failed: $what; the end of $SETUP_LOG:" >&2
    tail -n 30 "$SETUP_LOG" >&2
    return 1
  fi
}

ensure_debs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "Debian packages: all present ($*)"
    return
  fi
  step "installing Debian packages: ${missing[*]}"
  logged "apt-get update" as_root apt-get update -q
  logged "apt-get install" as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ensure_pip module=package ...: pip-installs the packages whose module does not import.
ensure_pip() {
  local missing=()
  for spec in "$@"; do
    local mod=${spec%%=*} pkg=${spec#*=}
    # From /, not from here: the build folder (build/) would pass for the package `build` (a namespace package).
    (cd / && python3 -c "import $mod") 2>/dev/null || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "Python packages: all present"
    return
  fi
  step "installing Python packages: ${missing[*]}"
  logged "pip install" python3 -m pip install "${missing[@]}"
}

# ccache, when present, lets `pip install .` (scikit-build-core, its own build folder) reuse what the
# main build compiled with the same flags: the build folders differ, hence no hashing of the directory.
# (Paths are not made relative to the checkout, CCACHE_BASEDIR: the packaging tests' builds, deeper in build/,
# then missed every file, 2026-12-04.)
export CCACHE_NOHASHDIR=1
setup_ccache() { # again after ensure_debs has installed it
  launcher_args=()
  pip_launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher_args=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    pip_launcher=(--config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
}
setup_ccache

# configure_build DIR [cmake args...]: configure once (again only when the arguments change).
configure_build() {
  local dir=$1; shift
  set -- "${launcher_args[@]}" "$@"
  local stamp="$dir/.relaylink-configure-args"
  local want="$*"
  if [ -f "$dir/build.ninja" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  step "configuring $dir"
  cmake -S "$RELAYLINK_ROOT" -B "$dir" -G Ninja "$@"
  echo "$want" > "$stamp"
}

# -g1 (line tables: stack traces keep file and line) instead of full debug info compiles the Beast-heavy
# units about 18% faster on these 2 cores; configure a build of your own for a debugger.
main_build_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
                 -DRELAYLINK_WERROR=ON -DRELAYLINK_BUILD_TESTS=ON
                 -DRELAYLINK_BUILD_EXAMPLES=ON -DRELAYLINK_BUILD_BENCH=ON
                 -DRELAYLINK_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$(command -v python3)" -DCMAKE_CXX_COMPILER=c++)
# The same compiler and flags for `pip install .` (so ccache serves it from the main build).
pip_build_settings=(--config-settings=cmake.build-type=RelWithDebInfo
                    "--config-settings=cmake.define.CMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
                    --config-settings=cmake.define.RELAYLINK_WERROR=ON --config-settings=cmake.define.CMAKE_CXX_COMPILER=c++)
