"""Post effects on real GL (Xvfb + Mesa): each at 0 leaves the picture bit-identical, each at its
maximum changes it; pulses follow onsets, beats or bars; timing is in seconds and beats, not frames."""

import dataclasses
import math

import numpy as np
import pytest

from livecppn.audio.features import AudioFeatures
from livecppn.control.params import ParamBus
from livecppn.control.registry import default_registry

SPECS = default_registry().specs
from livecppn.model.default_style import make_default_style
from livecppn.model.generator import Generator
from livecppn.render.compositor import Compositor
from livecppn.render.effects import EffectFrame, Effects
from livecppn.render.sinks import PBOSink

EFFECTS = ("trails", "kaleido", "swirl", "spin", "hue", "hue_speed", "flash", "pulse", "strobe", "vignette")
SIZE = (96, 54)


def params(**values):
    bus = ParamBus()
    for name, value in values.items():
        bus.set(name, value)
    return bus.step(100.0)  # a long step: every value slewed all the way


def features(beat_count=0, onset=False, bpm=120.0, bar_phase=0.0):
    return dataclasses.replace(AudioFeatures.silent(), onset=onset, bpm=bpm, beat_count=beat_count,
                               bar_phase=bar_phase)


@pytest.fixture(scope="module")
def decks(ctx):
    sinks = []
    for seed, t in ((11, 0.5), (5, 2.0)):
        gen = Generator(make_default_style(seed=seed), *SIZE)
        sink = PBOSink(ctx, *SIZE)
        sink.upload(gen.render(t, np.zeros(9, np.float32)).clone())
        sinks.append(sink)
    yield [s.texture for s in sinks]
    for s in sinks:
        s.release()


def draw(comp, decks, p, fx=None, fade=None):
    comp.draw(decks[0], decks[1] if fade is not None else None, p, fade=fade, fx=fx)
    return comp.read().astype(int)


def pulse_frames(effects, p, dt=1 / 60):
    """Two frames: one without an event, then one with an onset on a beat that starts a bar."""
    effects.update(p, features(beat_count=3), dt)
    return effects.update(p, features(beat_count=4, onset=True, bar_phase=0.0), dt)


@pytest.mark.parametrize("fade,mode,brightness", [(None, 0, 1.0), (0.37, 0, 0.7), (0.6, 2, 1.3)])
def test_post_pass_with_every_effect_at_zero_is_bit_identical(ctx, decks, fade, mode, brightness):
    comp = Compositor(ctx, *SIZE)
    p = params(transition=mode, brightness=brightness)
    plain = draw(comp, decks, p, fade=fade)
    forced = draw(comp, decks, p, EffectFrame(active=True), fade=fade)  # the effects pass runs, doing nothing
    assert np.array_equal(plain, forced)


@pytest.mark.parametrize("name", EFFECTS)
def test_each_effect_at_zero_is_unchanged_and_at_its_maximum_changes_the_picture(ctx, decks, name):
    comp = Compositor(ctx, *SIZE)
    base = draw(comp, decks, params())
    effects = Effects()
    off = pulse_frames(effects, params(**{name: 0.0}))
    assert not off.active
    assert np.array_equal(draw(comp, decks, params(), off), base)

    p = params(**{name: SPECS[name].maximum})
    effects = Effects()
    fx = pulse_frames(effects, p, dt=0.1)
    assert fx.active
    if name == "trails":  # a trail shows once the picture moves on: draw A, then B over it
        draw(comp, decks, p, fx)
        fx = effects.update(p, features(beat_count=4), 1 / 60)
        got = comp.read().astype(int)
        comp.draw(decks[1], None, p, fx=fx)
        got, base = comp.read().astype(int), draw(Compositor(ctx, *SIZE), [decks[1]], params())
    else:
        got = draw(comp, decks, p, fx)
    assert np.abs(got - base).mean() > 3, f"{name} at its maximum should change the picture"


def test_blackout_wins_over_flash_and_strobe(ctx, decks):
    comp = Compositor(ctx, *SIZE)
    p = params(flash=1.0, strobe=1.0, blackout=1.0)
    fx = pulse_frames(Effects(), p)
    assert fx.flash > 0.9 and fx.strobe == 1.0
    assert draw(comp, decks, p, fx).max() == 0


@pytest.mark.parametrize("sync,events", [(0, "onset"), (1, "beat"), (2, "bar")])
def test_pulses_follow_onsets_beats_or_bars(sync, events):
    p = params(flash=1.0, flash_sync=sync)
    fx = Effects()
    fx.update(p, features(beat_count=0), 1 / 60)
    seen, count = {}, 0
    for label, f in (("onset", features(beat_count=0, onset=True)),
                     ("beat", features(beat_count=1, bar_phase=0.25)),
                     ("bar", features(beat_count=2, bar_phase=0.0))):
        for _ in range(60):  # a second apart: earlier pulses have faded
            fx.update(p, features(beat_count=count), 1 / 60)
        seen[label] = fx.update(p, f, 1 / 60).flash
        count = f.beat_count
    fired = {k for k, v in seen.items() if v > 0.9}
    expected = {"onset": {"onset"}, "beat": {"beat", "bar"}, "bar": {"bar"}}[events]
    assert fired == expected, seen


def test_without_a_tempo_beat_sync_follows_onsets():
    p = params(pulse=1.0, pulse_sync=1)
    fx = Effects()
    fx.update(p, features(bpm=0.0), 1 / 60)
    assert fx.update(p, features(bpm=0.0, onset=True), 1 / 60).contrast > 2.0


def test_timing_is_in_seconds_and_beats_not_frames():
    # the same second at 30 and at 120 fps: the same trail weight per second, flash envelope, spin angle
    p = params(trails=0.5, flash=1.0, fx_decay=1.0, spin=30.0)
    results = []
    for fps in (40, 160):
        fx = Effects()
        fx.update(p, features(beat_count=0), 1 / fps)
        fx.update(p, features(beat_count=1, onset=True), 1 / fps)
        start, kept = fx.angle, 1.0
        for _ in range(fps // 4):  # a quarter of a second
            frame = fx.update(p, features(beat_count=1), 1 / fps)
            kept *= frame.trail_keep
        results.append((kept, frame.flash, fx.angle - start))
    for a, b in zip(*results):
        assert a == pytest.approx(b, rel=1e-6)
    # at 120 BPM a beat is 0.5 s: 30 °/beat for a quarter of a second is 15 °
    assert results[0][2] == pytest.approx(15.0)


def test_spin_and_hue_speed_ease_back_when_stopped():
    fx = Effects()
    for _ in range(30):
        fx.update(params(spin=90.0, hue_speed=1.0), features(), 1 / 60)
    assert fx.angle != 0 and fx.hue_phase != 0
    for _ in range(240):
        frame = fx.update(params(), features(), 1 / 60)
    assert fx.angle == 0.0 and fx.hue_phase == 0.0 and not frame.active
    assert math.isclose(frame.contrast, 1.0)


def test_pulse_effects_between_pulses_leave_the_picture_unchanged(ctx, decks):
    comp = Compositor(ctx, *SIZE)
    base = draw(comp, decks, params())
    p = params(flash=1.0, pulse=1.0, strobe=1.0)
    fx = Effects()
    fx.update(p, features(beat_count=0), 1 / 60)  # no pulse yet
    frame = fx.update(p, features(beat_count=0), 1 / 60)
    assert frame.active and {"CONTRAST", "WHITE"} <= frame.stages()  # compiled in, at their neutral value
    assert np.array_equal(draw(comp, decks, p, frame), base)
