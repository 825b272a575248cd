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


def features(beat_count=0, onset=False, bpm=120.0, bar_phase=0.0, source="tap", confidence=1.0, beats_per_bar=4):
    """A snapshot; with a tempo, a tapped one by default (confidence 1: the beat-synced part at full)."""
    return dataclasses.replace(AudioFeatures.silent(), onset=onset, bpm=bpm, beat_count=beat_count,
                               bar_phase=bar_phase, tempo_source=source if bpm > 0 else "none",
                               bpm_confidence=confidence if bpm > 0 else 0.0, beats_per_bar=beats_per_bar)


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


def stream(fx, p, confidence, seconds, bpm=100.0, fps=60, start=0, source="tracker", beats_per_bar=4):
    """Frames of a steady beat at `bpm` with an onset on every off-beat (halfway between beats), the
    tracker's confidence given per frame by `confidence(t)`. Yields (t, on_beat, on_offbeat, EffectFrame);
    `start` is the frame number to begin at (so one stream can go on from another)."""
    beat_frames = 60.0 / bpm * fps
    for n in range(start, start + round(seconds * fps)):
        count = math.floor(n / beat_frames)
        on_beat = n > 0 and count > math.floor((n - 1) / beat_frames)
        off = math.floor(n / beat_frames - 0.5)
        on_offbeat = n > 0 and off > math.floor((n - 1) / beat_frames - 0.5)
        f = features(beat_count=count, onset=on_offbeat, bpm=bpm, bar_phase=(count % beats_per_bar) / beats_per_bar,
                     source=source, confidence=confidence(n / fps), beats_per_bar=beats_per_bar)
        yield n / fps, on_beat, on_offbeat, fx.update(p, f, 1 / fps)


def test_beat_synced_pulses_fade_out_as_the_confidence_drops():
    # flashes on beats; a short decay so each flash is gone before the next event. The tracker is sure for
    # 4 s, then unsure (0.1) for 3 s: the beat flashes fade out over a few beats (not cut), and the
    # off-beat onsets take over, as with no tempo at all.
    p = params(flash=1.0, flash_sync=1, fx_decay=0.05)
    fx = Effects()
    frames = list(stream(fx, p, lambda t: 0.9 if t < 4.0 else 0.1, 7.0))
    beats = [(t, f.flash) for t, on_beat, _, f in frames if on_beat]
    offbeats = [(t, f.flash) for t, _, on_off, f in frames if on_off]
    sure = [v for t, v in beats if 3.0 < t < 4.0]
    assert sure and min(sure) > 0.9, beats  # trusted: flashes on the beat ...
    assert max(v for t, v in offbeats if 3.0 < t < 4.0) < 0.1, offbeats  # ... and not on onsets
    fading = [v for t, v in beats if t >= 4.0]
    assert all(a > b for a, b in zip(fading, fading[1:]) if a > 1e-3), fading  # falling, beat by beat
    assert any(0.05 < v < 0.9 for v in fading), fading  # a fade, not a cut
    assert max(v for t, v in beats if t > 5.5) < 0.02, beats  # gone within 1.5 s
    assert min(v for t, v in offbeats if t > 5.5) > 0.95, offbeats  # the onsets flash instead
    # the weight comes back gently when the tracker is sure again (over about a second)
    back = [f for _, _, _, f in stream(fx, p, lambda t: 0.9, 0.5, start=len(frames))]
    assert 0.0 < fx.trust.weight < 0.5 and back


@pytest.mark.parametrize("name", ["flash", "pulse", "strobe"])
def test_onset_synced_pulses_do_not_care_about_the_confidence(name):
    p = params(**{name: 1.0, f"{name}_sync": 0})
    runs = []
    for confidence in (0.95, 0.05):
        fx = Effects()
        runs.append([(f.flash, f.contrast, f.strobe) for *_, f in stream(fx, p, lambda t: confidence, 3.0)])
    assert runs[0] == runs[1]
    assert max(max(v[0], v[1] - 1.0, v[2]) for v in runs[0]) > 0.9  # and they did pulse


def test_spin_and_hue_speed_follow_a_trusted_tempo_and_120_bpm_otherwise():
    # spin 30 °/beat at 60 BPM: 30 °/s when the grid is trusted, 60 °/s (120 BPM) when it is not, and in
    # between (45 °/s: 90 BPM) at half weight. Hue 0.3 turns per 3-beat bar at 60 BPM: 0.1 turns/s.
    p = params(spin=30.0, hue_speed=0.3)
    for source, confidence, degrees in (("tap", 1.0, 30.0), ("tracker", 0.1, 60.0), ("tracker", 0.45, 45.0)):
        fx = Effects()
        for _ in stream(fx, p, lambda t: confidence, 6.0, bpm=60.0, source=source, beats_per_bar=3):
            pass  # the weight settles (a second's attack)
        angle, hue = fx.angle, fx.hue_phase
        for _ in stream(fx, p, lambda t: confidence, 1.0, bpm=60.0, source=source, beats_per_bar=3, start=360):
            pass
        assert (fx.angle - angle) % 360.0 == pytest.approx(degrees, rel=0.01), source
        if source == "tap":
            assert (fx.hue_phase - hue) % 1.0 == pytest.approx(0.1, rel=1e-6)


def test_tap_and_clock_are_trusted_at_once_the_tracker_is_let_in_gently():
    p = params(flash=1.0, flash_sync=1)
    for source, expected in (("tap", 1.0), ("clock", 1.0), ("tracker", 0.05)):
        fx = Effects()
        fx.update(p, features(beat_count=0, source=source, confidence=1.0), 1 / 60)
        frame = fx.update(p, features(beat_count=1, source=source, confidence=1.0), 1 / 60)
        assert (frame.flash == 1.0) if expected == 1.0 else (frame.flash < expected), (source, frame.flash)


def test_bars_follow_the_meter():
    # in 3/4 every third beat starts a bar; a bar-synced flash fires on those only
    p = params(flash=1.0, flash_sync=2, fx_decay=0.05)
    fx = Effects()
    fired = [round(t * 100 / 60) for t, on_beat, _, f in stream(fx, p, lambda t: 1.0, 6.0, source="tap",
                                                                   beats_per_bar=3) if on_beat and f.flash > 0.9]
    assert fired == [3, 6, 9], fired  # beats 3, 6 and 9 (beat_count % 3 == 0) in 6 s at 100 BPM


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
