# Real services the tests run against (DESIGN §9). Source this file, then
# call start_services; stop_services stops only what start_services started.
#   Xvfb + Mesa llvmpipe: OpenGL 4.5 core for glfw windows.
#   PulseAudio with a null sink: play a signal into it, capture its monitor.
# JACK (virtual MIDI ports for mido/rtmidi; there is no ALSA sequencer here) is
# started by the MIDI tests themselves, only for their module: a JACK server
# running beside PortAudio's in-process clients makes PortAudio abort.

_started_pids=()

_free_display() {
    local n=99
    while [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]]; do n=$((n + 1)); done
    echo $n
}

start_xvfb() {
    local n
    n=$(_free_display)
    Xvfb ":$n" -screen 0 1920x1080x24 -nolisten tcp >/tmp/livecppn-xvfb.log 2>&1 &
    _started_pids+=($!)
    for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done
    [[ -e /tmp/.X11-unix/X$n ]] || { echo "services: Xvfb did not start" >&2; cat /tmp/livecppn-xvfb.log >&2; return 1; }
    export DISPLAY=":$n"
    echo "services: Xvfb on $DISPLAY"
}

start_pulseaudio() {
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/livecppn-runtime-$(id -u)}"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    if ! pactl info >/dev/null 2>&1; then
        # --system=false + exit-idle-time=-1: a per-user daemon that stays up (root is allowed with a warning)
        pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 --disallow-exit \
            --log-target=file:/tmp/livecppn-pulse.log || { echo "services: PulseAudio did not start" >&2; return 1; }
        _started_pulse=1
        for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    pactl list short sinks | grep -q livecppn_test ||
        pactl load-module module-null-sink sink_name=livecppn_test rate=48000 sink_properties=device.description=livecppn_test >/dev/null
    pactl set-default-sink livecppn_test
    pactl set-default-source livecppn_test.monitor
    echo "services: PulseAudio with null sink livecppn_test"
}

start_services() {
    start_xvfb && start_pulseaudio
}

stop_services() {
    [[ -n "${_started_pulse:-}" ]] && pulseaudio --kill 2>/dev/null
    for pid in "${_started_pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    return 0
}
