#!/usr/bin/env bash
# The GPU check: one call on a CUDA machine proves the GPU paths and measures them against issue 19's
# targets. Each step runs under its own time limit (killed and reported when over; the next step runs);
# everything lands in $OUT: summary.md (readable alone), bench_render.json, bench_glsl.json,
# bench_train.json, tests.xml and log.txt.
#   tools/gpu_check.sh            on the GPU machine (after tools/gpu_prepare.sh here, .whl and .gl carried),
#                                 or on any CUDA machine set up with tools/setup.sh --test
#   tools/gpu_check.sh --dry-run  the same steps on the CPU at tiny sizes (no wheels, no debs): proves the
#                                 script before device time is spent
# OUT defaults to out/gpu_check (a temporary folder with --dry-run). PYTHON defaults to python3 (.venv's
# python where the tree has one). The steps' limits add up to under 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DRY=0
case "${1:-}" in
    --dry-run) DRY=1 ;;
    "") ;;
    *) echo "usage: tools/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac
if [[ -z ${OUT:-} ]]; then
    if (( DRY )); then OUT=$(mktemp -d /tmp/gpu_check.XXXXXX); else OUT=$ROOT/out/gpu_check; fi
fi
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gpu_check_work.XXXXXX)
STEPS=$WORK/steps.tsv
LOG=$OUT/log.txt
: >"$STEPS"
: >"$LOG"
export PYTHONUNBUFFERED=1
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

log() { echo "gpu_check: $*" | tee -a "$LOG"; }

# step NAME LIMIT_S COMMAND...: runs COMMAND under `timeout`, its output into log.txt; records
# name, result, seconds, exit status in steps.tsv for the summary. GPU_CHECK_LIMITS="NAME=S ..."
# overrides a step's limit (a slower GPU; the test that proves an overrun is killed and reported).
step() {
    local name=$1 limit=$2 over
    shift 2
    for over in ${GPU_CHECK_LIMITS:-}; do [[ ${over%%=*} == "$name" ]] && limit=${over#*=}; done
    log "--- $name (limit ${limit}s): $*"
    local t0=$SECONDS rc first last
    first=$(wc -l <"$LOG")
    timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    local result=pass
    if (( rc == 124 || rc == 137 )); then result="killed"; elif (( rc != 0 )); then result=fail; fi
    # the step's last line of output says why it failed (for the summary)
    last=$(tail -n +"$((first + 1))" "$LOG" | grep -v '^[[:space:]]*$' | tail -n 1 | tr '\t|' '  ' | cut -c1-200)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$result" "$((SECONDS - t0))" "$rc" "$limit" "$last" >>"$STEPS"
    log "--- $name: $result in $((SECONDS - t0)) s (exit $rc)"
}

# --- set-up: the carried wheels and GL loaders (only where they are, and only what is missing) ------
if (( ! DRY )); then
    if compgen -G ".whl/*.whl" >/dev/null; then
        step install-wheels 40 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
    fi
    # The glvnd loaders: unpacked into / only on a machine that lacks one of them (a bare image, as root;
    # a set-up machine has its own and is left alone).
    lacking=$(for lib in libEGL.so.1 libGL.so.1 libOpenGL.so.0; do
        ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*${lib//./\\.} " || echo "$lib"; done | tr '\n' ' ')
    if compgen -G ".gl/*.deb" >/dev/null && [[ -n $lacking ]]; then
        log "unpacking the GL loaders from .gl/ (this machine lacks: $lacking)"
        for f in .gl/*.deb; do dpkg -x "$f" / >>"$LOG" 2>&1 || log "dpkg -x $f failed"; done
        ldconfig
    fi
    nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    [[ -f $nvidia_egl ]] && export __EGL_VENDOR_LIBRARY_FILENAMES=$nvidia_egl
    unset DISPLAY  # no X: GL through EGL on the NVIDIA driver
fi
export PYTHONPATH=${PYTHONPATH:-$ROOT}
[[ :$PYTHONPATH: == *":$ROOT:"* ]] || export PYTHONPATH=$PYTHONPATH:$ROOT

# --- the steps ---------------------------------------------------------------------------------------
if (( DRY )); then
    step nvidia-smi 15 bash -c 'command -v nvidia-smi >/dev/null && nvidia-smi || echo "no nvidia-smi (dry run)"'
else
    step nvidia-smi 15 nvidia-smi
fi

# The CUDA tests: the `cuda` marker (tests/conftest.py) over the files of the GPU paths.
tests=()
for f in tests/test_backends.py tests/test_render_gl.py tests/test_cppn.py tests/test_fused.py tests/test_interop.py; do
    [[ -f $f ]] && tests+=("$f")
done
step cuda-tests 120 "$PYTHON" -m pytest -m cuda -rA -p no:cacheprovider -o addopts= \
    --junitxml="$OUT/tests.xml" "${tests[@]}"

if (( DRY )); then
    # the fused kernel's row too, under Triton's interpreter (slow: about 1 s a frame at 32x18)
    step bench-render 120 env TRITON_INTERPRET=1 "$PYTHON" tools/bench_render.py --device cpu --sizes 32x18 \
        --frames 3 --out "$OUT/bench_render.json"
    step bench-glsl 45 "$PYTHON" tools/bench_glsl.py --sizes 32x18 --backends cpu,glsl --frames 3 \
        --min-frames 2 --seconds 1 --egl --out "$OUT/bench_glsl.json"
    step bench-train 60 "$PYTHON" tools/bench_train.py --pyramid 32,64 --steps 1 --warmup 1 --iterations 20 \
        --states 2 --augs 2 --json "$OUT/bench_train.json"
else
    step bench-render 150 "$PYTHON" tools/bench_render.py --device cuda --frames 100 --out "$OUT/bench_render.json"
    step bench-glsl 50 "$PYTHON" tools/bench_glsl.py --sizes 640x360,1920x1080,3840x2160 --backends glsl,cuda \
        --frames 100 --seconds 3 --egl --out "$OUT/bench_glsl.json"
    step bench-train 90 "$PYTHON" tools/bench_train.py --clip-model RN50 --clip-pretrained none --device cuda \
        --steps 5 --warmup 2 --json "$OUT/bench_train.json"
fi

"$PYTHON" tools/gpu_summary.py --steps "$STEPS" --out "$OUT" $( ((DRY)) && echo --dry-run ) 2>>"$LOG"
rc=$?
failed=$(awk -F'\t' '$2 != "pass" {print $1}' "$STEPS" | tr '\n' ' ')
rm -rf "$WORK"
if (( rc != 0 )); then
    log "the summary could not be written (exit $rc): see $LOG"
    exit 1
fi
cat "$OUT/summary.md"
log "summary: $OUT/summary.md"
if [[ -n $failed ]]; then
    log "not passed: $failed(see the summary)"
    exit 1
fi
