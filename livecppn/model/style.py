"""Style files: one `.safetensors` file per look (DESIGN §5).

The tensors are the CPPN's weights. The safetensors metadata holds one JSON
string under the key "livecppn": format name and version, architecture, name,
prompts, CLIP model and score, training settings, date. Loading never
executes code (safetensors has no pickle), and a file that fails validation is
refused with a `StyleError` that names the file and the problem.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .cppn import CPPN, CPPNConfig

FORMAT = "livecppn-style"
VERSION = 1
META_KEY = "livecppn"
MAX_BYTES = 64 * 1024 * 1024  # a 16 × 1024 network is ~67 MB in fp32; real styles are ~200 kB
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class StyleError(ValueError):
    """A style file that cannot be used. The message names the file and the problem."""


@dataclass
class Style:
    name: str
    config: CPPNConfig
    state: dict[str, torch.Tensor]  # CPPN state_dict, fp32
    meta: dict = field(default_factory=dict)  # prompts, clip, training, created, description, ...
    path: Path | None = None

    def build_model(self) -> CPPN:
        model = CPPN(self.config)
        model.load_state_dict(self.state)
        model.eval()
        return model

    @classmethod
    def from_model(cls, model: CPPN, name: str, **meta) -> "Style":
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
        return cls(name=name, config=model.config, state=state, meta=meta)


def save_style(style: Style, path: str | Path) -> Path:
    """Write a style file; the metadata records everything needed to rebuild the model."""
    path = Path(path)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name": style.name,
        "architecture": style.config.to_dict(),
        "created": style.meta.get("created") or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{k: v for k, v in style.meta.items() if k != "created"},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in style.state.items()}
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(header, sort_keys=True)})
    style.path = path
    return path


def expected_shapes(config: CPPNConfig) -> dict[str, tuple[int, ...]]:
    shapes = {}
    dims = [config.n_inputs] + [config.width] * config.layers
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        shapes[f"hidden.{i}.weight"] = (b, a)
        shapes[f"hidden.{i}.bias"] = (b,)
    shapes["out.weight"] = (3, config.width)
    shapes["out.bias"] = (3,)
    return shapes


def read_style_name(path: str | Path) -> str:
    """The style's own name (its metadata's "name", else the file's stem), reading only the file's
    header, not its tensors. Raises StyleError when the file is not a livecppn style file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")  # safetensors: u64 header length, then JSON
            if not 2 <= size <= MAX_BYTES:
                raise StyleError(f"style file {path}: not a safetensors file (header length {size})")
            header = json.loads(f.read(size))
        meta = json.loads(header.get("__metadata__", {})[META_KEY])
    except OSError as e:
        raise StyleError(f"style file {path}: cannot read ({e})") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StyleError(f"style file {path}: not a livecppn style (no readable '{META_KEY}' metadata)") from None
    name = meta.get("name") if isinstance(meta, dict) else None
    return str(name) if name else path.stem


def load_style(path: str | Path) -> Style:
    """Read and validate a style file. Raises StyleError naming the file and the problem."""
    path = Path(path)

    def fail(problem: str) -> StyleError:
        return StyleError(f"style file {path}: {problem}")

    if not path.is_file():
        raise fail("no such file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise fail(f"too large ({size} bytes; the limit is {MAX_BYTES})")

    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise fail(f"not a readable safetensors file (truncated or corrupt?): {e}") from None

    if META_KEY not in raw_meta:
        raise fail(f"no '{META_KEY}' metadata; expected a livecppn style written by `livecppn` tools")
    try:
        meta = json.loads(raw_meta[META_KEY])
    except json.JSONDecodeError as e:
        raise fail(f"metadata is not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise fail("metadata must be a JSON object")
    if meta.get("format") != FORMAT:
        raise fail(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise fail(f"unknown format version {meta.get('version')!r}; this livecppn reads version {VERSION}")
    try:
        config = CPPNConfig.from_dict(meta.get("architecture") or {})
    except (TypeError, ValueError) as e:
        raise fail(f"bad architecture: {e}") from None

    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise fail(f"tensor names do not match the architecture (missing {missing}, unexpected {extra})")
    for key, shape in expected.items():
        t = tensors[key]
        if tuple(t.shape) != shape:
            raise fail(f"tensor {key} has shape {tuple(t.shape)}, expected {shape}")
        if t.dtype not in FLOAT_DTYPES:
            raise fail(f"tensor {key} has dtype {t.dtype}, expected a float type")
        if not torch.isfinite(t).all():
            raise fail(f"tensor {key} contains NaN or Inf")
    if not math.isfinite(float(config.audio_scale)):
        raise fail("audio_scale is not finite")

    name = meta.get("name") or path.stem
    extra_meta = {k: v for k, v in meta.items() if k not in ("format", "version", "name", "architecture")}
    state = {k: v.to(torch.float32) for k, v in tensors.items()}
    return Style(name=str(name), config=config, state=state, meta=extra_meta, path=path)
