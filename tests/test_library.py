"""The style library: coordinate transforms and palettes on the live and reference paths alike,
the shipped styles and their recipes, and banks that tag slots with families."""

import json

import numpy as np
import pytest
import torch

from livecppn.model.bank import load_bank
from livecppn.model.cppn import TRANSFORMS, CPPNConfig, apply_palette, build, coordinate_grid, transform_xy
from livecppn.model.generator import Generator
from livecppn.model.library import FAMILIES, RECIPES, library
from livecppn.model.style import Style, StyleError, load_style, save_style
from livecppn.paths import default_bank_path, presets_dir

AUDIO = np.array([0.9, 0.3, 0.2, 0.5, 0.4, 0.6, 0.0, 1.0, 0.7], np.float32)


def style_with(**config):
    return Style.from_model(build(CPPNConfig(**config), seed=5), "t")


@pytest.mark.parametrize("transform,symmetry", [(t, n) for t in TRANSFORMS for n in (1, 2, 5)])
@pytest.mark.parametrize("palette", [(), ((0.0, 0.0, 0.1), (1.0, 0.2, 0.5), (0.9, 0.9, 1.0))])
def test_live_generator_matches_the_reference_with_transforms_and_palettes(transform, symmetry, palette):
    gen = Generator(style_with(transform=transform, symmetry=symmetry, palette=palette), 48, 27)
    for zoom, rotation in ((1.0, 0.0), (1.7, 33.0)):
        live = gen.render(1.3, AUDIO, zoom=zoom, rotation=rotation)[..., :3].numpy().astype(int)
        want = (gen.render_float(1.3, AUDIO, zoom=zoom, rotation=rotation).numpy() * 255).round().astype(int)
        # the palette is looked up in a 1024-entry table; rgb is computed in the same precision
        assert np.abs(live - want).max() <= (2 if palette else 1), (transform, symmetry, zoom)


def test_transforms_are_symmetric_and_continuous():
    g = coordinate_grid(64, 64, transform="mirror", symmetry=2).reshape(64, 64, 3)
    assert torch.equal(g, g.flip(0)) and torch.equal(g, g.flip(1))  # four-way mirror
    k = coordinate_grid(65, 65, transform="kaleido", symmetry=4).reshape(65, 65, 3)
    assert torch.allclose(k, k.rot90(1, (0, 1)), atol=1e-4)  # 4-fold: a quarter turn maps it onto itself
    r = coordinate_grid(97, 61)[:, 2].reshape(61, 97)
    for name in TRANSFORMS:  # no seams: neighbouring pixels stay close
        # (polar coordinates pinch at the centre, where the angle changes fastest)
        away = r[1:, 1:] > (4.0 if name == "polar" else 0.0)
        g = coordinate_grid(97, 61, transform=name, symmetry=3).reshape(61, 97, 3)
        dy, dx = (g[1:, 1:] - g[:-1, 1:]).abs(), (g[1:, 1:] - g[1:, :-1]).abs()
        assert dy[away].max() < 0.5 and dx[away].max() < 0.5, name
    x, y = torch.tensor([0.1, -2.0]), torch.tensor([0.2, 0.5])
    assert transform_xy(x, y, "none") == (x, y)


def test_palette_interpolates_between_its_stops():
    stops = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.5, 0.0], [1.0, 1.0, 1.0]])
    got = apply_palette(torch.tensor([0.0, 0.25, 0.5, 1.0, 1.7, -3.0]), stops)
    want = torch.tensor([[0, 0, 0], [0.5, 0.25, 0], [1, 0.5, 0], [1, 1, 1], [1, 1, 1], [0, 0, 0]])
    assert torch.allclose(got, want)


def test_new_config_fields_are_written_only_when_used():
    assert set(CPPNConfig().to_dict()) == {"layers", "width", "activations", "use_radius", "n_audio",
                                           "audio_scale", "init_gain"}  # old files keep their bytes
    d = CPPNConfig(transform="tile", symmetry=3, palette=((0, 0, 0), (1, 1, 1))).to_dict()
    assert d["transform"] == "tile" and d["symmetry"] == 3 and d["palette"] == [[0, 0, 0], [1, 1, 1]]
    assert CPPNConfig.from_dict(json.loads(json.dumps(d))) == CPPNConfig(**{**d, "activations": tuple(d["activations"])})


@pytest.mark.parametrize("arch,problem", [
    ({"transform": "spiral"}, "unknown transform 'spiral'"),
    ({"symmetry": 0}, "symmetry must be a whole number"),
    ({"palette": [[0, 0, 0]]}, "palette needs 2..64 colour stops"),
    ({"palette": [[0, 0, 0], [2, 0, 0]]}, "palette colours must be [r, g, b]"),
    ({"palette": [[0, 0, 0], "red"]}, "palette colours must be [r, g, b]"),
])
def test_bad_transforms_and_palettes_are_refused_naming_the_file(tmp_path, arch, problem):
    path = save_style(style_with(), tmp_path / "s.safetensors")
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["livecppn"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["architecture"].update(arch)
    save_file(tensors, str(path), metadata={"livecppn": json.dumps(meta)})
    with pytest.raises(StyleError) as err:
        load_style(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_style_swaps_between_transforms_use_the_right_coordinates():
    a, b = style_with(transform="kaleido", symmetry=6), style_with(transform="polar", symmetry=3)
    gen = Generator(a, 40, 24)
    gen.render(0.5, AUDIO)
    gen.set_style(b)
    fresh = Generator(b, 40, 24)
    assert torch.equal(gen.render(0.5, AUDIO), fresh.render(0.5, AUDIO))
    gen.set_style(a)
    assert torch.equal(gen.render(0.5, AUDIO), Generator(a, 40, 24).render(0.5, AUDIO))


def test_the_library_covers_the_families_and_the_mood_board():
    looks = library()
    assert len(looks) >= 12
    assert {family for family, _ in looks.values()} == set(FAMILIES)
    for family in FAMILIES:
        assert sum(f == family for f, _ in looks.values()) >= 3, family
    # the mood board: neon pink/blue geometric, purple nebula, earth-tone fractal, red/black glitch,
    # pastel watercolour, monochrome
    moods = {"neon": "geometric", "nebula": None, "terra": "fractal", "glitch": None, "pastel": None, "mono": None}
    for name, family in moods.items():
        assert name in looks and (family is None or looks[name][0] == family)
    # every transform is used by some style, and palettes too
    assert {r.transform for r in RECIPES} == set(TRANSFORMS)
    assert any(r.palette for r in RECIPES) and any(not r.palette for r in RECIPES)


def test_every_shipped_style_loads_and_the_bank_tags_its_family():
    bank = load_bank(default_bank_path())
    looks = library()
    assert [p.stem for p in bank.slots.values()][:4] == ["default", "ice", "ember", "moss"]
    assert {p.stem for p in bank.slots.values()} == set(looks)
    for slot, path in bank.slots.items():
        style = load_style(path)
        assert bank.families[slot] == looks[path.stem][0], path
        if path.stem not in ("default", "ice", "ember", "moss"):  # the library's own carry their recipe
            assert style.meta["recipe"]["builder"] == "livecppn.model.library.make_style"
            assert style.meta["family"] == bank.families[slot]
    assert sorted(p.name for p in (presets_dir() / "styles").glob("*.safetensors")) == \
        sorted(f"{n}.safetensors" for n in looks)


@pytest.mark.parametrize("slot,problem", [
    ('{ style = "styles/default.safetensors", family = "jazzy" }', "family = one of"),
    ('{ path = "styles/default.safetensors" }', "expected { style ="),
    ('{ style = 3 }', "expected { style ="),
])
def test_bad_family_tags_name_the_bank_file(tmp_path, slot, problem):
    bad = tmp_path / "banks" / "bad.toml"
    bad.parent.mkdir()
    bad.write_text(f'name = "x"\n[slots]\n1 = {slot}\n')
    bank = load_bank(bad)  # the slot is left out and said; the bank loads
    assert 1 not in bank.slots and len(bank.problems) == 1
    assert bank.problems[0].startswith(f"{bad}:3: slot 1: ") and problem in bank.problems[0]


def test_plain_and_tagged_slots_mix(tmp_path):
    bank_path = tmp_path / "banks" / "mix.toml"
    bank_path.parent.mkdir()
    (tmp_path / "styles").mkdir()
    for name in "ab":  # a presets/-like folder beside the bank's: banks/ and styles/
        (tmp_path / "styles" / f"{name}.safetensors").write_bytes((presets_dir() / "styles" / "ice.safetensors")
                                                                  .read_bytes())
    bank_path.write_text('[slots]\n1 = "styles/a.safetensors"\n2 = { style = "styles/b.safetensors", '
                         'family = "organic" }\n')
    bank = load_bank(bank_path)
    assert bank.slots[2] == tmp_path / "styles" / "b.safetensors"
    assert bank.families == {2: "organic"} and bank.family_slots("organic") == [2]
