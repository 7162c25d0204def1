#!/usr/bin/env bash
# GPU evidence on a lent GPU machine, in steps that each fit well inside one device call (600 s at most) and each
# write their JSON to $OUT as soon as they finish, so a short lease still brings back the most important evidence.
# The image has CuPy 14 for CUDA 13, numpy, scikit-learn, pytest, hypothesis and Python 3.12; what it lacks
# (zarr, numcodecs, segyio, typer, rich, treelite, ugtm, ... and nvForest's CUDA 13 wheels) travels as wheels in
# .whl/ and is installed into $FACIES_SITE, which stays while the machine is warm.
#
# Not yet run: written in sessions without a GPU. Expect to adjust it on first use.
#
# Usage on the device machine, from the repository root:
#   FACIES_SITE=/tmp/site bash bench/gpu_check.sh STEP [STEP ...]
# Steps, in the order of their value (run `setup parity` first; `all` runs every step in this order):
#   setup      install the carried wheels, check the imports, write gpu_device.json
#   parity     pytest -m gpu: every CUDA path against NumPy (the evidence that matters most)
#   bench      facies bench --device gpu: every stage's throughput and the survey projection, one JSON
#   kuwahara   bench_kuwahara.py (CPU shape + GPU shape)
#   gtm        bench_gtm_project.py (the fused projection kernel, K = 400, D = 4 and 9)
#   selection  bench_selection.py on the GPU at N = 9 attributes only (N = 12, 14: their own calls, GPU_ATTRIBUTES)
#   forest     bench_forest.py with 20 M GPU rows
#   bricks     bench_bricks.py on a 1 GB survey
#   attributes bench_attributes_texture.py (the fused GLCM kernel against CuPy array code) and facies attributes --all
#   survey     bench_survey.py at 2 GB on the GPU: fused apply against the staged commands
# Each step runs under `timeout ${STEP_SECONDS:-500}` and writes $OUT/step_<name>.json (status, seconds, log tail).
set -uo pipefail
site=${FACIES_SITE:-/tmp/site}
out=${OUT:-bench/out}
limit=${STEP_SECONDS:-500}
mkdir -p "$site" "$out"
export PYTHONPATH="$site:$PWD/.gpu_src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# The package's folders map to facies.engine, facies.kernels and facies.cli: expose them under one namespace.
mkdir -p .gpu_src/facies
for pkg in engine kernels cli; do ln -sfn "$PWD/$pkg" ".gpu_src/facies/$pkg"; done

step_setup() {
  if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
  fi
  python3 - <<'PY' | tee "$out/gpu_device.json"
import importlib, json
import cupy
props = cupy.cuda.runtime.getDeviceProperties(0)
free, total = cupy.cuda.runtime.memGetInfo()
versions = {}
for name in ("numpy", "cupy", "zarr", "scipy", "sklearn", "pytest", "hypothesis", "treelite", "nvforest", "ugtm"):
    try:
        versions[name] = getattr(importlib.import_module(name), "__version__", "?")
    except Exception as exc:  # noqa: BLE001 - report what is missing
        versions[name] = f"missing ({type(exc).__name__})"
print(json.dumps({"name": props["name"].decode(), "cc": f"{props['major']}.{props['minor']}",
                  "driver": cupy.cuda.runtime.driverGetVersion(), "runtime": cupy.cuda.runtime.runtimeGetVersion(),
                  "total_bytes": total, "free_bytes": free, "versions": versions}))
PY
  python3 -c "import pytest, zarr, facies.engine" || { echo "error: pytest, zarr or facies does not import"; return 1; }
}
step_parity() { python3 -m pytest -q -m gpu -p no:cacheprovider tests --junitxml="$out/pytest_gpu.xml"; }
step_bench() {
  python3 -m facies.cli.app bench --device gpu --json --overwrite --out "$out/facies_bench_gpu.json"
}
step_kuwahara() { python3 bench/bench_kuwahara.py --shape 32 96 256 --gpu-shape 256 256 512; }
step_gtm() { python3 bench/bench_gtm_project.py; }
step_selection() {
  python3 bench/bench_selection.py --device gpu --voxels 10000 --sem-iter 200 --gpu-attributes "${GPU_ATTRIBUTES:-9}"
}
step_forest() { python3 bench/bench_forest.py --rows 200000 --gpu-rows 20000000; }
step_bricks() { python3 bench/bench_bricks.py --gb 1; }
step_attributes() {
  python3 bench/bench_attributes_texture.py --gpu-shape 128 128 256
  python3 -m facies.cli.app synth "$out/attr.zarr" --size small --overwrite
  time python3 -m facies.cli.app attributes "$out/attr.zarr" --all --suffix _gpu --device gpu
  rm -rf "$out/attr.zarr"
}
step_survey() { python3 bench/bench_survey.py --sizes 2 --device gpu --out bench/results/survey_gpu.json; }

run_step() {
  local name=$1 start end status
  start=$(date +%s)
  timeout "$limit" bash -c "$(declare -f "step_$name"); $(declare -p site out); step_$name" \
    > "$out/step_$name.log" 2>&1
  status=$?
  end=$(date +%s)
  # Only the reports this step wrote: a committed result of the same name must not come back as fresh output.
  find bench/results -name '*.json' -newermt "@$start" -exec cp {} "$out/" \; 2>/dev/null
  python3 - "$name" "$status" "$((end - start))" "$out/step_$name.log" > "$out/step_$name.json" <<'PY'
import json, sys
name, status, seconds, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tail = open(log, errors="replace").read()[-4000:]
print(json.dumps({"step": name, "status": status, "timed_out": status == 124, "seconds": seconds, "log_tail": tail}))
PY
  echo "step $name: exit $status in $((end - start)) s (log: $out/step_$name.log)"
  return "$status"
}

steps=("$@")
[ "${#steps[@]}" -eq 0 ] && { sed -n '2,24p' "$0"; exit 2; }
[ "${steps[0]}" = all ] && steps=(setup parity bench kuwahara gtm selection forest bricks attributes survey)
failed=0
for name in "${steps[@]}"; do
  declare -F "step_$name" > /dev/null || { echo "error: unknown step $name"; exit 2; }
  run_step "$name" || failed=1
done
exit $failed
