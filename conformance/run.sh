#!/usr/bin/env bash
# Autobahn testsuite conformance run: both sides (our server under wstest's fuzzingclient, our
# client under wstest's fuzzingserver), then one summary line per side. Exit 1 if any case
# FAILED/UNIMPLEMENTED/is missing, 2 on a harness error.
#
#   bash conformance/run.sh                              # wsframework, all cases, both sides
#   IMPL=trio_websocket CASES='1.*,2.*' bash conformance/run.sh
#   EXCLUDE_CASES='12.*,13.*' SIDE=server bash conformance/run.sh --details
#
# Env: IMPL, CASES, EXCLUDE_CASES, SIDE (both|server|client), PARALLEL=1, SERVER_PORT (9001),
# FUZZ_PORT (9002), CASE_TIMEOUT, SIDE_TIMEOUT, DETAILS=1, PYTHON (default <repo>/.venv/bin/python).
# Extra arguments go to conformance/run.py (see its --help).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"

bash "$HERE/setup_py27.sh"
# run.py starts the echo server / wstest / client itself, records their PIDs and stops exactly
# those on exit or on SIGINT/SIGTERM/SIGHUP.
exec "$PYTHON" "$HERE/run.py" "$@"
