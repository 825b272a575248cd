#!/usr/bin/env bash
# Set up livecppn on a Debian/Ubuntu machine: system packages, then a virtual
# environment in .venv with the package installed (editable).
#   tools/setup.sh          what `livecppn live` needs
#   tools/setup.sh --train  plus the style trainer's packages (open_clip, torchvision)
#   tools/setup.sh --test   plus what the tests need (Xvfb, PulseAudio, JACK, pytest, the trainer's packages,
#                           the rig's outputs, Ableton Link's GPL extra, Ray)
#   tools/setup.sh --cluster  plus Ray, for `train --batch --ray` and `render --ray` (README: Beyond one machine)
#   tools/setup.sh --rig    plus NDI and the virtual camera (ndi-python, pyvirtualcam; README: In a rig)
#   tools/setup.sh --link   plus Ableton Link (LinkPython-extern, GPL; README: In a rig)
# Flags combine (--rig --link). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0 want_train=0 want_rig=0 want_link=0 want_cluster=0
for arg in "$@"; do
    case "$arg" in
        --test) want_test=1 want_train=1 want_rig=1 want_link=1 want_cluster=1 ;;  # the trainer's tests need its packages
        --cluster) want_cluster=1 ;;
        --train) want_train=1 ;;
        --rig) want_rig=1 ;;
        --link) want_link=1 ;;
        *) echo "usage: tools/setup.sh [--train] [--rig] [--link] [--cluster] | --test" >&2; exit 2 ;;
    esac
done
PYTHON="${PYTHON:-python3}"

# System packages. Runtime: GL (Mesa, EGL) for the window, PortAudio for audio
# I/O (headers: PyAudio builds against them), the ALSA plugins that let
# PortAudio reach PulseAudio/PipeWire (loopback capture), and a compiler.
apt_runtime=(libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libportaudio2 portaudio19-dev
             libasound2-plugins pulseaudio-utils gcc python3-dev python3-venv)
# Tests: a virtual X server (and xdotool to type into its windows), a PulseAudio server (null
# sink), a JACK server (virtual MIDI), fluidsynth and a small General MIDI soundfont (the rendered
# tempo set, tools/tempo_set.py), iproute2 (`ip`: the Link tests' private network namespace), and
# Chromium with its driver (the style gallery's browser test, through Selenium; Debian's build plays H.264).
apt_test=(xvfb xauth xdotool pulseaudio jackd2 libjack-jackd2-dev fluidsynth timgm6mb-soundfont iproute2
          chromium chromium-driver)
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
torch_version="${LIVECPPN_TORCH_VERSION:-2.13.0}"
if (( want_train )); then
    # torchvision's wheels are built against the torch on PyPI; next to a local
    # CPU-only build ("2.13.0+cpu", which `==` also matches) it fails to import.
    # `===` matches the version string exactly, so pip takes PyPI's build and a
    # torchvision made for it. That build also runs on machines without CUDA.
    torchvision_version="${LIVECPPN_TORCHVISION_VERSION:-0.28.0}"
    # a venv set up before without the trainer holds the local "+cpu" build: replace it
    if [[ "$(.venv/bin/python -c 'import torch; print(torch.__version__)' 2>/dev/null)" == *+cpu ]]; then
        echo "setup: replacing the CPU-only torch build with PyPI's (the trainer's torchvision needs it)"
        .venv/bin/python -m pip uninstall -q -y torch torchvision
    fi
    .venv/bin/python -c "import torch, torchvision" 2>/dev/null \
        || "${pip[@]}" "torch===${torch_version}" "torchvision==${torchvision_version}"
else
    .venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" "torch==${torch_version}"
fi
extras=()
(( want_train )) && extras+=(train)
(( want_test )) && extras+=(test)
(( want_rig )) && extras+=(rig)
(( want_link )) && extras+=(link)  # GPL: see the README's dependency table
(( want_cluster )) && extras+=(cluster)
spec="."
(( ${#extras[@]} )) && spec=".[$(IFS=,; echo "${extras[*]}")]"
"${pip[@]}" -e "$spec"
if (( want_train )); then
    .venv/bin/python -c "import torch, torchvision, open_clip" \
        || { echo "setup: the trainer's packages (torch, torchvision, open_clip) do not import" >&2; exit 1; }
fi
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
