"""MIDI learn on its own (no MIDI system): arming and binding, the options checked against the
registry passed in, the learn keys' stepping, and the commands the MIDI thread applies."""

import dataclasses

import pytest

from livecppn.control.learn import MidiLearn
from livecppn.control.mapping import Binding, FeedbackSettings, MappingError
from livecppn.control.mapping_toml import load, resolve
from livecppn.control.registry import PARAMS, TRIGGERS, Registry, TriggerSpec, default_registry

REGISTRY = default_registry()


@pytest.fixture
def slot_trigger():
    """A registry with a trigger that takes a value (as bank slots do), declared for the test."""
    return Registry(PARAMS, TRIGGERS + (TriggerSpec("test_slot", "bank slot number", "Load a slot (test only)."),))


def test_a_channel_binding_wins_over_omni_and_learn_replaces_only_its_own_control():
    # without generic's [feedback] default (learned controls would echo: tests/test_midi_feedback.py)
    learn = MidiLearn(REGISTRY, dataclasses.replace(load(resolve("generic"), REGISTRY), feedback=FeedbackSettings()))
    assert learn.offer("cc", 1, 0) is None  # not armed: nothing happens
    learn.learn("zoom")
    assert learn.armed == "zoom"
    made = learn.offer("cc", 1, 0)
    assert made == Binding("cc", 0, 1, param="zoom") and learn.armed is None and learn.last == made
    assert learn.mapping.find("cc", 1, 0).param == "zoom"  # channel 1: the learned binding
    assert learn.mapping.find("cc", 2, 0).param == "brightness"  # other channels: the generic one
    learn.learn("rotation", mode="twos_complement", step=0.05)
    learn.offer("cc", 1, 0)
    assert learn.mapping.find("cc", 1, 0) == Binding("cc", 0, 1, param="rotation", mode="twos_complement",
                                                     step=0.05)
    assert len(learn.mapping.bindings) == len(load(resolve("generic"), REGISTRY).bindings) + 1
    learn.learn("rotation", mode="twos_complement", step=0.05)
    learn.offer("note", 5, 60)  # a CC mode, offered a note: the note's default instead
    assert learn.mapping.find("note", 5, 60) == Binding("note", 60, 5, param="rotation")
    # what learn made and is still in use, oldest first (the CC's first binding was replaced)
    assert learn.learned == (Binding("cc", 0, 1, param="rotation", mode="twos_complement", step=0.05),
                             Binding("note", 60, 5, param="rotation"))


def test_learn_checks_what_it_is_asked(slot_trigger):
    learn = MidiLearn(slot_trigger)
    with pytest.raises(ValueError, match="unknown parameter or trigger 'zooom'"):
        learn.learn("zooom")
    with pytest.raises(MappingError, match="mode"):
        learn.learn("zoom", mode="spin")
    with pytest.raises(MappingError, match="takes no value"):
        learn.learn("tap", value=3)
    learn.learn("test_slot", value=7)
    assert learn.offer("note", 10, 36).value == 7
    with pytest.raises(ValueError, match="unknown parameter or trigger 'test_slot'"):
        MidiLearn(REGISTRY).learn("test_slot")  # another registry: not there


def test_a_mapping_from_another_registry_is_refused(slot_trigger):
    mapping = MidiLearn(slot_trigger).mapping.bind(Binding("note", 36, None, trigger="test_slot"))
    with pytest.raises(MappingError, match="unknown trigger 'test_slot'"):
        MidiLearn(REGISTRY, mapping)


def test_learn_keys_step_through_the_registry_targets():
    learn, targets = MidiLearn(REGISTRY), REGISTRY.learn_targets
    assert learn.step(1) == targets[0] and learn.armed == targets[0]  # L from nothing: the first
    assert learn.step(1) == targets[1]
    assert learn.step(-1) == targets[0]
    assert learn.step(-1) == targets[-1]  # wraps around
    assert learn.step(1) == targets[0]
    assert "learn" not in targets and "clock" not in targets  # not learnable


def test_commands_arm_step_and_cancel():
    learn, targets = MidiLearn(REGISTRY), REGISTRY.learn_targets
    assert learn.command("learn", "zoom") == "MIDI learn: move a control to bind it to zoom"
    assert learn.armed == "zoom"
    learn.command("learn_next")
    assert learn.armed == targets[targets.index("zoom") + 1]
    learn.command("learn_prev")
    assert learn.armed == "zoom"
    assert learn.command("learn_cancel") == "MIDI learn cancelled" and learn.armed is None
    learn.command("learn", "zoom")
    with pytest.raises(ValueError, match="unknown parameter or trigger 'zooom'"):
        learn.command("learn", "zooom")
    assert learn.armed == "zoom"  # a bad target leaves what was armed
    with pytest.raises(ValueError, match="not a MIDI learn command"):
        learn.command("learn_save")
