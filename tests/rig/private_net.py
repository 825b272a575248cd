"""Whether this process runs in a private network namespace (tools/netns.sh): only `lo` exists, so no
discovery packet (NDI, Link: multicast) can leave the machine. The rigs refuse to start otherwise."""

from pathlib import Path


def interfaces() -> list[str]:
    """This process's network interfaces (/proc/self/net/dev is per namespace; /sys/class/net is not)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def in_private_namespace() -> bool:
    return interfaces() == ["lo"]
