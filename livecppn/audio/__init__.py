"""Audio: sources (device, file, synthetic), the ring buffer between the audio and
render threads, and the per-frame feature extractor (DESIGN §1, §2)."""

from .features import FEATURE_NAMES, AudioFeatures, FeatureConfig, FeatureExtractor, window_ending_at
from .ring import RingBuffer
from .sources import (AudioError, AudioSource, DeviceSource, FileSource, SyntheticSource, list_devices,
                      load_audio, open_source, synthetic_beat)

__all__ = ["FEATURE_NAMES", "AudioFeatures", "FeatureConfig", "FeatureExtractor", "window_ending_at",
           "RingBuffer", "AudioError", "AudioSource", "DeviceSource", "FileSource", "SyntheticSource",
           "list_devices", "load_audio", "open_source", "synthetic_beat"]
