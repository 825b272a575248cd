"""Audio: sources (device, file, synthetic), the ring buffer between the audio and
render threads, the per-frame feature extractor, onsets, tempo and the beat clock,
and the Analyzer that composes them (DESIGN §1, §2)."""

from .analyzer import Analyzer
from .base import AudioError, AudioSource
from .config import FeatureConfig, TempoConfig
from .decode import load_audio
from .devices import DeviceSource, list_devices
from .features import FEATURE_NAMES, AudioFeatures, FeatureExtractor
from .frame_clock import frame_blocks, frame_clock, frame_end, window_ending_at
from .ring import RingBuffer
from .sources import FileSource, SyntheticSource, open_source
from .synth import synthetic_beat

__all__ = ["Analyzer", "FEATURE_NAMES", "AudioFeatures", "FeatureConfig", "FeatureExtractor", "TempoConfig",
           "frame_clock", "frame_end", "frame_blocks", "window_ending_at", "RingBuffer", "AudioError",
           "AudioSource", "DeviceSource", "FileSource", "SyntheticSource", "list_devices", "load_audio",
           "open_source", "synthetic_beat"]
