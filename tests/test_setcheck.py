"""Checking a set before the show (show/setcheck.py, `livecppn check`), and a show that says what
the check found at start and stays deaf to nothing (issue 18: no silent failures on stage)."""

import dataclasses
import time
from types import SimpleNamespace

import pytest
from pythonosc.udp_client import SimpleUDPClient
from realparts import end_show, free_port, start_show

from livecppn.cli import main
from livecppn.live_options import LiveOptions
from livecppn.show.setcheck import check_set
from livecppn.show.status import BANNER_LINES, hud_lines
from test_show_status import status


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """The user's folders in tmp_path: the check sees the shipped presets only."""
    monkeypatch.setenv("LIVECPPN_HOME", str(tmp_path / "home"))


def bad_set(tmp_path) -> list[str]:
    """A set with one problem of each kind the check must list."""
    (tmp_path / "not-a-folder").write_text("a file where the recordings folder should be")
    mapping = tmp_path / "bad.toml"
    mapping.write_text('[[cc]]\ncc = 7\nparam = "zoom"\n\n[[cc]]\ncc = 8\nparam = "no_such_param"\n')
    return ["--style", str(tmp_path / "missing.safetensors"), "--osc-send", "localhost9001",
            "--osc-allow", "10.0.0.x", "--record", str(tmp_path / "not-a-folder" / "take.mp4"),
            "--midi-map", str(mapping)]


def test_check_passes_a_good_set(capsys, tmp_path):
    (tmp_path / "takes").mkdir()
    assert main(["check", "--record", str(tmp_path / "takes" / "take.mp4"), "--osc-send", "127.0.0.1:9001",
                 "--osc-allow", "192.168.1.0/24", "--osc-allow", "127.0.0.1"]) == 0
    assert "ok: tonight's set loads" in capsys.readouterr().out


def test_check_lists_every_problem_and_fails(capsys, tmp_path):
    assert main(["check", *bad_set(tmp_path)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("--style:") and "missing.safetensors" in line for line in lines), out
    assert any(line.startswith("--osc-send:") and "localhost9001" in line for line in lines), out
    assert any(line.startswith("--osc-allow:") and "10.0.0.x" in line for line in lines), out
    assert any(line.startswith("--record:") and "not-a-folder is not a folder" in line for line in lines), out
    assert any(line.startswith(f"{tmp_path / 'bad.toml'}:7:") and "no_such_param" in line for line in lines), out
    assert "5 problems" in out


def test_a_bad_bank_slot_is_found_before_the_show(tmp_path):
    bank = tmp_path / "gig.toml"
    bank.write_text('name = "gig"\n[slots]\n1 = "styles/ice.safetensors"\n2 = "/nowhere/gone.safetensors"\n')
    problems = check_set(LiveOptions(bank=bank), skip={"mapping", "osc", "record", "extras", "set"})
    assert len(problems) == 1 and problems[0].where == f"{bank}:4" and problems[0].blocking  # file:line of slot 2
    assert "slot 2" in problems[0].message and "/nowhere/gone.safetensors" in problems[0].message


def test_a_missing_midi_port_and_an_existing_take_are_warnings(tmp_path):
    (tmp_path / "take.mp4").write_text("last night's take")
    opts = LiveOptions(midi=["nanoKONTROL"], midi_out=["Launchpad"], record=tmp_path / "take.mp4")
    problems = check_set(opts, skip={"style", "bank", "mapping", "osc", "extras", "set"},
                         midi_ports=lambda: (["Midi Through Port-0", "nanoKONTROL2 MIDI 1"], []))
    assert [(p.where, p.blocking) for p in problems] == [("--midi-out", False), ("--record", False)]
    assert "'Launchpad'" in problems[0].message and "take-2.mp4" in problems[1].message


def test_the_check_runs_each_part_without_opening_anything(tmp_path):
    """A set check opens no socket and no device: the OSC port may be in use by the running show."""
    opts = SimpleNamespace(**{**dataclasses.asdict(LiveOptions()), "osc_port": 70000, "initial": {"zoom": 99.0}})
    problems = check_set(opts, skip={"style", "bank", "mapping", "midi", "record", "extras"})
    assert [(p.where, p.blocking) for p in problems] == [("--osc-port", True), ("--set zoom", False)]


def test_the_hud_shows_start_up_problems_as_a_banner():
    problems = ("--osc-send: OSC target 'localhost9001': expected HOST:PORT", "bank slot 3: no such file",
                "--record: cannot write", "--midi: no port like 'x'")
    lines = hud_lines(status(startup=problems))
    assert lines[0] == "!! 4 problems at start (report: warnings)"
    assert lines[1] == "! " + problems[0][:52] and lines[BANNER_LINES] == "! " + problems[BANNER_LINES - 1]
    assert lines[BANNER_LINES + 1] == "  ... and 1 more"
    after = hud_lines(status(startup=()))  # after the banner's seconds: the newest stays on the warning line
    assert not after[0].startswith("!!") and "! deck B: bad file" in after


def test_a_bad_osc_send_keeps_osc_input_on(tmp_path):
    """The issue's finding: a typo in --osc-send switched off all OSC input. Now the target is dropped,
    the show listens on its port, and the problem is said at start (log, HUD banner, report)."""
    port = free_port()
    proc, report_path = start_show(tmp_path, "--osc-port", str(port), "--osc-send", "localhost9001",
                                   "--osc-allow", "10.0.0.x", "--osc-allow", "127.0.0.1")
    try:
        SimpleUDPClient("127.0.0.1", port).send_message("/livecppn/param/zoom", 2.0)  # listening: start_show waited
        time.sleep(2.5)  # zoom slews to its target
    finally:
        report, log = end_show(proc, report_path)
    assert "OSC off" not in log
    assert report["params"]["zoom"] == pytest.approx(2.0, abs=0.01)
    assert report["controls"]["osc"]["dispatched"] >= 1
    for said in (report["warnings"], report["startup_problems"]):
        assert any("localhost9001" in w and "OSC input stays on" in w for w in said), said
        assert any("10.0.0.x" in w for w in said), said
