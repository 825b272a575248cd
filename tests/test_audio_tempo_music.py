"""The beat tracker on rendered music (tools/tempo_set.py: MIDI arrangements through fluidsynth + the
TimGM6mb soundfont, exact ground truth), on noise and silence, and its confidence.

Each run feeds the Analyzer as `livecppn live` does (60 fps frames; tools/eval_tempo.run_ours) and
scores it with the evaluation tool's own metrics."""

import sys
from pathlib import Path

import numpy as np
import pytest
from realparts import require

from livecppn.audio.analyzer import Analyzer
from livecppn.audio.config import FeatureConfig, TempoConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import eval_tempo as ev  # noqa: E402
import tempo_set as ts  # noqa: E402

TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    require(ts.have_fluidsynth(), "the fluidsynth program is not installed (apt-get install fluidsynth)")
    require(Path(TIMGM).is_file(), "no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)")
    return tmp_path_factory.mktemp("tempo-set")


def render(name, cache, seconds):
    return ts.render_track(name, cache=cache, soundfont=TIMGM, seconds=seconds)


def frames_between(run, t0, t1):
    return (run["times"] >= t0) & (run["times"] < t1)


@pytest.mark.parametrize("name", ["country", "breakbeat"])
def test_four_four_locks_in_seconds_on_tempo_and_beat(name, cache):
    x, rate, truth = render(name, cache, 24.0)
    run = ev.run_ours(x, rate)
    score = ev.score(run, truth, len(x) / rate)
    assert score["lock_s"] is not None and score["lock_s"] <= 8.0
    assert score["acc1"] >= 0.95 and score["beat_f"] >= 0.9, score
    late = frames_between(run, 12.0, 24.0)
    assert np.all(np.round(run["bpm"][late]) > 0) and np.all(run["confidence"][late] > 0.5)


def test_waltz_is_heard_in_three_with_the_bar_on_its_first_beat(cache):
    x, rate, truth = render("waltz", cache, 30.0)
    assert truth.beats_per_bar == 3
    run = ev.run_ours(x, rate)
    score = ev.score(run, truth, len(x) / rate)
    assert score["acc1"] >= 0.95 and score["beat_f"] >= 0.9, score
    # Frames of the second half: on a true beat and in the right place of a 3-beat bar.
    assert score["bar"] >= 0.9 and score["downbeat_f"] >= 0.9, score
    analyzer = Analyzer(rate)
    for i in range(0, len(x), 735):
        f = analyzer.process(x[i:i + 735], 1 / 60)
    assert f.beats_per_bar == 3
    # The performer's meter overrides what was heard.
    analyzer.beats_per_bar = 4
    assert analyzer.process(x[:0], 1 / 60).beats_per_bar == 4


def test_a_tempo_change_is_followed(cache):
    x, rate, truth = render("change_abrupt", cache, None)  # 118 BPM, then 128 from the middle (~25 s)
    change = truth.beats[np.argmax(np.diff(truth.beats) < 0.48)]
    run = ev.run_ours(x, rate)
    before = frames_between(run, change - 8.0, change)
    after = frames_between(run, change + 6.0, len(x) / rate)
    assert ev.tempo_ok(run["bpm"][before], 118.0).mean() >= 0.95
    assert ev.tempo_ok(run["bpm"][after], 128.0).mean() >= 0.95
    assert ev.score(run, truth, len(x) / rate)["beat_f"] >= 0.7


def test_a_breakdown_without_drums_keeps_the_tempo(cache):
    """Bars 10-18 of `breakdown` have no drums, only bass and pads: the tempo holds through them (it must
    hold for `hold` seconds at least), and the beat is back on the grid when the drums return."""
    x, rate, truth = render("breakdown", cache, 44.0)
    bar = 4 * 60.0 / 126.0
    run = ev.run_ours(x, rate)
    hold = TempoConfig().hold
    held = frames_between(run, 10 * bar, 10 * bar + hold)
    assert ev.tempo_ok(run["bpm"][held], 126.0).all()
    back = frames_between(run, 18 * bar + 4.0, 44.0)
    assert ev.tempo_ok(run["bpm"][back], 126.0).all()
    beats = run["beats"][(run["beats"] > 18 * bar + 4.0)]
    assert len(beats) and ev.f_measure(truth.beats[truth.beats > 18 * bar + 4.0], beats) >= 0.9


def test_the_tempo_is_let_go_after_the_hold_when_the_music_stops(cache):
    x, rate, truth = render("country", cache, 16.0)
    config = FeatureConfig(tempo=TempoConfig(hold=2.0))
    silence = np.zeros(int(14 * rate), np.float32)
    analyzer = Analyzer(rate, config)
    trace = []
    signal = np.concatenate((x, silence))
    for i in range(0, len(signal), 735):
        f = analyzer.process(signal[i:i + 735], 1 / 60)
        trace.append((f.audio_time, f.tempo_source, f.bpm_confidence))
    t = np.array([row[0] for row in trace])
    source = np.array([row[1] for row in trace])
    assert (source[(t > 10) & (t < 16)] == "tracker").all()
    # The last pulse leaves the 8 s history, then 2 s of hold: the tempo is gone by 16 + 8 + 2 s at most.
    assert (source[t > 16 + 8 + 2 + 0.5] == "none").all()


@pytest.mark.parametrize("name", ["white_noise", "pink_noise", "speech", "silence", "hiss_-70dB"])
def test_no_tempo_is_claimed_on_noise_speech_or_silence(name, tmp_path):
    x, rate = ts.render_signal(name, seconds=30.0, cache=tmp_path)
    run = ev.run_ours(x, rate)
    assert run["claims"].mean() <= 0.02
    assert np.nanmax(run["confidence"]) < 0.6


def test_confidence_rises_with_a_beat_and_falls_when_it_turns_to_noise(cache):
    x, rate, _ = render("breakbeat", cache, 16.0)
    noise, _ = ts.render_signal("pink_noise", seconds=16.0, cache=cache)
    signal = np.concatenate((x, 0.5 * noise))
    run = ev.run_ours(signal, rate)
    t, conf = run["times"], run["confidence"]
    assert conf[t < 1.5].max() == 0.0  # nothing is known yet
    rise = t[np.argmax(conf > 0.8)]
    assert 1.5 < rise < 6.0
    assert conf[(t > 8) & (t < 16)].min() > 0.8
    fall = t[(t > 16) & (conf < 0.2)]
    assert len(fall) and fall[0] < 16 + 8.0  # falls as the beat leaves the recent history
    assert conf[t > fall[0] + 2.0].max() < 0.3
