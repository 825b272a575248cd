"""File decoding (audio/decode.py) with real PyAV-encoded files."""

import numpy as np
import pytest

from livecppn.audio.base import AudioError
from livecppn.audio.decode import decode_audio, load_audio, probe_audio

from realparts import dominant_hz, sine, write_wav


def encode(path, samples, sr, codec):
    """Encode mono float32 samples with PyAV (container from the file extension)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=sr, layout="mono")
        for i in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(samples[None, i:i + 4096], format="flt", layout="mono")
            frame.sample_rate = sr
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_wav_decodes_to_mono_at_its_own_rate(tmp_path):
    path = write_wav(tmp_path / "tone.wav", sine(440, 1.0, 22050), 22050, channels=2)
    samples, rate = load_audio(path)
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape == (22050,)
    assert dominant_hz(samples, rate) == pytest.approx(440, abs=3)
    assert np.sqrt(np.mean(samples ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


@pytest.mark.parametrize("ext, codec, sr", [("mp3", "mp3", 44100), ("flac", "flac", 48000)])
def test_compressed_files_decode_to_the_right_rate_and_length(tmp_path, ext, codec, sr):
    path = encode(tmp_path / f"tone.{ext}", sine(440, 2.0, sr), sr, codec)
    samples, rate = load_audio(path)
    assert rate == sr
    assert abs(len(samples) - 2 * sr) <= 2 * 1152  # mp3 may pad by up to a frame or two
    middle = samples[sr // 2:-sr // 2]
    assert dominant_hz(middle, rate) == pytest.approx(440, abs=3)
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_decode_keeps_the_channels_and_probe_reads_them_without_decoding(tmp_path):
    path = write_wav(tmp_path / "tone.wav", sine(440, 0.5, 22050), 22050, channels=2)
    assert probe_audio(path) == (22050, 2)
    planar, rate = decode_audio(path)
    assert rate == 22050 and planar.dtype == np.float32 and planar.shape == (2, 11025)
    mono, _ = decode_audio(path, rate=44100, channels=1)
    assert mono.shape[0] == 1 and abs(mono.shape[1] - 22050) <= 64  # ffmpeg's resampler


def test_a_missing_file_is_an_audio_error_naming_it(tmp_path):
    with pytest.raises(AudioError, match="nope.wav.*no such file"):
        load_audio(tmp_path / "nope.wav")
