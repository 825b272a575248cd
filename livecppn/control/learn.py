"""MIDI learn (DESIGN §7): the next CC or note moved binds to the armed parameter or trigger.

`MidiLearn` lives on one thread, the MIDI thread: other threads send it
commands through MidiControl.command, which the MIDI thread applies here in
turn, and read what it holds only through MidiControl's frozen status. So it
needs no lock. Targets and options are checked against the registry it is
given.
"""

from __future__ import annotations

from dataclasses import replace

from .mapping import DEFAULT_STEP, NOTE_PARAM_MODES, RELATIVE_MODES, Binding, Mapping, check_binding
from .registry import Registry

COMMANDS = ("learn", "learn_next", "learn_prev", "learn_cancel")


class MidiLearn:
    """Arms a target (`learn`, or `step` through the registry's learn targets); `offer` binds the
    next CC or note-on to it, replacing that control's old binding. `mapping` is replaced whole on
    each binding (an immutable value, safe to hand to other threads). One thread only."""

    def __init__(self, registry: Registry, mapping: Mapping | None = None):
        self.registry = registry
        self.mapping = (mapping if mapping is not None else Mapping()).check(registry)
        self.learned: tuple[Binding, ...] = ()  # the bindings made here still in the mapping, oldest first
        self._armed: Binding | None = None  # a template: target and options, no source yet

    @property
    def armed(self) -> str | None:
        return self._armed.target if self._armed is not None else None

    @property
    def last(self) -> Binding | None:
        """The newest binding made here."""
        return self.learned[-1] if self.learned else None

    def command(self, name: str, value: object = None, **options) -> str:
        """Apply a learn command (see COMMANDS); returns what to log. ValueError (MappingError) if the
        target or its options are not in the registry: nothing is armed then."""
        if name == "learn_cancel":
            self.cancel()
            return "MIDI learn cancelled"
        if name in ("learn_next", "learn_prev"):
            value = self.step(1 if name == "learn_next" else -1)
        elif name == "learn":
            self.learn(str(value), **options)
        else:
            raise ValueError(f"not a MIDI learn command: {name!r} (expected one of {COMMANDS})")
        return f"MIDI learn: move a control to bind it to {value}"

    def learn(self, name: str, mode: str = "", step: float = DEFAULT_STEP, value: object = None) -> None:
        """Arm `name` (a parameter or trigger in the registry). `mode`: a CC mode for a parameter
        ("" = absolute for a CC, momentary for a note); `value`: a trigger's argument."""
        registry = self.registry
        is_param = name in registry.specs
        if not is_param and name not in registry.trigger_specs:
            raise ValueError(f"MIDI learn: unknown parameter or trigger {name!r} "
                             f"(known: {', '.join([*registry.specs, *registry.trigger_specs])})")
        template = Binding("cc", 0, None, name if is_param else None, None if is_param else name, mode, step,
                           None, value)
        # check the options now, not when the control arrives
        check_binding(replace(template, source="note" if mode in NOTE_PARAM_MODES else "cc"), registry,
                      "MIDI learn")
        self._armed = template

    def step(self, direction: int) -> str:
        """Arm the learn target `direction` (+1 / -1) from the armed one (with none armed: as if the
        last were, so +1 arms the first); returns its name. What the learn keys (L, Shift+L) do."""
        targets = self.registry.learn_targets
        i = targets.index(self.armed) if self.armed in targets else -1
        name = targets[(i + direction) % len(targets)]
        self.learn(name)
        return name

    def cancel(self) -> None:
        self._armed = None

    def offer(self, source: str, channel: int, number: int) -> Binding | None:
        """A CC or note-on arrived (`channel` 1-16). Binds it if armed; returns the new binding."""
        template, self._armed = self._armed, None
        if template is None:
            return None
        mode = template.mode
        if template.param is not None and (mode in NOTE_PARAM_MODES) != (source == "note"):
            mode = ""  # a CC mode offered a note (or the reverse): use that kind's default
        step = template.step if mode in RELATIVE_MODES else DEFAULT_STEP
        binding = replace(template, source=source, number=number, channel=channel, mode=mode, step=step)
        if self.mapping.feedback.default and binding.can_feed_back:  # the mapping's [feedback] default
            binding = replace(binding, feedback=True)
        self.mapping = self.mapping.bind(binding)
        self.learned = tuple(b for b in self.learned if b.key != binding.key) + (binding,)
        return binding
