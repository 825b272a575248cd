"""Decks A/B: banks, off-thread style loads, the `go` fade and its beat quantization,
and the transition shader's modes on real GL."""

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from livecppn.audio.features import AudioFeatures
from livecppn.control.params import ParamBus
from livecppn.model.bank import BankError, StyleLoader, load_bank
from livecppn.model.generator import Generator, prepare_style
from livecppn.model.style import load_style
from livecppn.paths import default_bank_path
from livecppn.render.compositor import Compositor
from livecppn.show.decks import Crossfade, GoFade, quantize_wait, wait_for_quantize
from livecppn.render.sinks import PBOSink


def test_default_bank_resolves_slots_and_names():
    bank = load_bank(default_bank_path())
    assert bank.name == "default" and len(bank.slots) >= 4
    assert bank.resolve(1).name == "default.safetensors"
    assert bank.resolve("2") == bank.resolve(2.0) == bank.resolve("ice")
    for path in bank.slots.values():
        load_style(path)  # every shipped slot is a valid style
    with pytest.raises(BankError, match="no slot 99"):
        bank.resolve(99)
    with pytest.raises(BankError, match="no style named 'nope'"):
        bank.resolve("nope")


def test_bad_bank_files_name_the_file_and_line(tmp_path):
    bad = tmp_path / "banks" / "bad.toml"
    bad.parent.mkdir()
    bad.write_text('name = "x"\n[slots]\n1 = \n')
    with pytest.raises(BankError, match=r"bad\.toml.*line 3"):
        load_bank(bad)
    # anything else is left out and said with its line; the bank itself loads (tests/test_bank.py)
    bad.write_text('name = "x"\n[slots]\none = "a.safetensors"\n')
    assert load_bank(bad).problems[0].startswith(f"{bad}:3: slot 'one'")
    bad.write_text('name = "x"\ncolour = "red"\n[slots]\n1 = "styles/default.safetensors"\n')
    bank = load_bank(bad)
    assert bank.problems[0].startswith(f"{bad}:2: unknown key 'colour'") and list(bank.slots) == [1]


def test_loader_builds_styles_off_the_render_thread_and_reports_bad_ones(tmp_path):
    bank = load_bank(default_bank_path())
    loader = StyleLoader(bank)
    try:
        loader.request("b", "ember")
        loader.request("a", 42)
        done = []
        deadline = time.monotonic() + 10
        while len(done) < 2 and time.monotonic() < deadline:
            done += loader.poll()
            time.sleep(0.01)
    finally:
        loader.stop()
    ok, bad = done if done[0].error is None else done[::-1]
    assert ok.deck == "b" and ok.style.name == "ember" and ok.model is not None
    assert bad.deck == "a" and "no slot 42" in bad.error and bad.error_kind == "no such bank slot or style"


def test_loader_prepares_each_load_on_its_thread_and_a_failing_prepare_still_loads():
    """The prepare hook (LiveDecks.prepare in a show) runs on the loader's thread; it is an
    optimisation only: when it raises, the load is delivered all the same."""
    bank = load_bank(default_bank_path())
    seen = []

    def prepare(style, model):
        seen.append((style.name, threading.current_thread().name))
        if style.name == "ice":
            raise RuntimeError("boom")

    loader = StyleLoader(bank, prepare=prepare)
    try:
        done = []
        for ref in ("neon", "ice"):
            loader.request("b", ref)
            deadline = time.monotonic() + 10
            while not done and time.monotonic() < deadline:
                done += loader.poll()
                time.sleep(0.01)
            assert done and done[0].error is None and done[0].style.name == ref
            done.clear()
    finally:
        loader.stop()
    assert seen == [("neon", "livecppn-style-loader"), ("ice", "livecppn-style-loader")]


def test_a_prepared_style_swap_renders_the_same_picture():
    """What the loader's thread makes ahead (palette table, coordinate grid) is what set_style would
    have made: a prepared swap and an unprepared one give the same bytes."""
    bank = load_bank(default_bank_path())
    audio = np.linspace(0, 1, 9, dtype=np.float32)
    for name in ("neon", "terra", "prism"):  # palette + kaleido, a deeper network, mirror
        fresh, ahead = Generator(load_style(bank.resolve("ice")), 48, 27), Generator(load_style(bank.resolve("ice")), 48, 27)
        style = load_style(bank.resolve(name))
        fresh.set_style(style, style.build_model())
        model = style.build_model()
        prepare_style(model, (48, 27))
        ahead.set_style(style, model)
        a = fresh.render(1.5, audio, zoom=1.2, rotation=10).clone()
        assert torch.equal(a, ahead.render(1.5, audio, zoom=1.2, rotation=10))


def test_a_flood_of_loads_costs_one_load_per_deck():
    bank = load_bank(default_bank_path())
    loader = StyleLoader(bank)
    try:
        for i in range(200):  # a pad mashed, or a fuzzing client
            loader.request("a", ["ice", "moss", "ember", 7][i % 4])
        loader.request("a", "moss")
        loader.request("b", "ice")
        done = []
        deadline = time.monotonic() + 10
        while {d.deck for d in done} != {"a", "b"} and time.monotonic() < deadline:
            done += loader.poll()
            time.sleep(0.05)
        time.sleep(0.2)
        done += loader.poll()
    finally:
        loader.stop()
    newest = {d.deck: d for d in done}
    assert newest["a"].style.name == "moss" and newest["b"].style.name == "ice"
    assert len(done) < 20  # not 202 loads: queued requests for a deck collapse to the newest


def test_a_controller_moving_the_crossfader_ends_a_go():
    # the go fade is the control step's crossfader override: the bus step and the fade in one call
    bus = ParamBus()
    xf = Crossfade()
    xf.go(0.0, bus.step(0.0), 0.0)  # fade A -> B over transition_time
    assert 0 < xf.step(bus, 0.5, 1 / 60).crossfader < 1 and xf.fade is not None
    bus.set("crossfader", 0.0)  # the VJ grabs the fader
    xf.step(bus, 0.6, 1 / 60)
    assert xf.fade is None
    for t in range(60):
        x = xf.step(bus, 0.6 + t / 60, 1 / 60).crossfader
    assert x == pytest.approx(0.0, abs=1e-3)


def test_a_go_ends_on_its_target_and_hands_the_crossfader_back():
    bus = ParamBus()
    xf = Crossfade()
    xf.go(0.0, bus.step(0.0), 0.0)
    assert xf.step(bus, 2.5, 1 / 60).crossfader == 1.0 and xf.fade is None  # transition_time is 2 s
    assert bus.step(1 / 60).crossfader == 1.0  # it stays where the fade left it


def test_go_fade_is_eased_and_waits_for_its_start():
    fade = GoFade(begin=10.0, duration=2.0, start=0.0, target=1.0)
    assert fade.value(9.9) is None
    assert fade.value(10.0) == 0.0
    assert fade.value(11.0) == pytest.approx(0.5)
    assert 0 < fade.value(10.2) < 0.1  # eased in
    assert fade.value(12.5) == 1.0 and fade.done(12.0)
    assert GoFade(0.0, 0.0, 1.0, 0.0).value(0.0) == 0.0  # a cut


def test_quantize_waits_for_the_next_beat_or_bar():
    assert wait_for_quantize(0, 120, 0.3, 0.1) == 0.0  # the mode decoded (params.mode('go_quantize'))
    assert wait_for_quantize(1, 120, 0.75, 0.1) == pytest.approx(0.125)  # a quarter of a 0.5 s beat
    assert wait_for_quantize(2, 120, 0.0, 0.5) == pytest.approx(1.0)  # half of a 2 s bar
    assert wait_for_quantize(1, 0.0, 0.5, 0.5) == 0.0  # no tempo: at once
    assert wait_for_quantize(2, 120, 0.0, 0.5, beats_per_bar=3) == pytest.approx(0.75)  # half a 1.5 s bar
    assert wait_for_quantize(2, 120, 0.0, 0.5, trusted=False) == 0.0  # a grid not trusted: at once


@pytest.mark.parametrize("source,confidence,wait", [
    ("tracker", 0.9, 0.75), ("tracker", 0.45, 0.75), ("tracker", 0.44, 0.0), ("tracker", 0.0, 0.0),
    ("tap", 1.0, 0.75), ("clock", 1.0, 0.75), ("none", 0.0, 0.0),
])
def test_go_waits_for_the_bar_only_on_a_trusted_grid(source, confidence, wait):
    # a waltz at 120 BPM, halfway through the bar: 0.75 s to the bar line, if the grid is to be believed
    features = dataclasses.replace(AudioFeatures.silent(), bpm=0.0 if source == "none" else 120.0,
                                   bar_phase=0.5, beats_per_bar=3, tempo_source=source, bpm_confidence=confidence)
    assert quantize_wait(2, features) == pytest.approx(wait)
    assert quantize_wait(2, None) == 0.0


def test_bus_jump_skips_the_slew():
    bus = ParamBus()
    bus.jump("crossfader", 0.7)
    assert bus.step(1 / 60).crossfader == 0.7


def two_decks(ctx, size=(64, 36)):
    bank = load_bank(default_bank_path())
    images, sinks = [], []
    for ref in ("default", "ember"):
        gen = Generator(load_style(bank.resolve(ref)), *size)
        sink = PBOSink(ctx, *size)
        image = gen.render(0.5, np.zeros(9, np.float32)).clone()
        sink.upload(image)
        images.append(image[..., :3].numpy().astype(int))
        sinks.append(sink)
    return images, sinks


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_transition_ends_show_each_deck_exactly(ctx, mode):
    (a, b), (sa, sb) = two_decks(ctx)
    comp = Compositor(ctx, 64, 36)
    bus = ParamBus()
    bus.set("transition", mode)
    params = bus.step(1.0)
    for fade, want in ((0.0, a), (1.0, b)):
        comp.draw(sa.texture, sb.texture, params, fade=fade)
        assert np.abs(comp.read().astype(int) - want).max() <= 1, (mode, fade)


def test_transition_modes_in_the_middle(ctx):
    (a, b), (sa, sb) = two_decks(ctx)
    comp = Compositor(ctx, 64, 36)
    bus = ParamBus()
    got = {}
    for mode in (0, 1, 2):
        bus.set("transition", mode)
        comp.draw(sa.texture, sb.texture, bus.step(1.0), fade=0.5)
        got[mode] = comp.read().astype(int)
    assert np.abs(got[0] - (a + b) / 2).max() <= 1.5  # mix: the average
    assert np.abs(got[1] - np.minimum(a + b, 255)).max() <= 1.5  # additive: both at full
    # luma wipe: each pixel is (nearly) A or B, and both appear
    near_a = np.abs(got[2] - a).max(axis=2) <= 2
    near_b = np.abs(got[2] - b).max(axis=2) <= 2
    assert (near_a | near_b).mean() > 0.6 and near_a.mean() > 0.1 and near_b.mean() > 0.1
