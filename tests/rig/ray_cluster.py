"""`train --batch --ray` and `render --ray` on a real local Ray cluster: run inside a private network namespace
only (tests/test_cluster.py starts it with tools/netns.sh), so nothing Ray opens reaches past `lo`.

A head and one more worker node (`ray start`, one CPU each, bounded memory, a private temp folder); the
real CLI in subprocesses for the local and the Ray runs: a three-style library (tiny CLIP), a 3 s render in
3 segments, the same render with a worker killed mid-segment by its pid, and one cut short by Ctrl-C on the
driver. Every Ray process started is stopped by pid at the end. Prints one JSON line: what was compared.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from private_net import in_private_namespace  # tests/rig/, beside this script

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]
from ray_local import LocalCluster, env  # noqa: E402
from realparts import write_wav  # noqa: E402

from livecppn.audio.synth import synthetic_beat  # noqa: E402
from livecppn.model.style import load_style  # noqa: E402

TINY = ROOT / "tests" / "fixtures" / "tiny_clip.json"
TIMING = ("created", "time_taken_s", "seconds_per_iteration")  # clock readings: the only metadata that differs
# crf 0: lossless, so decoded frames compare exactly. PLAIN: the segments' run-up skips every picture;
# RENDER (trails on): the run-up draws them, as the trail carries each into the next.
PLAIN = ["--size", "96x64", "--fps", "20", "--codec", "libx264", "--crf", "0", "--preset", "ultrafast", "--quiet"]
RENDER = [*PLAIN, "--set", "trails=0.6"]


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livecppn", *args], capture_output=True, text=True, env=env(),
                          timeout=240, **kw)


def popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "livecppn", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())


def library(folder: Path, out_dir: str, broken: Path | None = None) -> Path:
    """Three styles; with `broken`, a fourth whose audio file passes the driver's check (its header is
    sound) but holds no samples: it fails on its worker, for a reason of its own."""
    batch = folder / f"{out_dir}.toml"
    styles = "".join(f'[[style]]\nname = "{n}"\nprompt = "{p}"\nseed = {s}\n' for n, p, s in
                     [("organic", "organic flowing shapes", 1), ("ice", "frozen crystal lattice", 2),
                      ("neon", "neon city at night", 3)])
    if broken is not None:
        styles += f'[[style]]\nname = "silent"\nprompt = "silence"\naudio = "{broken}"\n'
    batch.write_text(f'out_dir = "{out_dir}"\n[defaults]\nclip_config = "{TINY}"\nclip_pretrained = "none"\n'
                     f'iterations = 4\npyramid = [32]\neval_every = 2\ndevice = "cpu"\n{styles}')
    return batch


def meta_without_timing(meta: dict) -> dict:
    meta = {k: v for k, v in meta.items() if k not in TIMING}
    meta["training"] = {k: v for k, v in meta["training"].items() if k not in TIMING}
    return meta


def same_style(a: Path, b: Path) -> dict:
    sa, sb = load_style(a), load_style(b)
    from safetensors.numpy import load_file

    ta, tb = load_file(str(a)), load_file(str(b))
    return {"tensors": sorted(ta) == sorted(tb) and all(ta[k].tobytes() == tb[k].tobytes() for k in ta),
            "meta": meta_without_timing(sa.meta) == meta_without_timing(sb.meta),
            "preview": a.with_suffix(".preview.png").read_bytes() == b.with_suffix(".preview.png").read_bytes(),
            "curve": a.with_suffix(".curve.png").read_bytes() == b.with_suffix(".curve.png").read_bytes()}


def decoded(path: Path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    return frames, audio


def compare(a: Path, b: Path) -> dict:
    if not b.exists():
        return {"exists": False}
    (fa, aa), (fb, ab) = decoded(a), decoded(b)
    return {"exists": True, "frames": [len(fa), len(fb)],
            "frames_equal": len(fa) == len(fb) and all(np.array_equal(x, y) for x, y in zip(fa, fb)),
            "audio_equal": aa.shape == ab.shape and np.array_equal(aa, ab)}


def wait_for(predicate, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := predicate():
            return value
        time.sleep(0.05)
    return None


def main() -> dict:
    if not in_private_namespace():
        return {"error": "not in a private network namespace (run under tools/netns.sh)"}
    work = Path(tempfile.mkdtemp(prefix="livecppn-ray-"))
    track = write_wav(work / "beat.wav", synthetic_beat(3.0, 48000), 48000, channels=2)
    report: dict = {}
    # The local runs (the reference) while the cluster starts.
    local = popen("train", "--batch", str(library(work, "local")), "--no-progress", "--gallery-seconds", "0")
    local_render = popen("render", str(track), str(work / "local.mp4"), *RENDER)
    local_plain = popen("render", str(track), str(work / "plain.mp4"), *PLAIN)
    cluster, t0 = LocalCluster(workers=1, cpus=1), time.monotonic()
    try:
        cluster.start()
        report["cluster_start_s"] = round(time.monotonic() - t0, 1)
        report["local"] = [(p.communicate(timeout=240)[1][-1500:], p.returncode)[::-1] for p in (local, local_render, local_plain)]
        address = ["--ray", cluster.address]
        t0 = time.monotonic()
        empty = write_wav(work / "empty.wav", np.zeros(0, np.float32), 48000)
        trained = cli("train", "--batch", str(library(work, "ray", empty)), "--no-progress", "--gallery-seconds", "0", *address)
        report["train"] = {"rc": trained.returncode, "seconds": round(time.monotonic() - t0, 1),
                           "table": trained.stdout, "stderr": trained.stderr[-3000:],
                           "workers": sorted(set(re.findall(r"on worker pid (\d+)", trained.stderr))),
                           "clip_loads": sorted(re.findall(r"on worker pid (\d+) .*CLIP loaded there", trained.stderr)),
                           "same": {n: same_style(work / "local" / f"{n}.safetensors", work / "ray" / f"{n}.safetensors")
                                    for n in ("organic", "ice", "neon") if (work / "ray" / f"{n}.safetensors").exists()},
                           "files": sorted(p.name for p in (work / "ray").iterdir())}
        t0 = time.monotonic()
        again = cli("train", "--batch", str(library(work, "ray")), "--no-progress", "--gallery-seconds", "0", *address)  # all done
        report["train_again"] = {"rc": again.returncode, "table": again.stdout, "seconds": round(time.monotonic() - t0, 1)}

        t0 = time.monotonic()
        rendered = cli("render", str(track), str(work / "ray.mp4"), *RENDER, "--segments", "3", *address)
        report["render"] = {"rc": rendered.returncode, "seconds": round(time.monotonic() - t0, 1),
                            "stdout": rendered.stdout[-1000:], "stderr": rendered.stderr[-3000:],
                            **compare(work / "local.mp4", work / "ray.mp4")}

        t0 = time.monotonic()
        proc = popen("render", str(track), str(work / "killed.mp4"), *PLAIN, "--segments", "3", *address)
        victim = wait_for(lambda: cluster.workers_running("render"), 120)
        if victim:
            time.sleep(0.5)  # well into its segment
            os.kill(victim[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=240)
        report["killed"] = {"rc": proc.returncode, "seconds": round(time.monotonic() - t0, 1), "victim": victim,
                            "stderr": err[-3000:],
                            **compare(work / "plain.mp4", work / "killed.mp4")}

        proc = popen("render", str(track), str(work / "stopped.mp4"), *RENDER, "--segments", "3", *address)
        running = wait_for(lambda: cluster.workers_running("render"), 120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        report["ctrl_c"] = {"rc": proc.returncode, "running": running, "stderr": err[-2000:],
                            "left": sorted(p.name for p in work.iterdir() if "stopped" in p.name or p.name.startswith("."))}
    finally:
        report["ray_processes_left"] = cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return report


if __name__ == "__main__":
    try:
        result = main()
    except Exception as e:  # noqa: BLE001 - the test prints it
        import traceback

        result = {"error": f"{e}\n{traceback.format_exc()[-3000:]}"}
    print(json.dumps(result))
