#!/usr/bin/env bash
# Run a command in a private network namespace: only a loopback, with multicast routed onto it, so the
# discovery of NDI and Ableton Link (multicast) finds peers on this machine and no packet leaves it.
# Used by the tests of those outputs and by tools/bench_outputs.py. Exit status 97: no namespace here.
set -uo pipefail
flags=(--net)
[[ $(id -u) == 0 ]] || flags+=(--map-root-user)
unshare "${flags[@]}" true 2>/dev/null || { echo "netns.sh: cannot make a network namespace here (unshare --net)" >&2; exit 97; }
exec unshare "${flags[@]}" sh -c 'ip link set lo up && ip route add 224.0.0.0/4 dev lo && exec "$@"' netns "$@"
