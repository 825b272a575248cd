"""The registry (DESIGN §3, §7): what derives from the declarations — learn targets, the replay set,
what counts as playing, key help, mode decoding — and a registry passed in, not patched in."""

import pytest

from livecppn.control.params import ParamBus
from livecppn.control.registry import PARAMS, TRIGGERS, ParamSpec, Registry, TriggerSpec, default_registry
from livecppn.media.automation import replay
from livecppn.render.window import key_actions
from livecppn.show.triggers import Triggers

REG = default_registry()


def test_learn_targets_are_every_parameter_then_every_learnable_trigger():
    assert REG.learn_targets[:len(PARAMS)] == [s.name for s in PARAMS]
    triggers = REG.learn_targets[len(PARAMS):]
    assert triggers == ["tap", "tap_clear", "go", "deck_a", "deck_b", "load", "link", "record",
                        "ndi", "vcam", "syphon", "spout"]
    assert all(REG.trigger_specs[t].learnable and not REG.trigger_specs[t].key_only for t in triggers)


def test_a_render_replays_what_changes_the_picture_and_nothing_else():
    assert REG.not_replayed == {t.name for t in TRIGGERS if not t.replayed}
    assert {"deck_a", "deck_b", "load", "learn", "learn_save", "clock", "clock_stop", "record"} <= REG.not_replayed
    assert {"go", "tap", "tap_clear"}.isdisjoint(REG.not_replayed)
    bus = ParamBus(REG)
    replay([{"kind": "trigger", "name": name, "value": None} for name in ("go", "record", "learn_save", "tap")]
           + [{"kind": "set", "name": "hue", "value": 0.25}], bus, loader=None)
    bus.step(0.0)
    assert [name for name, _ in bus.take_triggers()] == ["go", "tap"] and bus.changed == {"hue"}


def test_what_counts_as_a_person_playing():
    params, triggers = REG.automatic
    assert params == {"autopilot", "autopilot_idle", "autopilot_bars", "beat_lookahead", "meter"}  # setup, not look
    assert {"clock", "clock_stop", "record"} <= triggers
    assert REG.is_manual({"brightness"}, []) and REG.is_manual(set(), [("go", None)])
    assert not REG.is_manual({"autopilot_bars"}, [("clock", (120.0, 0.0, 0))])


def test_key_help_lists_every_key_and_the_window_knows_them_all():
    helped = {key for keys, _ in REG.key_help() for key in keys.split(", ")}
    assert helped == {"T", "Shift+T", "L", "Shift+L", "Backspace", "S", "R", "F", "H", "Shift+H", "Esc", "Q"}
    assert set(key_actions(REG.keys).values()) == {t.name for t in TRIGGERS if t.keys}
    # only keys fire the window's own actions; controllers cannot
    assert {t.name for t in REG.controller_triggers}.isdisjoint({"fullscreen", "hud", "quit", "learn_next"})


def test_every_trigger_has_one_handler_in_the_show():
    triggers = Triggers(REG, analyzer=None, crossfade=None, loader=None, showlog=None)
    # what the show itself answers (show/show.py: LiveShow._show_handlers, the output taps' handlers);
    # any other gap is a bug
    assert triggers.unhandled() == {"record", "ndi", "vcam", "syphon", "spout", "fullscreen", "hud", "hud_page",
                                    "quit"}


def test_modes_are_decoded_in_one_place():
    bus = ParamBus(REG)
    bus.set("transition", 2.4)
    bus.set("flash_sync", 1)
    p = bus.step(0.0)
    assert p.mode("transition") == 2 and p.choice("transition") == "luma wipe"
    assert p.choice("flash_sync") == "beats" and p.choice("go_quantize") == "beat"
    assert all(len(s.choices) == s.maximum - s.minimum + 1 for s in PARAMS if s.unit == "mode")
    with pytest.raises(ValueError, match="not a mode"):
        p.mode("zoom")


def test_a_registry_is_passed_in_not_patched_in():
    extra = TriggerSpec("strobe_now", "", "A test trigger.")
    reg = Registry(PARAMS + (ParamSpec("warp", 0.0, 1.0, 0.5, "", 0.0, "A test parameter."),), TRIGGERS + (extra,))
    bus = ParamBus(reg)
    bus.set("warp", 0.9)
    bus.trigger("strobe_now")
    bus.trigger("fullscreen")  # key-only: a controller cannot fire it
    p = bus.step(0.0)
    assert p.warp == 0.9 and bus.take_triggers() == [("strobe_now", None)]
    assert bus.rejected == ["ignored unknown trigger 'fullscreen'"]
    assert "strobe_now" not in {t.name for t in default_registry().triggers}  # the shipped one is untouched


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="declared twice: zoom"):
        Registry(PARAMS + (PARAMS[8],), TRIGGERS)
    with pytest.raises(ValueError, match="one choice per value"):
        Registry((ParamSpec("m", 0.0, 2.0, 0.0, "mode", 0.0, "A mode without names."),), ())


def test_changed_from_defaults():
    bus = ParamBus(REG)
    bus.set("kaleido", 4)
    bus.set("zoom", 1.0000001)  # not a change anyone would see
    p = bus.step(100.0)
    assert [(s.name, v) for s, v in REG.changed_from_defaults(p.values)] == [("kaleido", 4.0)]
