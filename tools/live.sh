#!/usr/bin/env bash
# Set up (if needed) and run `livecppn live`. Extra arguments go to `livecppn live`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/livecppn live "$@"
