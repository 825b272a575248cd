"""`livecppn train`: the CLIP style trainer, with a tiny open_clip model (tests/fixtures/tiny_clip.json,
random weights, 64 px input) on the CPU. Real parts throughout: the real CLI in a subprocess, the live
analyser on a real WAV file, the live loader and generator on the written style, real SIGINT."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from realparts import write_wav

from livecppn.audio.features import FEATURE_NAMES
from livecppn.model.cppn import build
from livecppn.model.generator import Generator
from livecppn.model.style import Style, load_style
from livecppn.offline.analyze import analyze_file
from livecppn.offline.clip_loader import ClipError, ClipSpec, load_clip
from livecppn.offline.conditioning import BEAT, RMS, synthetic_states, track_states
from livecppn.offline.train import Trainer
from livecppn.offline.train_options import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "tests" / "fixtures" / "tiny_clip.json")
PROMPT = "organic flowing shapes diffusing into each other with strong contrast"
FAST = ["--clip-config", TINY, "--clip-pretrained", "none", "--no-progress", "--device", "cpu"]


def train(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "livecppn", "train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def only_outputs(folder: Path) -> list[str]:
    """Everything in the folder: no temporary files may be left behind."""
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def tiny_clip():
    return load_clip(ClipSpec(config=TINY, pretrained=None))


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    """8 s: a loud part with a kick at 120 BPM over a bass line and hats, then a quiet pad, then silence."""
    rate = 22050
    t = np.arange(8 * rate) / rate
    signal_ = np.zeros_like(t)
    loud = t < 4.5
    signal_ += np.where(loud, 0.25 * np.sin(2 * np.pi * 55 * t), 0.0)
    hats = np.random.default_rng(1).uniform(-1, 1, len(t)) * (np.sin(2 * np.pi * 4 * t) > 0.6)
    signal_ += np.where(loud, 0.08 * hats, 0.0)
    for beat in np.arange(0.25, 4.5, 0.5):
        i, n = int(beat * rate), int(0.12 * rate)
        kick = np.sin(2 * np.pi * 60 * np.arange(n) / rate) * np.exp(-np.arange(n) / (0.03 * rate))
        signal_[i:i + n] += 0.6 * kick
    pad = (t >= 4.5) & (t < 7.0)
    signal_ += np.where(pad, 0.03 * np.sin(2 * np.pi * 330 * t), 0.0)
    path = tmp_path_factory.mktemp("track") / "track.wav"
    return write_wav(path, signal_.astype(np.float32), rate)


def clip_score(clip, style: Style, rows: np.ndarray, prompt: str) -> float:
    """Mean cosine similarity between the prompt and the style as the live generator renders it."""
    gen = Generator(style, clip.image_size, clip.image_size, device="cpu")
    images = torch.stack([torch.from_numpy(gen.render(float(r[0]), r[1:]).numpy()[:, :, :3].copy())
                          for r in rows]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        return (clip.encode_image(images) @ clip.encode_text([prompt])[0]).mean().item()


def test_the_live_path_never_imports_the_trainers_dependencies():
    code = ("import sys, livecppn.live, livecppn.cli\n"
            "livecppn.cli.build_parser().parse_args(['live'])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('open_clip', 'torchvision', 'timm', 'ray'))\n"
            "print(heavy)\n"
            "sys.exit(1 if heavy else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_training_raises_the_clip_score_and_writes_a_style_the_live_path_plays(tmp_path, tiny_clip):
    out = tmp_path / "styles" / "organic.safetensors"
    proc = train(PROMPT, "--out", str(out), "--iterations", "40", "--pyramid", "64,96", "--eval-every", "10", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert only_outputs(out.parent) == ["organic.curve.png", "organic.preview.png", "organic.safetensors"]

    style = load_style(out)  # the live path's loader
    clip_meta, training = style.meta["clip"], style.meta["training"]
    assert style.meta["prompts"] == [PROMPT]
    assert clip_meta["model"] == training["clip_model"] == "custom:tiny_clip"  # the model used, not RN50
    assert clip_meta["config"] == TINY and clip_meta["checkpoint"] is None and clip_meta["weights"] == "random weights"
    assert clip_meta["score_best"] >= clip_meta["score_final"] > clip_meta["score_start"] + 0.01, clip_meta
    assert training["iterations"] == 40 and training["pyramid"] == [64, 96] and training["lr"] == 0.001
    assert training["steps_done"] == 40 and not training["interrupted"] and style.meta["time_taken_s"] > 0
    assert set(training["seconds_per_iteration"]) == {"64", "96"}
    assert style.config.layers == 4 and style.config.width == 128
    assert style.config.activations == ("sin", "cos", "gaussian", "tanh")

    # Independently: the saved weights, rendered by the live generator, score higher against the
    # prompt's text embedding than the untrained network they started from.
    assert training["eval_states"] == ["silence", "quiet pad", "loud mix", "kick", "bright hats", "breakdown"]
    rows = synthetic_states(0).eval_rows
    start = build(style.config, seed=0)
    with torch.no_grad():
        start.hidden[0].weight[:, style.config.n_pixel_inputs] *= training["time_gain"]
    before = clip_score(tiny_clip, Style.from_model(start, "start"), rows, PROMPT)
    after = clip_score(tiny_clip, style, rows, PROMPT)
    assert after > before + 0.01, (before, after)

    # It still reacts: different audio states give different pictures.
    gen = Generator(style, 64, 64)
    frames = [gen.render(float(r[0]), r[1:]).numpy().astype(float).copy() for r in rows]
    assert np.abs(frames[0] - frames[3]).mean() > 2.0  # silence vs a kick, in 0..255 levels

    for name in ("organic.preview.png", "organic.curve.png"):
        img = np.asarray(Image.open(out.parent / name).convert("RGB"), dtype=float)
        assert img.shape[0] >= 100 and img.shape[1] >= 300
        assert img.std() > 10, f"{name} looks blank"
    curve = np.asarray(Image.open(out.parent / "organic.curve.png").convert("RGB")).reshape(-1, 3).astype(int)
    assert ((curve[:, 0] > 200) & (curve[:, 1] > 90) & (curve[:, 1] < 150) & (curve[:, 2] < 60)).sum() > 50  # orange


def test_audio_conditioning_feeds_the_tracks_features_and_varies_them_every_step(track, tiny_clip):
    states = track_states(track)
    # The same extractor as the live path: `livecppn analyze` at the same frame rate sees the same features.
    frames = analyze_file(track, fps=30.0)["frames"]
    assert len(frames) == len(states.rows) == 240
    expected = np.array([[f["t"]] + [f[name] for name in FEATURE_NAMES] for f in frames])
    np.testing.assert_allclose(states.rows, expected, atol=1e-5)
    assert states.rows[:, RMS].min() < 0.05 and states.rows[:, RMS].max() > 0.8 and states.rows[:, BEAT].max() > 0.9

    cfg = TrainConfig(prompts=(PROMPT,), audio=str(track), clip_config=TINY, clip_pretrained="none",
                      pyramid=(32,), iterations=6, augs=4, states=4)
    trainer = Trainer(cfg, tiny_clip, states)
    fed = []
    for _ in range(6):
        trainer.step(32)
        rows = trainer.last_frames.cpu().numpy()  # exactly what the network was given this step
        fed.append(rows)
        for row in rows:  # every row is a frame of the track
            assert np.abs(states.rows - row).max(axis=1).min() == 0
        assert np.ptp(rows[:, 1 + FEATURE_NAMES.index("rms")]) > 0.3  # quiet and loud in the same step
        assert rows[:, 1 + FEATURE_NAMES.index("beat")].max() >= 0.5  # and a percussive moment
        images = trainer.last_images
        assert (images[0] - images[-1]).abs().mean() > 0.01  # the network saw different inputs
    fed = np.stack(fed)  # (steps, states, inputs)
    assert len({tuple(step[:, 0]) for step in fed}) == 6  # different time points every step
    assert fed[:, :, 1:].std(axis=0).max() > 0.05  # and different features


def test_training_on_a_track_through_the_cli(tmp_path, track):
    out = tmp_path / "track.safetensors"
    proc = train(PROMPT, "--out", str(out), "--audio", str(track), "--iterations", "4", "--pyramid", "32",
                 "--eval-every", "2", *FAST)
    assert proc.returncode == 0, proc.stderr
    training = load_style(out).meta["training"]
    assert training["conditioning"] == str(track) and training["audio"] == str(track)
    assert training["eval_states"][0].startswith("rms p5")


@pytest.mark.parametrize("case", ["empty prompt", "unknown model", "missing checkpoint", "uncached tag",
                                  "corrupt checkpoint", "unwritable output", "not audio", "bad option"])
def test_bad_input_is_refused_by_name_and_writes_nothing(tmp_path, case):
    out = tmp_path / "out" / "style.safetensors"
    args = [PROMPT, "--out", str(out), *FAST, "--iterations", "2", "--pyramid", "32"]
    env = None
    if case == "empty prompt":
        args[0], expect = "  ", ["prompt is empty"]
    elif case == "unknown model":
        args = [PROMPT, "--out", str(out), "--clip-model", "RN5O", "--clip-pretrained", "none", "--no-progress"]
        expect = ["unknown CLIP model 'RN5O'", "did you mean", "RN50"]
    elif case == "missing checkpoint":
        missing = tmp_path / "nowhere" / "RN50.pt"
        args += ["--clip-pretrained", str(missing)]
        expect = [str(missing), "no such file"]
    elif case == "uncached tag":
        # A real tag, nothing in the (empty) caches, no network: say how to get the weights here, at once.
        args = [PROMPT, "--out", str(out), "--clip-model", "RN50", "--clip-pretrained", "openai", "--no-progress"]
        env = dict(os.environ, HOME=str(tmp_path), HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
        expect = ["RN50 'openai' are not on this machine", "--clip-pretrained /path/to", "models--timm--resnet50_clip"]
    elif case == "corrupt checkpoint":
        bad = tmp_path / "tiny.safetensors"
        bad.write_bytes(b"\x00\x01 not a checkpoint" * 50)
        args += ["--clip-pretrained", str(bad)]
        expect = [str(bad), "not a readable checkpoint"]
    elif case == "unwritable output":
        (tmp_path / "blocker").write_text("a file where a folder should be")
        out = tmp_path / "blocker" / "style.safetensors"
        args[2] = str(out)
        expect = [str(out), "cannot write"]
    elif case == "not audio":
        notes = tmp_path / "notes.txt"
        notes.write_text("this is not audio")
        args += ["--audio", str(notes)]
        expect = [str(notes), "expected an audio file"]
    else:
        args += ["--pyramid", "8"]
        expect = ["pyramid sizes must be 16..4096"]
    started = time.monotonic()
    proc = train(*args, env=env, timeout=120)
    assert proc.returncode != 0
    for text in expect:
        assert text in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not out.with_suffix(".preview.png").exists()
    if out.parent.is_dir():
        assert only_outputs(out.parent) == []
    assert time.monotonic() - started < 60  # fails fast, no download retries


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script, to make the archive
def test_a_local_checkpoint_file_is_loaded(tmp_path):
    from safetensors.torch import save_file

    reference = load_clip(ClipSpec(config=TINY, pretrained=None))
    weights = {k: torch.randn_like(v) * 0.02 if v.is_floating_point() else v
               for k, v in reference.model.state_dict().items()}
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path))
    clip = load_clip(ClipSpec(config=TINY, pretrained=str(path)))
    assert clip.weights == str(path)
    for key, value in clip.model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    # OpenAI's own release format: a TorchScript archive.
    jit_path = tmp_path / "tiny_jit.pt"
    torch.jit.script(clip.model).save(str(jit_path))
    from_jit = load_clip(ClipSpec(config=TINY, pretrained=str(jit_path)))
    for key, value in from_jit.model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    with pytest.raises(ClipError, match="no pretrained tag 'laion'"):
        load_clip(ClipSpec(config=TINY, pretrained="laion"))


@pytest.mark.parametrize("name", ["RN50", "ViT-B-32", "ViT-L-14"])
def test_the_real_clip_architectures_train(name):
    clip = load_clip(ClipSpec(model=name, pretrained=None))  # random weights: the architecture is what counts
    assert clip.image_size == 224
    cfg = TrainConfig(prompts=(PROMPT,), clip_model=name, clip_pretrained="none", pyramid=(32,), iterations=1,
                      augs=2, states=2)
    trainer = Trainer(cfg, clip, synthetic_states(0))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    score = trainer.step(32).item()
    assert np.isfinite(score)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_ctrl_c_stops_and_saves_the_best_style_so_far(tmp_path):
    out = tmp_path / "stopped.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "livecppn", "train", PROMPT, "--out", str(out), *FAST,
                             "--iterations", "100000", "--pyramid", "32", "--eval-every", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # log lines: one per scoring, every 3 steps
            lines.append(line)
            if "step 6/100000" in line:
                break
        else:
            pytest.fail("training never reported progress:\n" + "".join(lines))
        proc.send_signal(signal.SIGINT)
        stdout, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(lines) + err
    assert "Ctrl-C" in err and "Traceback" not in err
    style = load_style(out)
    training = style.meta["training"]
    assert training["interrupted"] and 6 <= training["steps_done"] < 100000
    assert style.meta["clip"]["best_step"] <= training["steps_done"]
    assert f"interrupted after {training['steps_done']} of 100000 steps: the best so far saved" in stdout, stdout
    assert only_outputs(tmp_path) == ["stopped.curve.png", "stopped.preview.png", "stopped.safetensors"]
    Generator(style, 32, 32).render(0.0, np.zeros(9, np.float32))  # and it plays


def test_batch_trains_a_library_then_skips_what_is_done(tmp_path):
    batch = tmp_path / "library.toml"
    batch.write_text(f"""
out_dir = "lib"
[defaults]
clip_config = "{TINY}"
clip_pretrained = "none"
iterations = 4
pyramid = [32]
eval_every = 2
device = "cpu"
[[style]]
name = "organic"
prompt = "{PROMPT}"
[[style]]
name = "ice"
prompt = ["frozen crystal lattice", "blue ice"]
negative = "warm colours"
seed = 3
""")
    proc = train("--batch", str(batch), "--no-progress", "--gallery-seconds", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("loading CLIP") == 1  # loaded once for the whole library
    lib = tmp_path / "lib"
    for name in ("organic", "ice"):
        assert load_style(lib / f"{name}.safetensors").name == name
        assert (lib / f"{name}.preview.png").is_file() and (lib / f"{name}.curve.png").is_file()
    page = (lib / "gallery" / "index.html").read_text()  # the batch's result on one page
    assert page.count("<article") == 2 and "frozen crystal lattice" in page
    assert sorted(p.name for p in (lib / "gallery" / "clips").glob("*.mp4")) == ["01-ice.mp4", "02-organic.mp4"]
    ice = load_style(lib / "ice.safetensors").meta
    assert ice["prompts"] == ["frozen crystal lattice", "blue ice"] and ice["negative_prompts"] == ["warm colours"]
    assert ice["training"]["seed"] == 3
    table = proc.stdout.splitlines()
    assert table[0].split() == ["style", "prompt", "score", "start", "time", "status"]
    assert table[1].startswith("organic") and table[1].endswith("trained") and "organic flowing" in table[1]
    assert table[2].startswith("ice") and table[2].endswith("trained")

    again = train("--batch", str(batch), "--no-progress", "--gallery-seconds", "0")
    assert again.returncode == 0, again.stderr
    assert "loading CLIP" not in again.stderr
    assert [line.endswith("skipped (done)") for line in again.stdout.splitlines()[1:]] == [True, True]


def test_a_bad_batch_file_is_refused_before_training(tmp_path):
    batch = tmp_path / "library.toml"
    batch.write_text('[[style]]\nname = "a"\nprompt = "x"\nlearning_rate = 1\n')
    proc = train("--batch", str(batch))
    assert proc.returncode == 2
    assert str(batch) in proc.stderr and "unknown key(s) ['learning_rate']" in proc.stderr
