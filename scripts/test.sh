#!/usr/bin/env bash
# Every test (docs/testing.md): installs what is missing, builds with -Werror, runs the C++ tests (unit,
# integration, CLI, crash) once under AddressSanitizer + UndefinedBehaviorSanitizer with each fuzz target beside
# them for a bounded time, the packaging, docs and benchmark tests of the main build, `pip install .` into a
# virtual environment, the portable wheel (scripts/wheel.sh --check), and the Python tests (with the example
# portal driven in headless Chromium; its screenshots are kept in build/test-artifacts/portal). Stages that
# mostly wait run beside others: the fuzz targets and the main build's packaging tests beside the sanitizer
# tests, the Python tests beside the installs and the wheel. The output ends with pytest's summary (ctest's
# comes before it).
# Usage: ./scripts/test.sh [--quick]     (--quick: no sanitizer build and no fuzzing; every C++ test in the main build)
#   FUZZ_SECONDS=N   time per fuzz target (default 20)
#   PYTEST_WORKERS=N processes for the Python tests (default 3; 0: one process, no pytest-xdist)
source "$(dirname "$0")/lib.sh"

quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
  esac
done
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
# What runs in the background (fuzzing, the packaging tests, pytest) is stopped when this script stops early.
background_pids=()
kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
stop_background() {
  for pid in "${background_pids[@]}"; do kill_tree "$pid"; done
}
trap stop_background EXIT
# The Python tests wait on sockets, timers and other processes most of the time (a quarter of two cores when
# run one at a time): pytest-xdist runs them in this many processes.
PYTEST_WORKERS=${PYTEST_WORKERS:-3}
# The PostgreSQL store's tests fail rather than skip when no server can be started (CI must not pass by skipping).
export RELAYLINK_REQUIRE_POSTGRES=1
# Likewise gunicorn and Celery (installed below): the deployment tests run, never skip.
export RELAYLINK_REQUIRE_DEPLOY=1

step "checking dependencies"
ensure_debs "${DEBS_BUILD[@]}" "${DEBS_TEST[@]}" "${DEBS_BROWSER[@]}" "${DEBS_WHEEL[@]}"
ensure_pip "${PIP_BUILD[@]}" "${PIP_TEST[@]}" "${PIP_WHEEL[@]}"
ensure_auditwheel
setup_ccache

configure_build "$BUILD_DIR" "${main_build_args[@]}"
if [ $quick = 0 ]; then
  # The C++ test programs run once, in the sanitizer build below: here everything else (relayctl, the examples,
  # the benchmarks, the Python module), whose tests are the packaging, docs and benchmark ones and the Python suite.
  step "building everything but the C++ test programs (warnings are errors)"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target relaylink_without_tests
else
  step "building (warnings are errors)"
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi

if [ $quick = 0 ]; then
  san_dir="$RELAYLINK_ROOT/build-sanitize"
  # clang, not g++: the instrumented -O0 code compiles about twice as fast (service.cpp: 18 s against 37 s), and
  # the code is then built warning-free with -Werror by both compilers (g++ above, clang here).
  # Precompiled headers for the test programs and relayctl (RELAYLINK_PCH): their files spend about half of
  # their time parsing the same gtest, Asio, Beast and relaylink headers. ccache serves files compiled with a
  # precompiled header only with this sloppiness (the header is precompiled without a timestamp: CMakeLists.txt).
  CXX=clang++ configure_build "$san_dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DRELAYLINK_WERROR=ON -DRELAYLINK_SANITIZE=address,undefined \
    -DRELAYLINK_BUILD_TESTS=ON -DRELAYLINK_BUILD_EXAMPLES=ON -DRELAYLINK_BUILD_BENCH=OFF -DRELAYLINK_TEST_PACKAGING=OFF -DRELAYLINK_PCH=ON
  step "building with AddressSanitizer + UndefinedBehaviorSanitizer (clang)"
  CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime cmake --build "$san_dir" -j "$JOBS"

  fuzz_dir="$RELAYLINK_ROOT/build-fuzz"
  CXX=clang++ configure_build "$fuzz_dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRELAYLINK_BUILD_FUZZ=ON -DRELAYLINK_BUILD_TESTS=OFF -DRELAYLINK_BUILD_EXAMPLES=OFF -DRELAYLINK_BUILD_BENCH=OFF \
    -DRELAYLINK_INSTALL=OFF
  step "building fuzz targets (clang, libFuzzer)"
  cmake --build "$fuzz_dir" -j "$JOBS" --target relaylink_fuzzers

  # The fuzz targets run one after the other beside the sanitizer tests (which wait on timers and sockets about
  # half of the time): their output is shown once the tests are done.
  fuzz_log="$fuzz_dir/fuzz.log"
  fuzz_all() {
    for target in "$fuzz_dir"/tests/fuzz/fuzz_*; do
      name=$(basename "$target")
      corpus_src="$RELAYLINK_ROOT/tests/fuzz/corpus/${name#fuzz_}"
      work="$fuzz_dir/corpus-run/${name#fuzz_}"
      mkdir -p "$work"
      echo "fuzzing $name for ${FUZZ_SECONDS}s"
      "$target" -max_total_time="$FUZZ_SECONDS" -max_len=1024 -print_final_stats=1 "$work" "$corpus_src" > "$work.log" 2>&1 \
        || { grep -E "==.*ERROR|SUMMARY|^artifact" "$work.log"; echo "fuzz target $name failed (all of it: $work.log)"; return 1; }
      grep -E "^(stat::number_of_executed_units|stat::new_units_added)" "$work.log" || true
    done
  }
  fuzz_all > "$fuzz_log" 2>&1 &
  fuzz_pid=$!
  background_pids+=("$fuzz_pid")

  # The main build's packaging, docs and benchmark smoke tests run beside them too (their output after).
  main_log="$BUILD_DIR/ctest-packaging.log"
  (cd "$BUILD_DIR" && ctest -j "$JOBS" --output-on-failure --timeout 600 -R '^(packaging|docs|bench)\.') > "$main_log" 2>&1 &
  main_pid=$!
  background_pids+=("$main_pid")

  step "the C++ tests (unit, integration, CLI, crash) under sanitizers; beside them the fuzz targets (${FUZZ_SECONDS}s each) and the packaging, docs and benchmark smoke tests"
  san_log="$san_dir/ctest.log"
  # Twice as many tests at once as cores: they wait on sockets, timers and child processes about 40% of the time
  # (on 2 cores without fuzzing: 85 s at 3 at once, 74 s at 4; 122 s at 2 with fuzzing beside).
  if (cd "$san_dir" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest -j "$((JOBS * 2))" --output-on-failure --timeout 300 > "$san_log" 2>&1); then
    grep -E "tests passed" "$san_log"
  else
    cat "$san_log"
    echo "sanitizer tests failed" >&2
    exit 1
  fi
  step "fuzzing (its results)"
  if ! wait "$fuzz_pid"; then
    cat "$fuzz_log"
    echo "fuzzing failed" >&2
    exit 1
  fi
  cat "$fuzz_log"
fi

if [ $quick = 0 ]; then
  step "packaging, docs and benchmark smoke tests (their results)"
  if ! wait "$main_pid"; then
    cat "$main_log"
    echo "packaging, docs or benchmark tests failed" >&2
    exit 1
  fi
  cat "$main_log"
else
  step "unit, CLI, packaging, docs and benchmark smoke tests"
  (cd "$BUILD_DIR" && ctest -j "$JOBS" --output-on-failure --timeout 600)
fi

# The Python tests (against the build tree) wait on sockets, timers and processes most of the time: they run
# beside the installs and the wheel below, and their output comes last.
py_log="$BUILD_DIR/pytest.log"
step "Python tests (pytest, against the build tree; the example portal in headless Chromium, screenshots in $BUILD_DIR/test-artifacts/portal) started; their output at the end"
(cd "$RELAYLINK_ROOT" && RELAYLINK_REQUIRE_BROWSER=1 RELAYLINK_ARTIFACTS="$BUILD_DIR/test-artifacts" \
  PYTHONPATH="$BUILD_DIR/python" python3 -m pytest -q -p no:cacheprovider -n "$PYTEST_WORKERS" --dist load --maxschedchunk 1 tests/python) \
  > "$py_log" 2>&1 &
py_pid=$!
background_pids+=("$py_pid")

venv="$RELAYLINK_ROOT/build-venv"
step "Python: pip install . into a virtual environment ($venv)"
[ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --no-build-isolation --disable-pip-version-check "${pip_build_settings[@]}" "${pip_launcher[@]}" \
  "--config-settings=build-dir=$RELAYLINK_ROOT/build-wheel" "$RELAYLINK_ROOT"
step "Python: pip install -e . (editable: the Python files are used where they are)"
venv_e="$RELAYLINK_ROOT/build-venv-editable"
[ -x "$venv_e/bin/python" ] || python3 -m venv --system-site-packages "$venv_e"
"$venv_e/bin/python" -m pip install -q --no-build-isolation --disable-pip-version-check "${pip_build_settings[@]}" "${pip_launcher[@]}" \
  "--config-settings=build-dir=$RELAYLINK_ROOT/build-wheel" -e "$RELAYLINK_ROOT"
(cd "$venv_e" && "$venv_e/bin/python" -c "
import relaylink, relaylink._core, sys
expected = '$RELAYLINK_ROOT/bindings/python/relaylink/__init__.py'
sys.exit(0 if relaylink.__file__ == expected else 'editable install imports ' + relaylink.__file__ + ', not ' + expected)")
echo "editable install: relaylink imported from $RELAYLINK_ROOT/bindings/python"

step "Python: the portable wheel (auditwheel), proven in a minimal Debian 12 root without relaylink's build dependencies"
wheel_log="$BUILD_DIR/wheel.log"
if "$RELAYLINK_ROOT/scripts/wheel.sh" --check > "$wheel_log" 2>&1; then
  grep -E "^(sdist|wheel): |resolves|works where|all confirmed" "$wheel_log"
else
  tail -n 60 "$wheel_log"
  echo "the portable wheel failed (all of it: $wheel_log)" >&2
  exit 1
fi

step "Python: the installed package, used from outside the source tree"
(cd "$venv" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$RELAYLINK_ROOT/tests/python/test_package.py" \
  "$RELAYLINK_ROOT/tests/python/test_chirpstack_service.py")

step "Python tests (their output, $py_log)"
py_rc=0
wait "$py_pid" || py_rc=$?
background_pids=()
cat "$py_log"
exit "$py_rc"
