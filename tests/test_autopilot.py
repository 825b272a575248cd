"""The autopilot on a generated track through the real Analyzer at the offline frame clock: a loud,
percussive, bright section and a quiet, dark one get different families; manual input takes over."""

import numpy as np
import pytest

from livecppn.audio.analyzer import Analyzer
from livecppn.control.registry import default_registry
from livecppn.show.autopilot import Autopilot
from livecppn.control.params import ParamBus
from livecppn.model.bank import load_bank
from livecppn.paths import default_bank_path

RATE, FPS, BPM = 48000, 60, 120


def generated_track(loud_s=24.0, quiet_s=24.0):
    """Loud: kicks and noise hats at 120 BPM over a bright saw; quiet: a soft low sine pad."""
    rng = np.random.default_rng(7)
    n = round(loud_s * RATE)
    t = np.arange(n) / RATE
    beat = 60 / BPM
    phase = t % beat
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-phase / 0.03)) * phase) * np.exp(-phase / 0.12)
    off = (t + beat / 2) % beat
    hats = rng.standard_normal(n) * np.exp(-off / 0.02)
    hats = np.diff(hats, prepend=0.0)  # high-passed: bright
    saw = 2 * ((t * 880) % 1.0) - 1
    loud = 0.5 * kick + 0.3 * hats + 0.1 * saw
    loud *= 0.25 / np.sqrt(np.mean(loud ** 2))  # -12 dBFS RMS: a mastered dance track
    tq = np.arange(round(quiet_s * RATE)) / RATE
    quiet = 0.02 * np.sin(2 * np.pi * 110 * tq) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * tq))
    return np.concatenate([loud, quiet]).astype(np.float32), loud_s


def params(**values):
    bus = ParamBus()
    for name, value in values.items():
        bus.set(name, value)
    return bus.step(0.0)


def run(samples, autopilot, p, on_manual=None):
    """The frame loop's part: analyse, propose, and play the decks' part (a load lands at once, a go swaps)."""
    bank = autopilot.bank
    decks = {"a": bank.slots[1], "b": bank.slots[2]}
    on_air = "a"
    analyzer = Analyzer(RATE)
    picks, pos = [], 0
    for n in range(1, len(samples) * FPS // RATE + 1):
        now = n / FPS
        end = round(n * RATE / FPS)
        features = analyzer.process(samples[pos:end], 1 / FPS)
        pos = end
        if on_manual is not None and on_manual(now):
            autopilot.touched(now)
        off = "b" if on_air == "a" else "a"
        for name, value in autopilot.update(now, 1 / FPS, features, p, decks[on_air], decks[off]):
            if name == "load":
                decks[off] = bank.slots[value]
                picks.append((now, bank.families[value], value))
            elif name == "go":
                on_air = off
    return picks


def test_loud_and_quiet_sections_get_different_families():
    samples, loud_s = generated_track()
    bank = load_bank(default_bank_path())
    autopilot = Autopilot(bank, 0.0)
    autopilot.engage()  # switched on
    picks = run(samples, autopilot, params(autopilot=1, autopilot_bars=4))
    loud = [f for t, f, _ in picks if t < loud_s]
    quiet = [f for t, f, _ in picks if t > loud_s + 8]  # once the character has followed the music
    assert loud and quiet, picks
    assert loud[-1] != quiet[-1], picks
    assert loud[-1] == "geometric" and quiet[-1] == "organic", picks
    slots = [s for _, _, s in picks]
    assert all(a != b for a, b in zip(slots, slots[1:])), "never the same style twice in a row"


def test_it_engages_after_the_idle_time_and_hands_back_on_the_first_manual_input():
    samples, _ = generated_track(loud_s=30.0, quiet_s=0.0)
    bank = load_bank(default_bank_path())
    autopilot = Autopilot(bank, 0.0)
    touch_at = 20.0
    picks = run(samples, autopilot, params(autopilot=1, autopilot_idle=6, autopilot_bars=4),
                on_manual=lambda now: abs(now - touch_at) < 0.5 / FPS)
    times = [t for t, _, _ in picks]
    assert times and times[0] >= 6.0, "nothing before the idle time"
    assert any(t < touch_at for t in times)
    # after the touch: idle again for 6 s, so nothing until then
    assert not [t for t in times if touch_at <= t < touch_at + 6.0], picks
    assert not autopilot.engaged or any(t >= touch_at + 6.0 for t in times)


def test_switched_off_it_does_nothing():
    samples, _ = generated_track(loud_s=12.0, quiet_s=0.0)
    autopilot = Autopilot(load_bank(default_bank_path()), 0.0)
    autopilot.engage()
    assert run(samples, autopilot, params(autopilot=0, autopilot_idle=5)) == []


@pytest.mark.parametrize("changed,triggers,manual", [
    ({"brightness"}, [], True), (set(), [("go", None)], True), ({"autopilot"}, [], False),
    ({"autopilot_bars", "autopilot_idle"}, [], False), (set(), [("clock", (120.0, 0.0, 0))], False),
])
def test_what_counts_as_manual(changed, triggers, manual):
    assert default_registry().is_manual(changed, triggers) is manual


def test_changes_are_cued_on_the_last_beat_before_a_bar_line():
    from livecppn.audio.synth import synthetic_beat

    samples = synthetic_beat(40.0, RATE)
    bank = load_bank(default_bank_path())
    autopilot = Autopilot(bank, 0.0)
    autopilot.engage()
    p = params(autopilot=1, autopilot_bars=4)
    analyzer, pos, cues = Analyzer(RATE), 0, []
    for n in range(1, len(samples) * FPS // RATE + 1):
        end = round(n * RATE / FPS)
        features = analyzer.process(samples[pos:end], 1 / FPS)
        pos = end
        # (no deck to load into here: only the cue times matter, a cue that never lands times out)
        for name, _ in autopilot.update(n / FPS, 1 / FPS, features, p, bank.slots[1], None):
            if name == "load" and features.bpm > 0:
                cues.append((n / FPS, features.bar_phase))
    assert len(cues) >= 3, cues
    assert all(phase >= 0.74 for _, phase in cues), cues  # a beat before the bar line: the go lands on it
    gaps = [b - a for (a, _), (b, _) in zip(cues, cues[1:])]
    assert all(abs(g - 8.0) < 0.1 for g in gaps[1:]), gaps  # 4 bars at 120 BPM


def grid_features(n, bpm, confidence, beats_per_bar=4, source="tracker"):
    """Frame n's features on an exact grid (beat 0 at t = 0): the tempo as the beat clock hands it over."""
    import dataclasses

    from livecppn.audio.features import AudioFeatures

    beats = n / FPS * bpm / 60.0
    return dataclasses.replace(AudioFeatures.silent(), bpm=bpm, bpm_confidence=confidence, tempo_source=source,
                               beat_phase=beats % 1.0, bar_phase=beats % beats_per_bar / beats_per_bar,
                               beat_count=int(beats), beats_per_bar=beats_per_bar)


@pytest.mark.parametrize("bpm,confidence,meter,bar_s", [
    (96.0, 0.9, 4, 2.5),  # trusted: the grid's bars (4 beats at 96 BPM)
    (90.0, 0.9, 3, 2.0),  # trusted, a waltz: 3 beats at 90 BPM
    (96.0, 0.2, 4, 2.0),  # not trusted: the 120 BPM clock (a 4-beat bar is 2 s), as with no tempo
    (0.0, 0.0, 4, 2.0),  # no tempo
])
def test_phrases_follow_the_grid_only_when_it_is_trusted(bpm, confidence, meter, bar_s):
    bank = load_bank(default_bank_path())
    autopilot = Autopilot(bank, 0.0)
    autopilot.engage()
    p = params(autopilot=1, autopilot_bars=4)
    cues = []
    for n in range(1, 40 * FPS):
        f = grid_features(n, bpm, confidence, meter)
        for name, _ in autopilot.update(n / FPS, 1 / FPS, f, p, bank.slots[1], None):
            if name == "load":
                cues.append(n / FPS)
    gaps = [b - a for a, b in zip(cues, cues[1:])]
    assert len(gaps) >= 2 and all(abs(g - 4 * bar_s) < 1.5 / FPS for g in gaps), (cues, gaps)
    if confidence >= 0.45:  # one beat before the bar line (of this meter)
        beat_s = 60.0 / bpm
        assert all(abs((t + beat_s) % bar_s) < 1.5 / FPS or abs((t + beat_s) % bar_s - bar_s) < 1.5 / FPS
                   for t in cues), cues
