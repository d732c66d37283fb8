#!/usr/bin/env bash
# The demo: installs what is missing, builds relaylink, and shows it working.
# Usage: ./scripts/demo.sh
source "$(dirname "$0")/lib.sh"

step "checking dependencies"
ensure_debs "${DEBS_BUILD[@]}"
ensure_pip "${PIP_BUILD[@]}"
setup_ccache
# Without the tests and benchmarks (their libraries are the test command's); test.sh turns them on in the
# same folder, which rebuilds nothing already built.
configure_build "$BUILD_DIR" "${main_build_args[@]}" -DRELAYLINK_BUILD_TESTS=OFF -DRELAYLINK_BUILD_BENCH=OFF
step "building relayctl and the demo"
cmake --build "$BUILD_DIR" --target relayctl relay_demo relaylink_python -j "$JOBS"

ctl="$BUILD_DIR/examples/relayctl"
step "the meter profiles relaylink knows"
"$ctl" profiles
for profile in eastron_sdm320c ivy_em114039; do
  for intent in off on; do
    step "relayctl frame $profile $intent"
    "$ctl" frame "$profile" "$intent"
  done
done
step "a meter's reply to relay OFF is its echo; an exception reply names the refusal"
"$ctl" decode 010500000000CDCA 010500000000CDCA
"$ctl" decode 010500000000CDCA 018502C351 || true
step "the early plan's base64 AQUAAAANyg== is 7 bytes, not the relay OFF frame (AQUAAAAAzco=):"
echo "AQUAAAANyg==" | base64 -d | od -An -tx1

step "the main job: disconnect and reconnect meters through the relay service, on the embedded simulator (600x)"
db="$BUILD_DIR/relay_demo.db"
"$BUILD_DIR/examples/relay_demo" --db "$db"

step "the same audit trail through the CLI: relayctl history / status"
"$ctl" history 70b3d5e700000001 --db "$db" --limit 2
"$ctl" status 70b3d5e700000002 --db "$db"

step "the same from Python (the relaylink package): examples/python/relay_quickstart.py"
PYTHONPATH="$BUILD_DIR/python" python3 "$RELAYLINK_ROOT/examples/python/relay_quickstart.py"

step "done. Next: ./scripts/portal.sh serves the example portal on http://127.0.0.1:5000/ (relay control in a browser, docs/portal.md)"
