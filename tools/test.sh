#!/usr/bin/env bash
# Set up (if needed) and run the tests against real parts: Xvfb + Mesa for GL,
# a PulseAudio null sink for audio capture. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test || exit 1
source tools/services.sh
trap stop_services EXIT
start_services || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if (( rc == 5 )); then
    echo "test: pytest collected no tests; that is a failure" >&2
    rc=1
fi
exit $rc
