"""Style files: exact round trip, and every kind of bad file refused with its name and problem."""

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from livecppn.model.cppn import CPPNConfig, build
from livecppn.model.default_style import make_default_style
from livecppn.model.style import MAX_BYTES, Style, StyleError, load_style, save_style
from livecppn.paths import default_style_path


@pytest.fixture
def style():
    model = build(CPPNConfig(layers=3, width=20, activations=("sin", "tanh", "gaussian"), audio_scale=0.3), seed=2)
    return Style.from_model(model, "roundtrip", prompts=["organic flowing shapes"], clip={"model": "RN50", "score": 0.245})


def test_round_trip_is_exact(tmp_path, style):
    path = save_style(style, tmp_path / "s.safetensors")
    back = load_style(path)
    assert back.name == "roundtrip"
    assert back.config == style.config
    assert back.meta["prompts"] == ["organic flowing shapes"]
    assert back.meta["clip"] == {"model": "RN50", "score": 0.245}
    assert back.state.keys() == style.state.keys()
    for k in style.state:
        assert torch.equal(back.state[k], style.state[k]), k
    coords = torch.rand(10, 3)
    torch.testing.assert_close(back.build_model()(coords, 1.0, torch.ones(9)),
                               style.build_model()(coords, 1.0, torch.ones(9)), rtol=0, atol=0)


def header_and_tensors(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data


def write_with_meta(path, tensors, meta):
    save_file(tensors, str(path), metadata={"livecppn": json.dumps(meta)})


def expect_refused(path, fragment):
    with pytest.raises(StyleError) as err:
        load_style(path)
    msg = str(err.value)
    assert str(path) in msg, msg
    assert fragment in msg, msg


def test_truncated_file_is_refused(tmp_path, style):
    path = save_style(style, tmp_path / "s.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    expect_refused(path, "not a readable safetensors file")


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x00\x01not a style at all" * 10)
    expect_refused(path, "not a readable safetensors file")


def test_pickle_file_is_refused_without_unpickling(tmp_path, style):
    path = tmp_path / "style.pth"
    torch.save(style.state, path)  # a .pth is a zip of pickles: never loaded
    expect_refused(path, "not a readable safetensors file")


def test_missing_file_is_refused(tmp_path):
    expect_refused(tmp_path / "nope.safetensors", "no such file")


def test_nan_weights_are_refused(tmp_path, style):
    style.state["hidden.1.weight"][0, 0] = float("nan")
    expect_refused(save_style(style, tmp_path / "nan.safetensors"), "hidden.1.weight contains NaN or Inf")


def test_inf_weights_are_refused(tmp_path, style):
    style.state["out.bias"][1] = float("inf")
    expect_refused(save_style(style, tmp_path / "inf.safetensors"), "out.bias contains NaN or Inf")


def test_wrong_shape_is_refused(tmp_path, style):
    path = save_style(style, tmp_path / "s.safetensors")
    meta = json.loads(header_and_tensors(path)[0]["__metadata__"]["livecppn"])
    tensors = dict(style.state)
    tensors["hidden.1.weight"] = torch.zeros(20, 21)
    write_with_meta(path, tensors, meta)
    expect_refused(path, "hidden.1.weight has shape (20, 21), expected (20, 20)")


def test_missing_tensor_is_refused(tmp_path, style):
    path = save_style(style, tmp_path / "s.safetensors")
    meta = json.loads(header_and_tensors(path)[0]["__metadata__"]["livecppn"])
    tensors = {k: v for k, v in style.state.items() if k != "out.weight"}
    write_with_meta(path, tensors, meta)
    expect_refused(path, "missing ['out.weight']")


def test_unknown_version_is_refused(tmp_path, style):
    path = tmp_path / "v9.safetensors"
    write_with_meta(path, style.state, {"format": "livecppn-style", "version": 9,
                                        "architecture": style.config.to_dict()})
    expect_refused(path, "unknown format version 9")


def test_no_metadata_is_refused(tmp_path, style):
    path = tmp_path / "plain.safetensors"
    save_file(style.state, str(path))
    expect_refused(path, "no 'livecppn' metadata")


def test_bad_architecture_is_refused(tmp_path, style):
    path = tmp_path / "arch.safetensors"
    arch = style.config.to_dict() | {"activations": ["sin", "tanh", "wobble"]}
    write_with_meta(path, style.state, {"format": "livecppn-style", "version": 1, "architecture": arch})
    expect_refused(path, "unknown activation")


def test_too_large_is_refused(tmp_path):
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as f:
        f.truncate(MAX_BYTES + 1)
    expect_refused(path, "too large")


def test_shipped_default_style_is_valid_and_reproducible(tmp_path):
    shipped = load_style(default_style_path())
    assert shipped.name == "default"
    fresh = save_style(make_default_style(), tmp_path / "default.safetensors")
    assert fresh.read_bytes() == default_style_path().read_bytes(), "run tools/build_styles.py"
