#!/usr/bin/env bash
# Set up livecppn on a Debian/Ubuntu machine: system packages, then a virtual
# environment in .venv with the package installed (editable).
#   tools/setup.sh          what `livecppn live` needs
#   tools/setup.sh --test   plus what the tests need (Xvfb, PulseAudio, JACK, pytest)
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1
PYTHON="${PYTHON:-python3}"

# System packages. Runtime: GL (Mesa, EGL) for the window, PortAudio for audio
# I/O (headers: PyAudio builds against them), the ALSA plugins that let
# PortAudio reach PulseAudio/PipeWire (loopback capture), and a compiler.
apt_runtime=(libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libportaudio2 portaudio19-dev
             libasound2-plugins pulseaudio-utils gcc python3-dev python3-venv)
# Tests: a virtual X server (and xdotool to type into its windows), a PulseAudio server (null
# sink), a JACK server (virtual MIDI).
apt_test=(xvfb xauth xdotool pulseaudio jackd2 libjack-jackd2-dev)
packages=("${apt_runtime[@]}")
(( want_test )) && packages+=("${apt_test[@]}")

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    if command -v apt-get >/dev/null; then
        sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo"
        echo "setup: installing system packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: not a Debian/Ubuntu system; install these yourself: ${missing[*]}" >&2
    fi
fi

# Python environment.
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first, pinned: a bare `torch` requirement would pull the newest build
# even where a matching wheel is already available locally.
.venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" "torch==${LIVECPPN_TORCH_VERSION:-2.13.0}"
extras=""
(( want_test )) && extras="[test]"
"${pip[@]}" -e ".${extras}"
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
