"""What `livecppn train` says when it stops early or refuses to start, and what its styles say about the
CLIP that judged them. Real parts: the CLI in a subprocess, real SIGINTs, the tiny open_clip config."""

import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from realparts import write_wav
from test_train import FAST, PROMPT, ROOT, TINY, only_outputs, train

from livecppn.model.style import load_style


def test_a_second_ctrl_c_says_how_many_steps_ran_and_that_nothing_was_written(tmp_path):
    out = tmp_path / "aborted.safetensors"
    # 48 px steps take long enough that the second Ctrl-C lands before the first one's save.
    proc = subprocess.Popen([sys.executable, "-m", "livecppn", "train", PROMPT, "--out", str(out), *FAST,
                             "--iterations", "100000", "--pyramid", "48", "--eval-every", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "step 6/100000" in line:
                proc.send_signal(signal.SIGINT)
            if "Ctrl-C: stopping" in line:
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail("training never reported progress:\n" + "".join(lines))
        stdout, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(lines) + err
    assert proc.returncode == 130, err
    said = re.search(r"aborted by a second Ctrl-C (?:while writing, )?after (\d+) of 100000 steps; "
                     r"nothing written to (\S+)", err)
    assert said and int(said.group(1)) >= 6 and said.group(2) == str(out), err
    assert "before anything was trained" not in err and "Traceback" not in err
    assert only_outputs(tmp_path) == [] and stdout == ""


def test_a_batch_lists_every_bad_entry_by_line_before_training_any(tmp_path):
    write_wav(tmp_path / "good.wav", np.zeros(4410, np.float32), 22050)
    (tmp_path / "notaudio.wav").write_text("not audio")
    (tmp_path / "afile").write_text("")
    batch = tmp_path / "library.toml"
    batch.write_text(f"""out_dir = "lib"
[defaults]
clip_config = "{TINY}"
clip_pretrained = "none"
iterations = 2
pyramid = [32]
device = "cpu"

[[style]]
name = "first"
prompt = "{PROMPT}"
audio = "good.wav"

[[style]]
name = "missing"
prompt = "blue ice"
audio = "tracks/missing.flac"

[[style]]
name = "garbled"
prompt = "fire"
audio = "notaudio.wav"

[[style]]
name = "blank"
prompt = "   "

[[style]]
name = "nowhere"
prompt = "rain"
out = "afile/nowhere.safetensors"

[[style]]
name = "nockpt"
prompt = "glass"
clip_pretrained = "ckpt/nope.safetensors"
""")
    proc = train("--batch", str(batch), "--no-progress")
    assert proc.returncode == 2, proc.stderr
    assert "loading CLIP" not in proc.stderr and "5 problem(s); nothing was trained" in proc.stderr, proc.stderr
    for line, expect in ((17, "style 2 (missing): audio file"), (22, "style 3 (garbled): audio file"),
                         (26, "style 4 (blank): the prompt is empty"),
                         (31, "style 5 (nowhere): cannot write the style"),
                         (36, "style 6 (nockpt): CLIP checkpoint")):
        assert f"{batch}:{line}: {expect}" in proc.stderr, proc.stderr
    assert "missing.flac': no such file" in proc.stderr and "notaudio.wav" in proc.stderr
    assert "first" not in proc.stderr  # the good entry is not a problem
    assert only_outputs(tmp_path) == ["afile", "good.wav", "library.toml", "notaudio.wav"]  # nothing trained


def test_a_style_names_the_custom_clip_and_checkpoint_that_judged_it(tmp_path):
    from safetensors.torch import save_file

    from livecppn.offline.clip_loader import ClipSpec, load_clip

    ckpt = tmp_path / "tiny_weights.safetensors"
    state = load_clip(ClipSpec(config=TINY, pretrained=None)).model.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(ckpt))
    out = tmp_path / "judged.safetensors"
    proc = train(PROMPT, "--out", str(out), "--clip-config", TINY, "--clip-pretrained", str(ckpt), "--no-progress",
                 "--device", "cpu", "--iterations", "2", "--pyramid", "32", "--eval-every", "1")
    assert proc.returncode == 0, proc.stderr
    meta = load_style(out).meta
    assert meta["clip"]["model"] == meta["training"]["clip_model"] == "custom:tiny_clip"  # not RN50
    assert meta["clip"]["config"] == TINY and meta["clip"]["checkpoint"] == "tiny_weights.safetensors"
    assert meta["clip"]["pretrained"] == meta["training"]["clip_pretrained"] == str(ckpt)
