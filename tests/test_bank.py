"""Banks (model/bank.py): slot paths as the README gives them, from a bank saved anywhere; one bad slot
left out, not the bank, with FILE:LINE and the path it tried; styles by file name, then by their own
(metadata) name; check_bank loading every slot in full; and the show saying a bank's and a mapping's
problems where the performer looks (the report's warnings)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livecppn.model.bank import BankError, check_bank, load_bank
from livecppn.model.style import load_style
from livecppn.paths import presets_dir

REPO = Path(__file__).resolve().parent.parent
SHIPPED = presets_dir() / "styles"


def copy_style(name: str, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes((SHIPPED / f"{name}.safetensors").read_bytes())
    return to


def test_a_bank_outside_the_repository_loads_its_slots(tmp_path):
    """Beside the bank, as the README shows (`styles/…` through the presets), by bare name, absolute."""
    gig = tmp_path / "gig"
    mine = copy_style("ember", gig / "mine.safetensors")
    bank_path = gig / "set.toml"
    bank_path.write_text(f'name = "gig"\n[slots]\n1 = "mine.safetensors"\n2 = "styles/ice.safetensors"\n'
                         f'3 = "moss"\n4 = "{mine}"\n')
    bank = load_bank(bank_path)
    assert bank.problems == ()
    assert bank.slots == {1: mine, 2: SHIPPED / "ice.safetensors", 3: SHIPPED / "moss.safetensors", 4: mine}
    assert bank.lines == {1: 3, 2: 4, 3: 5, 4: 6}
    assert check_bank(bank_path) == []


def test_one_bad_slot_is_left_out_and_named_with_its_line_and_paths(tmp_path):
    bank_path = tmp_path / "bad1.toml"
    bank_path.write_text('name = "b"\ncolour = "red"\n\n[slots]\n1 = "styles/ice.safetensors"\n'
                         '2 = "styles/nothere.safetensors"\n3 = { style = "styles/moss.safetensors", hue = 3 }\n'
                         '4 = { style = "styles/ember.safetensors", family = "organic" }\n')
    bank = load_bank(bank_path)
    assert sorted(bank.slots) == [1, 4] and bank.families == {4: "organic"}
    colour, missing, extra = bank.problems
    assert colour.startswith(f"{bank_path}:2: unknown key 'colour'")
    assert missing.startswith(f"{bank_path}:6: slot 2: style file 'styles/nothere.safetensors' not found")
    assert str(tmp_path / "styles" / "nothere.safetensors") in missing  # the resolved paths it tried
    assert str(SHIPPED / "nothere.safetensors") in missing
    assert extra.startswith(f"{bank_path}:7: slot 3: ") and "hue" in extra
    with pytest.raises(BankError, match=r"slot 2 is off .*bad1\.toml:6"):
        bank.resolve(2)  # a pad on the bad slot says why, not "no slot"
    assert check_bank(bank_path) == list(bank.problems)


def test_a_bank_that_is_not_toml_names_the_file_and_line(tmp_path):
    bank_path = tmp_path / "syntax.toml"
    bank_path.write_text('name = "x"\n[slots]\n1 = "a.safetensors"\n2 = \n')
    with pytest.raises(BankError, match=rf"^{bank_path}:4: bank file is not valid TOML"):
        load_bank(bank_path)
    assert check_bank(bank_path)[0].startswith(f"{bank_path}:4: ")
    assert check_bank(tmp_path / "gone.toml")[0].startswith(f"bank file {tmp_path / 'gone.toml'}: cannot read")


def test_styles_resolve_by_file_name_then_by_their_own_name(tmp_path):
    bank_path = tmp_path / "names.toml"
    copy_style("ember", tmp_path / "ice.safetensors")  # file name ice, its own name ember
    copy_style("ice", tmp_path / "cold.safetensors")  # file name cold, its own name ice
    bank_path.write_text('[slots]\n1 = "ice.safetensors"\n2 = "cold.safetensors"\n')
    bank = load_bank(bank_path)
    assert bank.names == {1: "ember", 2: "ice"}
    assert bank.resolve("ice") == tmp_path / "ice.safetensors"  # the file name first
    assert bank.resolve("Ember") == tmp_path / "ice.safetensors"  # then the style's own name
    assert bank.resolve("cold") == tmp_path / "cold.safetensors"
    assert load_style(bank.resolve("ember")).name == "ember"


def test_a_file_that_is_not_a_style_is_left_out_and_a_broken_one_is_found_by_the_check(tmp_path):
    bank_path = tmp_path / "broken.toml"
    (tmp_path / "notes.safetensors").write_text("not a style")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((SHIPPED / "ice.safetensors").read_bytes()[:-200])  # header fine, tensors cut short
    bank_path.write_text('[slots]\n1 = "notes.safetensors"\n2 = "broken.safetensors"\n3 = "styles/moss.safetensors"\n')
    bank = load_bank(bank_path)
    assert sorted(bank.slots) == [2, 3]  # the header is read at load; the tensors only by a load or the check
    assert bank.problems[0].startswith(f"{bank_path}:2: slot 1: style file {tmp_path / 'notes.safetensors'}")
    problems = check_bank(bank_path)
    assert len(problems) == 2 and problems[1].startswith(f"{bank_path}:3: slot 2: style file {broken}")


def test_a_headless_show_says_bank_and_mapping_problems(tmp_path):
    """--midi-map without --midi is still checked; a bad bank slot is said and the rest of the bank plays."""
    bad_map = tmp_path / "BAD.toml"
    bad_map.write_text("[[cc]]\ncc = 0\nparam = 'brightness'\n\n[[cc]]\ncc = 1\nparam = 'brigthness'\n")
    bank_path = tmp_path / "bank.toml"
    bank_path.write_text('[slots]\n1 = "styles/default.safetensors"\n2 = "styles/typo.safetensors"\n')
    report = tmp_path / "r.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "livecppn", "live", "--headless", "--frames", "3", "--no-osc",
                          "--audio", "synthetic", "--size", "160x90", "--internal", "32x18", "--report", str(report),
                          "--midi-map", str(bad_map), "--bank", str(bank_path)],
                         env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    warnings = json.loads(report.read_text())["warnings"]
    assert any(w.startswith(f"{bad_map}:7: unknown param 'brigthness'") for w in warnings), warnings
    assert any("--midi-map" in w and "--midi PORT" in w for w in warnings), warnings
    assert any(w.startswith(f"{bank_path}:3: slot 2: style file 'styles/typo.safetensors' not found")
               for w in warnings), warnings
