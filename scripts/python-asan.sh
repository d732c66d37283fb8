#!/usr/bin/env bash
# The Python suite against a module built with AddressSanitizer + UndefinedBehaviorSanitizer (the
# sanitizer runtimes preloaded into python3). Not part of ./scripts/test.sh: the extra build takes
# about 5 minutes on 2 cores. Run it after changing the bindings or anything they hold across threads.
# It found two use-after-free bugs that no other test showed (see docs/python.md, "Checked").
source "$(dirname "$0")/lib.sh"

dir="$RELAYLINK_ROOT/build-python-asan"
ensure_pip "${PIP_BUILD[@]}" "${PIP_TEST[@]}"
configure_build "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DRELAYLINK_SANITIZE=address,undefined \
  -DRELAYLINK_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$(command -v python3)" -DRELAYLINK_BUILD_TESTS=OFF \
  -DRELAYLINK_BUILD_EXAMPLES=OFF -DRELAYLINK_BUILD_BENCH=OFF -DRELAYLINK_INSTALL=OFF
step "building relaylink._core with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake --build "$dir" --target relaylink_python -j "$JOBS"
step "Python tests under the sanitizers (-s: a report must not vanish into pytest's capture)"
cd "$RELAYLINK_ROOT"
# Python itself is not built with ASan and keeps objects until exit: leaks are not checked. mypy is
# left out (it imports nothing of ours and is slow under the preload).
LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 PYTHONPATH="$dir/python" \
  python3 -m pytest -s -q -p no:cacheprovider tests/python \
  --deselect tests/python/test_package.py::test_mypy_strict_passes_on_the_package_and_a_typical_use
