"""FeatureConfig and TempoConfig (audio/config.py) refuse bad values by name."""

import pytest

from livecppn.audio.config import FeatureConfig, TempoConfig


def test_feature_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="attack"):
        FeatureConfig(attack=0)
    with pytest.raises(ValueError, match="bass_hz"):
        FeatureConfig(bass_hz=(250, 20))
    with pytest.raises(TypeError):
        FeatureConfig(atack=0.1)  # unknown keys are errors


def test_tempo_config_is_checked():
    with pytest.raises(ValueError, match="onset_method"):
        TempoConfig(onset_method="nope")
    with pytest.raises(ValueError, match="bpm_range"):
        TempoConfig(bpm_range=(100.0, 150.0))
    with pytest.raises(ValueError, match="history"):
        TempoConfig(history=1.0)
