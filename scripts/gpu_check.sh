#!/usr/bin/env bash
# One-command GPU check: build, every CUDA test, the GPU benchmark rows, a summary.
#
#   scripts/gpu_check.sh [OUTDIR]        (OUTDIR defaults to $OUT, else out_gpu_check/ in the checkout)
#
# For a machine with an NVIDIA GPU and no package registry (torch 2.11+cu130, nvcc 13, pybind11 and
# scikit-build-core present): `pip install --no-build-isolation .` with the CUDA kernels required, then
# `pytest -m cuda` with HPEFAST_REQUIRE_CUDA=1 (a CUDA test that cannot run fails instead of skipping),
# then the benchmarks' GPU rows. Tests and benchmarks run from outside the checkout, against the installed
# package. Each step's log goes to OUTDIR/logs/, the summary to OUTDIR/summary.md. A failing step does not
# stop the others; the exit status is 0 when every step passed, 2 when there is no usable CUDA device
# (after building: the build is still checked), 1 otherwise. About 5 minutes on an H100/H200.
#
# Environment: PYTHON (default python), GPU_CHECK_BENCH_TIMEOUT (seconds, default 240).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${OUT:-$repo/out_gpu_check}}"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
py="${PYTHON:-python}"
bench_timeout="${GPU_CHECK_BENCH_TIMEOUT:-240}"
started=$(date +%s)

steps=()  # "name|status|seconds|log"
overall=0

# step NAME LOG CMD...: runs CMD with stdout+stderr into LOG, records the outcome, never exits the script.
step() {
  local name="$1" log="$2"
  shift 2
  local t0 rc=0
  t0=$(date +%s)
  echo "== $name: $*" | tee -a "$out/logs/$log" >&2
  "$@" >>"$out/logs/$log" 2>&1 || rc=$?
  local dt=$(($(date +%s) - t0)) status=ok
  if [ "$rc" -ne 0 ]; then
    status="FAILED (exit $rc)"
    overall=1
  fi
  steps+=("$name|$status|$dt|logs/$log")
  echo "   $status in ${dt}s (logs/$log)" >&2
  return 0
}

skip_step() {
  steps+=("$1|skipped: $2|0|-")
  echo "== $1: skipped: $2" >&2
}

# ---- 1. the machine
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(hostname)"
  echo "cpus: $(nproc)"
  echo "repo: $repo ($(git -C "$repo" rev-parse HEAD 2>/dev/null || echo 'not a git checkout'))"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    || echo "nvidia-smi: not found"
  command -v nvcc >/dev/null && nvcc --version | tail -n 2 || echo "nvcc: not found"
  "$py" -c "import sys, torch; print('python', sys.version.split()[0]); print('torch', torch.__version__, \
'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
} >"$out/logs/env.log" 2>&1 || true
cat "$out/logs/env.log" >&2

# ---- 2. build and install (CUDA kernels required: a missing nvcc fails here, not later)
export HPEFAST_CUDA=ON
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
step "build (pip install --no-build-isolation .)" build.log \
  "$py" -m pip install --no-build-isolation --no-deps --no-index -v "$repo"

# Everything below runs outside the checkout so that `import hpefast` is the installed package.
cd "$out"

# ---- 3. what was built, and is there a GPU?
step "build info" build_info.log "$py" -c "
import json, hpefast
info = hpefast.build_info()
print(json.dumps(info, indent=1))
assert info['cuda'], 'the installed core has no CUDA kernels'
"
gpu_reason=""
if ! "$py" -c "import hpefast, sys; sys.exit(0 if hpefast.cuda_available() else 1)" >>"$out/logs/build_info.log" 2>&1; then
  gpu_reason="$({ "$py" -c "
import torch, hpefast
from hpefast._ext import lib
print(f'no usable CUDA device: torch.cuda.is_available()={torch.cuda.is_available()}, '
      f'CUDA kernels compiled={hpefast.cuda_compiled()}, devices seen by the core={lib().cuda_device_count()}')
" 2>&1 | tail -n 1; } || true)"
  [ -n "$gpu_reason" ] || gpu_reason="no usable CUDA device (hpefast does not import)"
fi

# ---- 4. every CUDA test, required to run; 5. the GPU benchmark rows
if [ -z "$gpu_reason" ]; then
  step "CUDA tests (pytest -m cuda, HPEFAST_REQUIRE_CUDA=1)" cuda_tests.log \
    env HPEFAST_REQUIRE_CUDA=1 timeout 300 "$py" -m pytest "$repo/python_tests" -m cuda -q -rfEs \
    -p no:cacheprovider --junitxml="$out/cuda_tests.xml"
  step "GPU benchmarks (pytest benchmarks -m cuda)" benchmarks.log \
    env HPEFAST_REQUIRE_CUDA=1 timeout "$bench_timeout" "$py" -m pytest "$repo/benchmarks" -m cuda -q \
    -p no:cacheprovider --benchmark-json="$out/benchmarks.json" --benchmark-columns=min,median,mean,rounds \
    --benchmark-sort=fullname --benchmark-max-time=0.5 --benchmark-min-rounds=5
else
  skip_step "CUDA tests" "$gpu_reason"
  skip_step "GPU benchmarks" "$gpu_reason"
fi

# ---- 6. summary
{
  echo "# hpefast GPU check"
  echo
  echo "Elapsed: $(($(date +%s) - started)) s. Logs in $out/logs/."
  echo
  echo '```'
  cat "$out/logs/env.log"
  echo '```'
  echo
  if [ -n "$gpu_reason" ]; then
    echo "**NO GPU: $gpu_reason. CUDA tests and GPU benchmarks were not run.**"
    echo
  fi
  echo "| step | result | seconds | log |"
  echo "|---|---|---|---|"
  for s in "${steps[@]}"; do
    IFS='|' read -r name status secs log <<<"$s"
    echo "| $name | $status | $secs | $log |"
  done
  echo
  for log in cuda_tests benchmarks; do
    if [ -f "$out/logs/$log.log" ]; then
      echo "$log: $(grep -E '(passed|failed|error|skipped|no tests ran)' "$out/logs/$log.log" | tail -n 1)"
    fi
  done
  if [ -f "$out/benchmarks.json" ]; then
    echo
    "$py" - "$out/benchmarks.json" <<'EOF' || echo "(could not read benchmarks.json)"
import json, sys

data = json.load(open(sys.argv[1]))
print("| benchmark | min ms | median ms | rounds |")
print("|---|---|---|---|")
for b in data["benchmarks"]:
    s = b["stats"]
    print(f"| {b['fullname'].split('::', 1)[-1]} | {s['min'] * 1e3:.4g} | {s['median'] * 1e3:.4g} | {s['rounds']} |")
EOF
  fi
} >"$out/summary.md"
cat "$out/summary.md"

if [ -n "$gpu_reason" ]; then
  echo "gpu_check: NO GPU ($gpu_reason); the build was checked, nothing else ran." >&2
  exit 2
fi
exit "$overall"
