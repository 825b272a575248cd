"""The offline frame clock (audio/frame_clock.py, DESIGN §2): one definition, and its three users agree.

Frame n sees exactly the audio window that ends at n / fps s of the file, so
frame 0 sees none. The renderer, `livecppn analyze` and the trainer's
conditioning must give frame n the same features, real GL and real files.
"""

import numpy as np
import pytest
from realparts import write_wav

from livecppn.audio.analyzer import Analyzer
from livecppn.audio.decode import load_audio
from livecppn.audio.features import AudioFeatures
from livecppn.audio.frame_clock import frame_blocks, frame_clock, frame_end, window_ending_at
from livecppn.audio.synth import synthetic_beat
from livecppn.jsonable import rounded
from livecppn.offline import render
from livecppn.offline.analyze import analyze_file
from livecppn.offline.conditioning import track_states
from livecppn.media.encode import EncodeOptions

SR, FPS = 48000, 20
FRAMES = (0, 37)


def test_frame_n_ends_at_n_over_fps_and_frame_0_sees_nothing():
    assert frame_clock(0, 30) == 0.0 and frame_clock(45, 30) == 1.5
    assert frame_end(0, 30, SR, 10**6) == 0 and frame_end(45, 30, SR, 10**6) == 72000
    assert frame_end(45, 30, SR, 1000) == 1000  # never past the file
    # A boundary halfway between two samples (44.1 kHz at 24 fps: 1837.5 samples a frame) rounds
    # the same way for every frame and every user.
    assert [frame_end(n, 24, 44100, 10**6) for n in range(1, 5)] == [1838, 3675, 5512, 7350]


def test_frame_blocks_hand_over_every_sample_once_in_order():
    x = np.arange(1000, dtype=np.float32)
    blocks = list(frame_blocks(x, 1000, 30, 12))
    assert [n for n, _ in blocks] == list(range(12)) and len(blocks[0][1]) == 0
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), x[:frame_end(11, 30, 1000, len(x))])


def test_window_ending_at_pads_before_the_start_and_after_the_end():
    x = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(window_ending_at(x, 3, 5), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(window_ending_at(x, 12, 4), [9, 10, 0, 0])
    np.testing.assert_array_equal(window_ending_at(x, 7, 3), [5, 6, 7])


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("clock") / "beat.wav", synthetic_beat(2.5, SR), SR)


def reference(track):
    """Frame n's features by hand: an Analyzer fed the samples up to frame_end(n), frame by frame."""
    samples, rate = load_audio(track)
    analyzer = Analyzer(rate)
    return [analyzer.process(block, 1 / FPS) for n, block in frame_blocks(samples, rate, FPS, max(FRAMES) + 1)]


def rendered(track, tmp_path, monkeypatch, ctx):
    """The features the offline renderer handed its frames (the real Analyzer, its results recorded)."""
    seen = []

    class Recording(render.Analyzer):
        def process(self, samples, dt):
            seen.append(super().process(samples, dt))
            return seen[-1]

    monkeypatch.setattr(render, "Analyzer", Recording)
    render.render_file(render.RenderOptions(track, tmp_path / "png", size=(32, 18), fps=FPS, progress=False,
                                            encode=EncodeOptions(codec="png")), ctx=ctx)
    return seen


def test_render_analyze_and_conditioning_give_frame_n_the_same_audio(track, tmp_path, monkeypatch, ctx):
    ref = reference(track)
    assert ref[0] == AudioFeatures.silent(time=ref[0].time)  # frame 0: no audio yet (the motion clock runs)
    assert ref[37].audio_time == 37 / FPS and ref[37].rms > 0
    by_render = rendered(track, tmp_path, monkeypatch, ctx)
    by_analyze = analyze_file(track, fps=FPS)["frames"]
    by_training = track_states(track, fps=FPS).rows
    assert len(by_render) == len(by_analyze) == len(by_training) == 50  # 2.5 s at 20 fps
    for n in FRAMES:
        assert by_render[n] == ref[n], n
        assert by_analyze[n] == {"frame": n, "t": frame_clock(n, FPS), **rounded(ref[n].as_dict())}, n
        np.testing.assert_array_equal(by_training[n, 1:], ref[n].vector(), err_msg=str(n))
        assert by_training[n, 0] == np.float32(frame_clock(n, FPS))  # and the same clock reading
