#!/usr/bin/env bash
# Prepare a copy of this tree for a bare CUDA machine with no package registry (tools/gpu_check.sh runs
# there): its Python (3.12, with torch, triton, numpy, Pillow, scikit-image, open_clip's big deps) lacks
# the packages below, so they travel as wheels in .whl/; the EGL/GL loader libraries travel as .debs in
# .gl/ (the NVIDIA driver brings its own GL, not the glvnd loaders). Both folders are git-ignored.
#   tools/gpu_prepare.sh               download what is missing, then print the size of the tree that travels
#   tools/gpu_prepare.sh --with-aubio  also aubio-ledfx (27 MB): the real live loop (bench_render.py --live,
#                                      the headless cuda show test) needs its onset detection
# Not carried: PyAudio, aubio-ledfx (27 MB; unless --with-aubio) and av (35 MB): rendering, the benchmarks and the GPU tests
# import without them (tests/test_lazy_imports.py), and with them the tree would not fit.
# Fails if the tree that would travel (tracked + untracked-not-ignored + .whl + .gl) is over LIMIT_MIB.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=3.12
LIMIT_MIB=${LIMIT_MIB:-60}
# name==version: one version of each (two stop the install there). The versions the dev setup tests.
WHEELS=(
    moderngl==5.13.0 glcontext==3.1.0 glfw==2.11.0     # GL (the compositor, HUD, the glsl backend)
    python-osc==1.10.2 mido==1.3.3 python-rtmidi==1.5.8 # imported by the live path's control layer
    platformdirs==4.14.9                                # livecppn.paths
    open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.5   # the trainer's CLIP (tools/bench_train.py)
)
case "${1:-}" in
    --with-aubio) WHEELS+=(aubio-ledfx==0.4.12) ;;
    "") ;;
    *) echo "usage: tools/gpu_prepare.sh [--with-aubio]" >&2; exit 2 ;;
esac
DEBS=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
    for p in .venv/bin/python python3; do
        if command -v "$p" >/dev/null && "$p" -m pip --version >/dev/null 2>&1; then PYTHON=$p; break; fi
    done
fi
[[ -n $PYTHON ]] || { echo "gpu_prepare: no python with pip found (set PYTHON=...)" >&2; exit 1; }

mkdir -p .whl .gl
for spec in "${WHEELS[@]}"; do
    # wheel names are normalised (open_clip_torch, python_osc); skip one already there
    norm=$(echo "${spec%%==*}" | tr 'A-Z-' 'a-z_')
    ls .whl | tr 'A-Z-' 'a-z_' | grep -q "^${norm}_${spec##*==}_" && continue
    echo "gpu_prepare: downloading $spec (Python $PY_VERSION, manylinux x86_64)"
    platforms=()
    for n in 1 2014 2_17 2_24 2_27 2_28 2_31 2_34 2_35; do
        case $n in 1|2014) platforms+=(--platform "manylinux${n}_x86_64") ;; *) platforms+=(--platform "manylinux_${n}_x86_64") ;; esac
    done
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version "$PY_VERSION" --implementation cp "${platforms[@]}" -d .whl "$spec"
done
# one version of each: an older download of a package beside the pinned one stops the install there
dupes=$(ls .whl | sed -E 's/-[0-9][^-]*-.*//' | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[[ -z $dupes ]] || { echo "gpu_prepare: more than one wheel of: $dupes (remove the old ones from .whl/)" >&2; exit 1; }

missing_debs=()
for d in "${DEBS[@]}"; do compgen -G ".gl/${d}_*.deb" >/dev/null || missing_debs+=("$d"); done
if (( ${#missing_debs[@]} )); then
    echo "gpu_prepare: downloading ${missing_debs[*]} (amd64 .debs)"
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/gpu_prepare_amd64)
    mkdir -p /tmp/gpu_prepare_amd64/partial
    apt-get "${o[@]}" update -qq >/dev/null
    (cd .gl && apt-get "${o[@]}" download "${missing_debs[@]}" >/dev/null)
fi

# What travels: tracked files, untracked files git does not ignore, and the two carried folders.
bytes() { xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
tracked=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | bytes)
whl=$(find .whl -type f -print0 | bytes)
gl=$(find .gl -type f -print0 | bytes)
total=$((tracked + whl + gl))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "gpu_prepare: tree $(mib "$tracked") + .whl $(mib "$whl") ($(ls .whl | wc -l) wheels) + .gl $(mib "$gl") ($(ls .gl | wc -l) debs) = $(mib "$total") travels (limit ${LIMIT_MIB} MiB)"
if (( total > LIMIT_MIB * 1048576 )); then
    echo "gpu_prepare: too big to travel: $(mib "$total") > ${LIMIT_MIB} MiB; remove large untracked files or wheels" >&2
    exit 1
fi
echo "gpu_prepare: ready. On the CUDA machine, with .whl and .gl carried: tools/gpu_check.sh"
