"""The parameter bus: one queue, clamped targets, slew defined in seconds."""

import math
import threading

from livecppn.control.params import ParamBus
from livecppn.control.registry import default_registry

REGISTRY, SPECS = default_registry().params, default_registry().specs


def test_defaults_and_snapshot_is_immutable():
    params = ParamBus().snapshot()
    for spec in REGISTRY:
        assert getattr(params, spec.name) == spec.default
    try:
        params.values["brightness"] = 5
    except TypeError:
        pass
    else:
        raise AssertionError("snapshot values must be read-only")


def test_slew_is_frame_rate_independent():
    # a quarter second of 40 fps frames and of 144 fps frames reach the same value
    results = []
    for fps in (40, 144):
        bus = ParamBus()
        bus.set("time_speed", 3.0)
        for _ in range(fps // 4):  # 0.25 s: one smoothing time constant
            p = bus.step(1.0 / fps)
        results.append(p.time_speed)
    expected = 1.0 + (3.0 - 1.0) * (1 - math.exp(-1.0))
    for r in results:
        assert abs(r - expected) < 0.02, results


def test_values_are_clamped_to_their_range():
    bus = ParamBus()
    bus.set("brightness", 99)
    bus.set("audio_gain", -5)
    p = bus.step(100.0)
    assert p.brightness == SPECS["brightness"].maximum
    assert p.audio_gain == SPECS["audio_gain"].minimum


def test_garbage_is_ignored_and_reported():
    bus = ParamBus()
    bus.set("nonsense", 1.0)
    bus.set("brightness", "loud")
    bus.set("blackout", float("nan"))
    p = bus.step(1 / 60)
    assert p.brightness == 1.0 and p.blackout == 0.0
    assert len(bus.rejected) == 3
    assert any("nonsense" in m for m in bus.rejected)


def test_set_from_other_threads_lands_on_the_next_step():
    bus = ParamBus()
    threads = [threading.Thread(target=bus.set, args=("blackout", 1.0)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.step(10.0).blackout > 0.99


def test_triggers_arrive_once_in_order_and_unknown_ones_are_rejected():
    bus = ParamBus()
    bus.trigger("tap")
    bus.set("brightness", 0.5)
    bus.trigger("tap_clear", 3)
    bus.trigger("explode")
    bus.step(1 / 60)
    assert bus.take_triggers() == [("tap", None), ("tap_clear", 3)]
    assert bus.take_triggers() == []
    assert any("explode" in m for m in bus.rejected)


def test_zoom_and_rotation_are_declared_with_their_units():
    assert SPECS["zoom"].default == 1.0 and SPECS["zoom"].minimum > 0
    assert SPECS["rotation"].unit == "°"
