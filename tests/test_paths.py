"""Where things are found and written (livecppn/paths.py): the user's folders before the shipped
presets, and nothing ever written into the installed package's folders. platformdirs is pointed at a
temporary home (HOME and the XDG variables), the shipped presets at a read-only copy."""

import os
import shutil
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from livecppn import paths
from livecppn.cli import main
from livecppn.control import mapping_toml
from livecppn.control.registry import default_registry
from livecppn.model.bank import load_bank
from livecppn.show.controls import MappingSaver
from livecppn.show.recorder import default_recording_path
from livecppn.show.triggers import Triggers
from livecppn.showlog import ShowLog

SHIPPED = paths.presets_dir()
REGISTRY = default_registry()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """platformdirs' user folders under tmp_path/home; the shipped presets a read-only copy."""
    home = tmp_path / "home"
    monkeypatch.delenv("LIVECPPN_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_VIDEOS_DIR", str(home / "Videos"))
    presets = tmp_path / "install" / "presets"
    shutil.copytree(SHIPPED, presets)
    monkeypatch.setenv("LIVECPPN_PRESETS", str(presets))
    for p in [presets, *presets.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = snapshot(presets)
    yield SimpleNamespace(home=home, presets=presets)
    assert snapshot(presets) == before, "something was written into the install's presets"
    for p in [presets, *presets.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)  # so tmp_path can be cleaned


def test_platformdirs_user_folders_under_the_home(home):
    data = paths.user_data_dir()
    assert data.is_relative_to(home.home) and data.name == "livecppn"
    assert paths.user_config_dir().is_relative_to(home.home)
    if sys.platform.startswith("linux"):  # platformdirs follows XDG there
        assert data == home.home / ".local" / "share" / "livecppn"
        assert paths.recordings_dir() == home.home / "Videos" / "livecppn"
    assert paths.styles_dirs() == [data / "styles", home.presets / "styles"]
    assert paths.trained_styles_dir() == data / "styles"  # a trained style loads by name at once
    assert default_recording_path().parent == paths.recordings_dir()
    assert not data.exists()  # asking where things are makes no folder


def test_livecppn_home_puts_every_user_folder_under_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECPPN_HOME", str(tmp_path))
    for key, where in paths.describe().items():
        if key not in ("package", "shaders", "presets (shipped)"):
            assert where.startswith(str(tmp_path)), (key, where)


def test_a_user_style_shadows_the_shipped_one_by_name(home):
    mine = paths.user_data_dir() / "styles" / "neon.safetensors"
    assert paths.find_style("neon") == home.presets / "styles" / "neon.safetensors"
    mine.parent.mkdir(parents=True)
    shutil.copy(SHIPPED / "styles" / "ice.safetensors", mine)
    assert paths.find_style("neon") == paths.find_style("neon.safetensors") == mine
    # the shipped bank's slot "styles/neon.safetensors" is the user's too; the others stay shipped
    bank = load_bank(paths.default_bank_path())
    assert bank.resolve("neon") == mine
    assert bank.resolve("tunnel") == home.presets / "styles" / "tunnel.safetensors"
    # a path is taken as given; a name found nowhere names the shipped folder
    shipped = home.presets / "styles" / "neon.safetensors"
    assert paths.find_style(shipped) == shipped
    assert paths.find_style("no-such") == home.presets / "styles" / "no-such.safetensors"


def test_a_user_bank_and_default_style_come_first(home):
    banks = paths.user_data_dir() / "banks"
    banks.mkdir(parents=True)
    (banks / "default.toml").write_text('name = "mine"\n[slots]\n1 = "styles/tunnel.safetensors"\n')
    assert paths.default_bank_path() == banks / "default.toml"
    bank = load_bank(paths.find_bank("default"))
    assert bank.name == "mine" and bank.slots[1] == home.presets / "styles" / "tunnel.safetensors"
    assert paths.default_style_path() == home.presets / "styles" / "default.safetensors"
    mine = paths.user_data_dir() / "styles" / "default.safetensors"
    mine.parent.mkdir()
    shutil.copy(SHIPPED / "styles" / "ice.safetensors", mine)
    assert paths.default_style_path() == mine


def test_a_checkouts_learned_mapping_keeps_loading(home, tmp_path, monkeypatch):
    """A checkout's presets/mappings/learned.toml (where learn_save wrote before) is still found by
    name, until the user's folder has its own."""
    checkout = tmp_path / "checkout" / "presets"
    shutil.copytree(SHIPPED, checkout)
    old = checkout / "mappings" / "learned.toml"
    shutil.copy(checkout / "mappings" / "generic.toml", old)
    monkeypatch.setenv("LIVECPPN_PRESETS", str(checkout))
    assert mapping_toml.resolve("learned") == old
    assert mapping_toml.load(mapping_toml.resolve("learned"), REGISTRY).name == "generic"
    user = paths.user_mappings_dir() / "learned.toml"
    user.parent.mkdir(parents=True)
    user.write_text('name = "mine"\n')
    assert mapping_toml.resolve("learned") == user


@pytest.mark.parametrize("value, name", [(None, "learned"), ("set1", "set1"), ("../../escape.toml", "escape")])
def test_learn_save_writes_only_to_the_user_folder(home, value, name):
    mapping = mapping_toml.load(mapping_toml.resolve("generic"), REGISTRY)
    midi = SimpleNamespace(status=SimpleNamespace(mapping=mapping))  # what the MIDI thread publishes
    saver = MappingSaver(ShowLog())
    triggers = Triggers(REGISTRY, None, None, None, ShowLog(), controls={"midi": midi}, saver=saver)
    triggers.handle([("learn_save", value)], None, None, 0.0)
    saver.stop()
    assert saver.saved == 1
    assert sorted(p.name for p in paths.user_mappings_dir().iterdir()) == [f"{name}.toml"]
    assert mapping_toml.load(mapping_toml.resolve(name), REGISTRY).bindings == mapping.bindings


def test_trained_styles_go_to_the_user_folder_and_never_over_one(home):
    from livecppn.offline.train_cli import default_out

    first = default_out("Neon city at night!")
    assert first == paths.trained_styles_dir() / "neon-city-at-night.safetensors"
    first.parent.mkdir(parents=True)
    first.write_bytes(b"a style")
    assert default_out("neon city at night").name == "neon-city-at-night-2.safetensors"
    assert default_out("???").name == "style.safetensors"


def test_livecppn_paths_prints_where_everything_is(home, capsys):
    assert main(["paths"]) == 0
    out = capsys.readouterr().out
    for label, where in paths.describe().items():
        assert f"{label}:" in out and where in out
    assert str(paths.user_data_dir()) in out and str(home.presets) in out


def test_shipped_resources_from_the_checkout_and_env_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("LIVECPPN_PRESETS", raising=False)
    monkeypatch.delenv("LIVECPPN_SHADERS", raising=False)
    # a checkout (or an editable install) has no livecppn/_data: the top-level folders
    assert not paths.INSTALLED_DATA.exists()
    assert paths.presets_dir() == paths.ROOT / "presets" and paths.shaders_dir() == paths.ROOT / "shaders"
    monkeypatch.setenv("LIVECPPN_SHADERS", str(tmp_path))
    assert paths.shaders_dir() == tmp_path
    assert os.fspath(paths.find_mapping("generic")).endswith(os.path.join("presets", "mappings", "generic.toml"))
