"""`train --batch --ray` and `render --ray` (DESIGN §10) on a real local Ray cluster: a head and one more
worker node, started by tests/rig/ray_cluster.py inside a private network namespace (only `lo`), the real CLI
for the local and the Ray runs, a worker killed by its pid, Ctrl-C on the driver, every Ray process stopped.
Marked `cluster` (about two minutes on two cores): `pytest -m "not cluster"` leaves them out."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from realparts import require, run_in_netns

ROOT = Path(__file__).resolve().parent.parent
RIG = ROOT / "tests" / "rig" / "ray_cluster.py"
STYLES = ("organic", "ice", "neon")

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def session():
    require(importlib.util.find_spec("ray") is not None, "Ray is not installed (pip install 'livecppn[cluster]')")
    proc = run_in_netns([sys.executable, str(RIG)], timeout=420, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    assert [rc for rc, _ in out["local"]] == [0, 0, 0], out["local"]
    return out


def test_a_library_trains_across_the_cluster_with_the_local_batchs_bytes(session):
    train = session["train"]
    rows = train["table"].splitlines()[1:]
    assert [line.split()[0] for line in rows] == [*STYLES, "silent"], train["table"]
    assert all(line.endswith("trained") for line in rows[:3]), train["table"]
    # The fourth style's audio has no samples: it fails on its worker, alone, and says why.
    assert "failed:" in rows[3] and train["rc"] == 1, train["table"]
    assert "silent" in train["stderr"] and "empty.wav" in train["stderr"], train["stderr"]
    # The same seeds give the same style as the local batch: every tensor, the preview, the curve and the
    # metadata but for its clock readings (created, time taken).
    assert session["train"]["same"] == {n: {"tensors": True, "meta": True, "preview": True, "curve": True}
                                        for n in STYLES}
    assert not [f for f in train["files"] if f.startswith(".")]  # no temporary file left behind
    # CLIP is loaded once per worker process, and reused for the styles it trains after.
    assert sorted(set(train["clip_loads"])) == train["clip_loads"] == train["workers"]
    assert len(train["workers"]) <= 2
    again = session["train_again"]
    assert again["rc"] == 0 and all(line.endswith("skipped (done)") for line in again["table"].splitlines()[1:])


def test_a_render_in_three_segments_is_the_local_render_frame_for_frame(session):
    render = session["render"]
    assert render["rc"] == 0, render["stderr"]
    assert json.loads(render["stdout"].splitlines()[-1])["segments"] == 3
    assert render["frames"] == [60, 60] and render["frames_equal"] and render["audio_equal"]


def test_a_worker_killed_mid_segment_is_retried_and_the_render_is_the_same(session):
    """Without trails, so the segments' run-up skips the pictures: still the local frames."""
    killed = session["killed"]
    assert killed["victim"], "no segment task was seen running"
    assert killed["rc"] == 0, killed["stderr"]
    assert killed["frames_equal"] and killed["audio_equal"]


def test_ctrl_c_on_the_driver_cancels_and_leaves_nothing_that_looks_whole(session):
    stopped = session["ctrl_c"]
    assert stopped["running"] and stopped["rc"] == 130, stopped["stderr"]
    assert "nothing written" in stopped["stderr"]
    assert stopped["left"] == []  # neither the output nor a temporary file


def test_every_ray_process_the_test_started_is_stopped(session):
    assert session["ray_processes_left"] == 0


def test_without_ray_the_flag_says_how_to_get_it_or_runs_here(tmp_path):
    """Ray hidden from the import system: `--ray ADDRESS` fails with the extra to install; `--ray` alone
    trains here, as without the flag."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "from livecppn.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    batch = tmp_path / "lib.toml"
    batch.write_text(f'[defaults]\nclip_config = "{ROOT / "tests" / "fixtures" / "tiny_clip.json"}"\n'
                     'clip_pretrained = "none"\niterations = 2\npyramid = [32]\neval_every = 2\ndevice = "cpu"\n'
                     '[[style]]\nname = "a"\nprompt = "organic flowing shapes"\n')
    remote = subprocess.run([sys.executable, "-c", code, "train", "--batch", str(batch), "--ray", "auto",
                             "--no-progress", "--gallery-seconds", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert remote.returncode == 2 and "pip install 'livecppn[cluster]'" in remote.stderr, remote.stderr
    assert not (tmp_path / "a.safetensors").exists()
    here = subprocess.run([sys.executable, "-c", code, "train", "--batch", str(batch), "--ray", "--no-progress", "--gallery-seconds", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert here.returncode == 0 and "training here instead" in here.stderr, here.stderr
    assert (tmp_path / "a.safetensors").is_file()



@pytest.mark.parametrize("frames, fps, segments", [(60, 20, 3), (61, 20, 3), (400, 20, 4), (7, 30, 5),
                                                    (432000, 60, 64), (100, 29.97, 8)])
def test_segments_cover_every_frame_once_and_start_on_key_frames(frames, fps, segments):
    from livecppn.media.encode import GOP_SECONDS
    from livecppn.offline.cluster_render import plan

    ranges = plan(frames, fps, segments)
    gop = round(GOP_SECONDS * fps)
    assert ranges[0][0] == 0 and ranges[-1][1] == frames
    assert all(a < b for a, b in ranges) and all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:]))
    assert all(a % gop == 0 for a, _ in ranges)
    assert len(ranges) == min(segments, -(-frames // gop))
