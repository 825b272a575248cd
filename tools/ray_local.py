"""A private Ray cluster on this machine: a head and N more worker nodes, each `ray start` on 127.0.0.1 with
bounded CPUs and memory, its own temp folder, no dashboard, no usage statistics; stopped by process id.

Used by tests/rig/ray_cluster.py and tools/bench_cluster.py, both inside a private network namespace
(tools/netns.sh: only `lo`), so nothing Ray opens can reach past this machine. `ray stop` is not used: it
stops every Ray of the machine; `stop()` ends only the processes this cluster started (their process
groups and their descendants) and says how many were left over.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))
MB = 1 << 20


_home: str | None = None


def env() -> dict:
    """The environment of the cluster's processes and of the commands that use it: no display (workers
    use EGL), no RAY_ADDRESS, and a HOME of its own, so nothing of the user's ~/.ray reaches it (an
    ~/.ray/auth_token left by another Ray made every worker node's start fail with InvalidAuthToken)."""
    global _home
    if _home is None:
        _home = tempfile.mkdtemp(prefix="livecppn-ray-home-")
    e = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "RAY_ADDRESS")}
    e.update(RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(ROOT), HOME=_home)
    return e


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


class LocalCluster:
    def __init__(self, workers: int = 1, cpus: int = 1, memory_mb: int = 3000, port: int = 6391):
        self.workers, self.cpus, self.memory_mb, self.port = workers, cpus, memory_mb, port
        self.temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths are long
        self.address = f"127.0.0.1:{port}"
        self.pgids: set[int] = set()

    def _start(self, *args: str) -> None:
        cmd = [RAY, "start", "--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus), "--num-gpus", "0",
               "--memory", str(self.memory_mb * MB), "--object-store-memory", str(200 * MB),
               "--disable-usage-stats", "--temp-dir", str(self.temp), *args]
        proc = subprocess.Popen(cmd, env=env(), start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.pgids.add(proc.pid)  # its own session: every process it starts stays in this group
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out[-2000:]}")

    def start(self) -> "LocalCluster":
        self._start("--head", "--port", str(self.port), "--include-dashboard", "false")
        for _ in range(self.workers):
            self._start("--address", self.address)
        return self

    def processes(self) -> list[int]:
        """Every live process this cluster started: its process groups, and all their descendants."""
        kids, found = _children(), set()
        todo = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and _pgid(int(d.name)) in self.pgids]
        while todo:
            pid = todo.pop()
            if pid not in found and pid != os.getpid():
                found.add(pid)
                todo += kids.get(pid, [])
        return sorted(found)

    def workers_running(self, marker: str) -> list[int]:
        """Pids of this cluster's worker processes whose title (Ray sets `ray::TASK`) contains `marker`."""
        out = []
        for pid in self.processes():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::") and marker in title:
                out.append(pid)
        return out

    def stop(self) -> int:
        """End this cluster's processes (TERM, then KILL after a grace period); returns how many were still
        alive after that (0 when all are gone)."""
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 3.0)):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            end = time.monotonic() + grace
            while self.processes() and time.monotonic() < end:
                time.sleep(0.1)
        left = len(self.processes())
        shutil.rmtree(self.temp, ignore_errors=True)
        return left

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
