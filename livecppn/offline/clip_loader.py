"""CLIP for the trainer: an open_clip model, its tokenizer and its image normalisation.

Offline first. `--clip-pretrained` is a tag (`openai`, ...), a checkpoint file
(.pt/.pth/.bin/.safetensors; OpenAI's TorchScript archives too), or `none`
for random weights (tests, timing). A tag is looked up in the local caches
before any download is tried, and a download is tried only when the hub's
host resolves, so a machine without a network gets a message saying where
to put the file at once, not after a minute of retries.

Only the trainer imports this module; the live path never does (DESIGN §3).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import socket
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

RANDOM_WEIGHTS = ("none", "random")
HUB_HOST = "huggingface.co"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".npz")
LEGACY_CACHE = Path("~/.cache/clip")  # where open_clip keeps files fetched by URL (OpenAI's RN50.pt, ...)


class ClipError(RuntimeError):
    """CLIP cannot be loaded. The message names the model or file and says what to do."""


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP to load. `config` (a model config JSON) defines a custom model named by its file stem."""

    model: str = "RN50"
    pretrained: str | None = "openai"  # a tag, a checkpoint file, or None / "none" for random weights
    config: str | None = None
    cache_dir: str | None = None  # the Hugging Face hub cache to look in (default: HF_HUB_CACHE or ~/.cache/...)

    @property
    def random(self) -> bool:
        return self.pretrained is None or self.pretrained.lower() in RANDOM_WEIGHTS

    @property
    def name(self) -> str:
        return Path(self.config).stem if self.config else self.model


class Clip:
    """A frozen CLIP model. Embeddings are unit length; images are (B, 3, S, S) RGB in [0, 1]."""

    def __init__(self, model: torch.nn.Module, tokenizer, spec: ClipSpec, weights: str,
                 checkpoint: Path | None = None):
        import open_clip

        self.model = model.eval().requires_grad_(False)  # gradients flow to the image, never into CLIP
        self.tokenizer = tokenizer
        self.spec = spec
        self.weights = weights  # what was loaded, in words: a file, a tag's cached file, or "random"
        self.checkpoint = checkpoint  # the weights file read, None for random weights
        pre = open_clip.get_model_preprocess_cfg(model)
        size = pre["size"]
        self.image_size = int(size if isinstance(size, int) else size[0])
        self.mean = torch.tensor(pre["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(pre["std"], dtype=torch.float32).view(1, 3, 1, 1)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def to(self, device: str | torch.device) -> "Clip":
        self.model.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(prompts).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float()  # (P, D)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable in `images`. (B, 3, S, S) in [0, 1] → (B, D), S = image_size."""
        return self.model.encode_image((images - self.mean) / self.std, normalize=True).float()


def load_clip(spec: ClipSpec, device: str | torch.device = "cpu") -> Clip:
    """The CLIP `spec` names, on `device`, in fp32. Raises ClipError naming the model or file."""
    with _quiet_open_clip():
        import open_clip

        name = _register(spec, open_clip)
        path, tag_cfg, weights = _resolve_weights(spec, name, open_clip)
        quick_gelu = bool(tag_cfg.get("quick_gelu")) or (path is not None and _openai_weights(path))
        norm = {k: tag_cfg[k] for k in ("mean", "std") if k in tag_cfg}
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # random weights ("none") are the same every run
                model = open_clip.create_model(name, pretrained=None, precision="fp32", device="cpu",
                                               force_quick_gelu=quick_gelu, force_preprocess_cfg=norm or None)
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as e:  # noqa: BLE001 - open_clip raises many kinds; all mean "this model cannot be built"
            raise ClipError(f"CLIP model {name!r} cannot be built: {e}") from None
        if path is not None:
            _load_weights(model, path, name, open_clip)
    return Clip(model, tokenizer, spec, weights, path).to(device)


def check_clip(spec: ClipSpec) -> None:
    """Raises the ClipError `load_clip` would, without building the model or downloading anything.

    A tag that is not on this machine passes when its host resolves (load_clip would download it)."""
    with _quiet_open_clip():
        import open_clip

        _resolve_weights(spec, _register(spec, open_clip), open_clip, fetch=False)


def _register(spec: ClipSpec, open_clip) -> str:
    """The open_clip model name; a --clip-config file is checked and registered under its stem."""
    if spec.config:
        path = Path(spec.config)
        try:
            cfg = json.loads(path.read_text())
        except OSError as e:
            raise ClipError(f"CLIP config {path}: cannot read it ({e.strerror or e})") from None
        except json.JSONDecodeError as e:
            raise ClipError(f"CLIP config {path}: not valid JSON ({e})") from None
        missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if not isinstance(cfg, dict) or k not in cfg]
        if missing:
            raise ClipError(f"CLIP config {path}: expected an open_clip model config with embed_dim, vision_cfg "
                            f"and text_cfg; missing {missing}")
        open_clip.add_model_config(path)
        return path.stem
    name = spec.model.replace("/", "-")
    known = open_clip.list_models()
    name = next((k for k in known if k.lower() == name.lower()), name)  # vit-b-32 is ViT-B-32
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ClipError(f"unknown CLIP model {spec.model!r}: {hint}open_clip knows {len(known)} models, e.g. RN50, "
                        "ViT-B-32, ViT-L-14 (python -c \"import open_clip; print(open_clip.list_models())\" lists "
                        "them); for a custom model pass its config with --clip-config FILE.json")
    return name


def _looks_like_path(value: str) -> bool:
    return os.sep in value or "/" in value or value.lower().endswith(CHECKPOINT_SUFFIXES) or Path(value).exists()


def _resolve_weights(spec: ClipSpec, name: str, open_clip, fetch: bool = True) -> tuple[Path | None, dict, str]:
    """(checkpoint file or None for random weights, the tag's config or {}, a description).

    With fetch=False a tag to be downloaded gives (None, its config, "to download")."""
    if spec.random:
        return None, {}, "random weights"
    value = str(spec.pretrained)
    tags = open_clip.list_pretrained_tags_by_model(name)
    if _looks_like_path(value):
        path = Path(value).expanduser()
        if not path.is_file():
            or_tag = f", or a tag ({', '.join(tags)})" if tags else ""
            raise ClipError(f"CLIP checkpoint {path}: no such file. Pass an existing .pt/.bin/.safetensors file "
                            f"for {name}{or_tag}; the README's 'Getting CLIP weights onto a machine' says where "
                            "to get one.")
        return path, {}, str(path)
    cfg = open_clip.get_pretrained_cfg(name, value)
    if not cfg:
        known = f"its tags are {', '.join(tags)}" if tags else "it has no published weights"
        raise ClipError(f"CLIP model {name} has no pretrained tag {value!r} ({known}); pass a checkpoint file, "
                        "or 'none' for random weights")
    path = _cached(cfg, spec.cache_dir)
    if path is None:
        if not _hub_reachable():
            raise ClipError(_missing_message(name, value, cfg, spec.cache_dir))
        if not fetch:
            return None, cfg, "to download"
        try:
            path = Path(open_clip.download_pretrained(cfg, cache_dir=spec.cache_dir))
        except Exception as e:  # noqa: BLE001
            raise ClipError(f"{_missing_message(name, value, cfg, spec.cache_dir)}\n(download failed: {e})") from None
    return path, cfg, f"{value} ({path})"


def _hub_files(cfg: dict) -> tuple[str, list[str]]:
    """(hub repo id, candidate file names, safetensors first) for a tag's config."""
    repo, filename = os.path.split(cfg.get("hf_hub", "").rstrip())
    names = [filename] if filename else ["open_clip_pytorch_model.bin"]
    stem = names[0].rsplit(".", 1)[0]
    safe = ["open_clip_model.safetensors"] if not filename else [f"{stem}.safetensors"]
    return repo, safe + names


def _cached(cfg: dict, cache_dir: str | None) -> Path | None:
    """The tag's checkpoint if it is already on this machine: the hub cache, then the URL cache."""
    repo, names = _hub_files(cfg)
    if repo:
        from huggingface_hub import try_to_load_from_cache

        for filename in names:
            hit = try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
            if isinstance(hit, str) and os.path.isfile(hit):
                return Path(hit)
    url = cfg.get("url")
    if url:
        legacy = LEGACY_CACHE.expanduser() / os.path.basename(url)
        if legacy.is_file():
            return legacy
    return None


def _hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        socket.getaddrinfo(HUB_HOST, 443)
    except OSError:
        return False
    return True


def _missing_message(name: str, tag: str, cfg: dict, cache_dir: str | None) -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    repo, names = _hub_files(cfg)
    hub_cache = cache_dir or HF_HUB_CACHE
    folder = f"models--{repo.replace('/', '--')}"
    lines = [f"CLIP weights for {name} '{tag}' are not on this machine and {HUB_HOST} cannot be reached "
             f"(looked in {hub_cache} and {LEGACY_CACHE}). To get them here, do one of:"]
    if repo:
        lines += [f"  - on a machine with internet run `python -c \"import open_clip; open_clip.create_model("
                  f"'{name}', pretrained='{tag}')\"`; it saves the folder {folder} in its Hugging Face cache "
                  f"(~/.cache/huggingface/hub by default): copy that folder into {hub_cache} here "
                  "(or point HF_HUB_CACHE or --clip-cache at a copy)",
                  f"  - download {names[-1]} (or {names[0]}) from https://{HUB_HOST}/{repo} and pass the file: "
                  "--clip-pretrained /path/to/that/file"]
    if cfg.get("url"):
        lines.append(f"  - download {cfg['url']} and put it in {LEGACY_CACHE}/ or pass it with --clip-pretrained")
    return "\n".join(lines)


def _openai_weights(path: Path) -> bool:
    """OpenAI's own weights were trained with QuickGELU: their TorchScript archives, or a file from an openai repo."""
    return _is_torchscript(path) or "openai" in str(path).lower()


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_weights(model: torch.nn.Module, path: Path, name: str, open_clip) -> None:
    try:
        if _is_torchscript(path):
            # OpenAI's original release: a TorchScript archive, read without unpickling Python objects.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, the files are not
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
            buffers = dict(model.named_buffers())  # scripted modules keep non-persistent buffers (attn_mask)
            drop = {"input_resolution", "context_length", "vocab_size"} | (set(buffers) - set(model.state_dict()))
            model.load_state_dict({k: v.float() for k, v in state.items() if k not in drop})
        else:
            open_clip.load_checkpoint(model, str(path))  # .safetensors, or torch.load with weights_only
    except Exception as e:  # noqa: BLE001 - a bad file surfaces as many kinds of error
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClipError(f"CLIP checkpoint {path}: not a readable checkpoint for {name} "
                        f"(truncated, corrupt, or for another model?): {first[:300]}") from None


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs its progress on the root logger at INFO; our log would fill with it."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(max(old, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(old)
