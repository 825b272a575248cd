"""MIDI mapping files: the shipped generic layout, the TOML round trip, errors that name the
file and the line, bindings checked against the registry passed in (MIDI learn: test_learn.py)."""

import pytest

from livecppn.control.mapping import Binding, Mapping, MappingError
from livecppn.control.mapping_toml import check_mapping, load, mappings_dir, parse, resolve, save, to_toml
from livecppn.control.registry import PARAMS, TRIGGERS, Registry, TriggerSpec, default_registry

REGISTRY = default_registry()
SPECS, TRIGGER_SPECS = REGISTRY.specs, REGISTRY.trigger_specs


@pytest.fixture
def slot_trigger():
    """A registry with a trigger that takes a value (as bank slots do), declared for the test."""
    return Registry(PARAMS, TRIGGERS + (TriggerSpec("test_slot", "bank slot number", "Load a slot (test only)."),))


def test_generic_mapping_is_the_documented_layout():
    mapping = load(resolve("generic"), REGISTRY)
    assert resolve("generic") == mappings_dir() / "generic.toml" and mapping.name == "generic"
    faders, knobs, pads = range(8), range(16, 24), range(36, 52)
    for b in mapping.bindings:
        assert b.param in SPECS or b.trigger in TRIGGER_SPECS, b  # only what the registry declares
        assert b.number in (pads if b.source == "note" else (*faders, *knobs)), b
        assert b.channel is None  # any channel: pads often send on 10
    assert mapping.find("cc", 1, 0).param == "brightness"
    assert mapping.find("cc", 16, 16).param == "zoom"
    assert mapping.find("note", 10, 36).trigger == "tap"
    assert mapping.find("cc", 1, 5) is None  # unassigned controls are left out


def test_save_and_load_round_trip(tmp_path, slot_trigger):
    mapping = Mapping((
        Binding("cc", 0, None, param="brightness"),
        Binding("cc", 1, 3, param="audio_gain", range=(0.0, 2.0)),
        Binding("cc", 2, None, param="zoom", range=(4.0, 0.5)),  # reversed: a fader upside down
        Binding("cc", 16, None, param="rotation", mode="twos_complement", step=0.005),
        Binding("cc", 17, 16, param="time_speed", mode="binary_offset", step=0.02),
        Binding("cc", 18, None, param="blackout", mode="sign_magnitude", step=1.0),
        Binding("cc", 41, None, trigger="tap"),
        Binding("note", 36, None, trigger="test_slot", value=3),
        Binding("note", 37, 10, trigger="test_slot", value="night"),
        Binding("note", 50, None, param="blackout", mode="momentary"),
        Binding("note", 51, None, param="brightness", mode="toggle", range=(1.0, 0.25)),
    ), name="round trip", description='quotes " and \\ and ünïcode').check(slot_trigger)
    path = save(mapping, tmp_path / "sub" / "round.toml")
    again = load(path, slot_trigger)
    assert again == mapping
    assert to_toml(again) == to_toml(mapping)
    assert [b.line for b in again.bindings if b.source == "cc"][:2] == [6, 10]  # their [[cc]] lines



ERRORS = [  # (file body, line of the error, words in the message)
    ('name = "x"\n\n[[cc]]\ncc = 1\nparam = brightness\n', 5, "not valid TOML"),
    ("[[cc]]\ncc = 1\nparam = 'brigthness'\n", 3, "unknown param 'brigthness'"),
    ("[[note]]\nnote = 36\ntrigger = 'tapp'\n", 3, "unknown trigger 'tapp'"),
    ("[[cc]]\ncc = 200\nparam = 'zoom'\n", 2, "0-127, got 200"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nchannel = 17\n", 4, "channel must be 1-16"),
    ("name = 'x'\nchannel = 0\n", 2, "channel must be 1-16"),
    ("[[cc]]\ncc = 1\nparamm = 'zoom'\n", 3, "unknown key 'paramm'"),
    ("nme = 'x'\n", 1, "unknown key 'nme'"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nmode = 'relative'\n", 4, "mode for a cc → param"),
    ("[[note]]\nnote = 1\nparam = 'zoom'\nmode = 'absolute'\n", 4, "mode for a note → param"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\n\n[[cc]]  # again\ncc = 1\nparam = 'rotation'\n", 5,
     "CC 1 on any channel is already mapped at line 1"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nstep = 0.1\n", 4, "step applies only to relative"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nmode = 'binary_offset'\nstep = 0\n", 5, "step is a fraction"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nrange = [0, 99]\n", 4, "must lie within zoom's"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nrange = 3\n", 4, "range must be [low, high]"),
    ("[[note]]\nnote = 1\ntrigger = 'tap'\nvalue = 3\n", 4, "trigger 'tap' takes no value"),
    ("[[note]]\nnote = 1\ntrigger = 'tap'\nmode = 'toggle'\n", 4, "mode applies to params only"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\ntrigger = 'tap'\n", 2, "exactly one of `param` or `trigger`"),
    ("[[cc]]\nparam = 'zoom'\n", 1, "needs `cc = <0-127>`"),
    ("[[cc]]\ncc = 1\nparam = 'zoom'\nvalue = 2\n", 4, "a param takes its value from the control"),
    ("cc = 5\n", 1, "must be [[cc]] tables"),
    # the third of three entries: the line is its own, not the first one's
    (("[[cc]]\ncc = 1\nparam = 'zoom'\n\n[[note]]\nnote = 2\ntrigger = 'tap'\n\n"
      "[[cc]]\ncc = 3\nparam = 'rotation'\nmode = 'twos_complement'\nstep = 7\n"), 13, "step is a fraction"),
]


@pytest.mark.parametrize("body, line, words", ERRORS, ids=[e[2][:30] for e in ERRORS])
def test_errors_name_the_file_and_the_line(tmp_path, body, line, words):
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    if words == "not valid TOML":  # only a file that cannot be used at all raises
        with pytest.raises(MappingError) as err:
            load(path, REGISTRY)
        message = str(err.value)
    else:  # a bad entry or key is left out and said; the mapping loads
        problems = load(path, REGISTRY).problems
        assert len(problems) == 1, problems
        message = problems[0]
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message, message


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(MappingError, match="nothere.toml"):
        load(tmp_path / "nothere.toml", REGISTRY)


def test_bindings_are_checked_against_the_registry_passed_in(slot_trigger):
    mapping = Mapping((Binding("note", 36, None, trigger="test_slot", value=3),))  # no registry: not checked
    assert mapping.check(slot_trigger) is mapping
    with pytest.raises(MappingError, match="unknown trigger 'test_slot'"):
        mapping.check(REGISTRY)
    left = parse("[[note]]\nnote = 36\ntrigger = 'test_slot'\n", REGISTRY, "bad.toml")
    assert left.bindings == () and left.problems[0].startswith("bad.toml:3: unknown trigger 'test_slot'")


def test_one_bad_entry_is_left_out_and_the_rest_works(tmp_path):
    """A typo in one entry costs that entry, not the mapping; the problem names FILE:LINE."""
    path = tmp_path / "mine.toml"
    path.write_text("name = 'mine'\ncolour = 'red'\n\n[[cc]]\ncc = 0\nparam = 'brightness'\n\n"
                    "[[cc]]\ncc = 1\nparam = 'brigthness'\n\n[[note]]\nnote = 36\ntrigger = 'tap'\n",
                    encoding="utf-8")
    mapping = load(path, REGISTRY)
    assert mapping.name == "mine"
    assert mapping.find("cc", 1, 0).param == "brightness" and mapping.find("note", 1, 36).trigger == "tap"
    assert mapping.find("cc", 1, 1) is None
    assert [p.split(": ")[0] for p in mapping.problems] == [f"{path}:2", f"{path}:10"]
    assert "unknown param 'brigthness'" in mapping.problems[1]
    assert check_mapping(path, REGISTRY) == list(mapping.problems)
    assert check_mapping(resolve("generic"), REGISTRY) == []
    assert check_mapping(tmp_path / "gone.toml", REGISTRY)[0].startswith(f"{tmp_path / 'gone.toml'}: cannot read")
