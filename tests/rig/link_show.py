"""A headless livecppn show with --link and a second Link peer in this process: run inside a private network
namespace only (tests/test_link.py starts it with `unshare --net`, `lo` up and multicast routed to `lo`).

The peer sets the session's tempo, the show follows; OSC taps (real UDP to the show's port) and the `bpm`
trigger set the peer's tempo; the peer leaves and the tracker takes over. Prints one JSON line: the measured
figures and what each frame showed around the hand-over.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from private_net import in_private_namespace, interfaces  # tests/rig/, beside this script

QUANTUM = 4
OSC_PORT = 9000  # nothing else lives in the namespace


def osc(address: str, *args) -> None:
    from pythonosc.osc_message_builder import OscMessageBuilder

    msg = OscMessageBuilder(address=address)
    for a in args:
        msg.add_arg(a)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(msg.build().dgram, ("127.0.0.1", OSC_PORT))


def wait(predicate, timeout: float, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Rig:
    def __init__(self, link_module):
        self.peer = link_module.Link(100.0)
        self.frames: list[dict] = []  # one per frame the show published
        self.marks: dict[str, float] = {}  # monotonic seconds of each step
        self.out: dict = {}
        self.started = threading.Event()

    def peer_time(self, mono: float) -> int:
        """Monotonic seconds on the peer's Link clock (microseconds), both clocks read back to back."""
        clock = self.peer.clock()
        m0 = time.monotonic()
        now = clock.micros()
        return round(now + (mono - 0.5 * (m0 + time.monotonic())) * 1e6)

    def on_status(self, status, mono: float) -> None:
        """Render thread: what the show's beat clock says at `mono`, beside the peer's session then."""
        f = status.features
        session = self.peer.captureAppSessionState()
        self.frames.append({
            "mono": mono, "audio_time": f.audio_time, "bpm": f.bpm, "beat_phase": f.beat_phase,
            "bar_phase": f.bar_phase, "beats_per_bar": f.beats_per_bar, "source": f.tempo_source,
            "beat_count": f.beat_count, "peer_phase": session.phaseAtTime(self.peer_time(mono), QUANTUM),
            "peer_bpm": session.tempo(), "controls": status.controls})
        self.started.set()

    def last(self, key):
        return self.frames[-1][key] if self.frames else None

    def play(self) -> None:
        """The peer's part, on its own thread; ends the show (SIGTERM, as Ctrl-C) when done."""
        try:
            self._play()
        except Exception as e:  # noqa: BLE001 - reported in the JSON, the show still ends
            self.out["error"] = repr(e)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    def _play(self) -> None:
        peer, out, marks = self.peer, self.out, self.marks
        assert self.started.wait(120), "the show did not start"
        peer.enabled = True
        out["peers_found"] = wait(lambda: peer.numPeers() >= 1 and self.last("source") == "link", 15)
        assert out["peers_found"], f"no Link peer: peer sees {peer.numPeers()}, show {self.last('source')}"
        time.sleep(3.0)  # the hand-over onto Link's phase is done (two beats)
        # 1. The peer sets the tempo: the show follows within a beat, in phase.
        session = peer.captureAppSessionState()
        marks["tempo_set"] = time.monotonic()
        session.setTempo(130.0, self.peer_time(marks["tempo_set"]))
        peer.commitAppSessionState(session)
        wait(lambda: abs(self.last("bpm") - 130.0) < 0.5, 5)
        followed = [fr["mono"] for fr in self.frames if fr["mono"] > marks["tempo_set"] and abs(fr["bpm"] - 130) < 0.5]
        out["follow_s"] = followed[0] - marks["tempo_set"] if followed else None
        marks["phase_from"] = time.monotonic() + 2.0  # past the first updates of the new tempo
        time.sleep(6.0)
        marks["phase_to"] = time.monotonic()
        # 2. livecppn's tap (OSC over UDP) sets the session's tempo: 150 BPM.
        for _ in range(5):
            osc("/livecppn/trigger/tap")
            time.sleep(0.4)
        out["tapped_peer_bpm_ok"] = wait(lambda: abs(peer.captureAppSessionState().tempo() - 150.0) < 6.0, 3)
        out["peer_bpm_after_tap"] = peer.captureAppSessionState().tempo()
        # 3. The `bpm` trigger sets it exactly.
        osc("/livecppn/trigger/bpm", 96.0)
        wait(lambda: abs(peer.captureAppSessionState().tempo() - 96.0) < 1e-3, 3)
        out["peer_bpm_after_bpm_trigger"] = peer.captureAppSessionState().tempo()
        wait(lambda: abs(self.last("bpm") - 96.0) < 1e-3, 3)
        osc("/livecppn/trigger/tap_clear")  # so the next source is the tracker, with a phase of its own
        time.sleep(3.0)
        # 4. The peer leaves: the tracker takes over without a jump in phase.
        marks["left"] = time.monotonic()
        peer.enabled = False
        time.sleep(5.0)


def main() -> int:
    if not in_private_namespace():
        print(json.dumps({"refused": f"not in a private network namespace: {interfaces()}"}))
        return 3
    import link

    from livecppn.live import run_live
    from livecppn.live_options import LiveOptions

    rig = Rig(link)
    threading.Thread(target=rig.play, daemon=True).start()
    report = run_live(LiveOptions(headless=True, frames=10**7, audio="synthetic", size=(320, 180),
                                  internal=(64, 36), osc_port=OSC_PORT, link=True, on_status=rig.on_status,
                                  report=Path(sys.argv[1]) if len(sys.argv) > 1 else None))
    rig.peer.enabled = False
    print(json.dumps({**rig.out, "marks": rig.marks, "frames": rig.frames, "fps": report["fps"],
                      "controls": report["controls"], "tempo_source_end": report["audio"]["tempo_source"],
                      "warnings": report["warnings"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
