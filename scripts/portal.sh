#!/usr/bin/env bash
# The example portal (examples/flask_portal) on the embedded simulator: installs what is missing,
# builds relaylink's Python module, serves the portal on http://127.0.0.1:5000/ until Ctrl-C.
# Usage: ./scripts/portal.sh [run.py options: --port N, --speed X, --time-zone TZ, --window HH:MM-HH:MM, --data DIR, ...]
source "$(dirname "$0")/lib.sh"

step "checking dependencies"
ensure_debs "${DEBS_BUILD[@]}"
ensure_pip "${PIP_BUILD[@]}" "${PIP_PORTAL[@]}"
setup_ccache
configure_build "$BUILD_DIR" "${main_build_args[@]}" -DRELAYLINK_BUILD_TESTS=OFF -DRELAYLINK_BUILD_BENCH=OFF
step "building relaylink's Python module"
cmake --build "$BUILD_DIR" --target relaylink_python -j "$JOBS"

step "serving the example portal (Ctrl-C to stop)"
PYTHONPATH="$BUILD_DIR/python" exec python3 "$RELAYLINK_ROOT/examples/flask_portal/run.py" "$@"
