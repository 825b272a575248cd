#!/usr/bin/env bash
# Run a command in a private network namespace: only a loopback, with multicast routed onto it, so the
# discovery of NDI and Ableton Link (multicast) finds peers on this machine and no packet leaves it.
# Used by the tests of those (tests/test_outputs.py, tests/test_link.py) and by tools/bench_outputs.py.
# Exit status 97: no namespace can be made here (unshare --net as root, or in a user namespace).
set -uo pipefail
for flags in "--net" "--net --map-root-user"; do
    # shellcheck disable=SC2086
    if unshare $flags true 2>/dev/null; then
        # shellcheck disable=SC2086,SC2016
        exec unshare $flags sh -c '
            ip link set lo up && ip route add 224.0.0.0/4 dev lo || exit 97
            # /proc/self/net/dev is per namespace (/sys/class/net is not): refuse anything but lo
            [ "$(tail -n +3 /proc/self/net/dev | cut -d: -f1 | tr -d " ")" = lo ] || exit 97
            exec "$@"' netns "$@"
    fi
done
echo "netns.sh: cannot make a private network namespace here (unshare --net)" >&2
exit 97
