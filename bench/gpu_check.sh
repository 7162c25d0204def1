#!/usr/bin/env bash
# GPU check for a lent GPU machine (CuPy 14 for CUDA 13, numpy, scikit-learn and Python 3.12 preinstalled).
# Installs what the machine lacks from wheels carried in .whl/ (zarr, numcodecs, segyio, typer, rich, ..., and
# nvForest's CUDA 13 wheels, carried in an earlier call into $FACIES_SITE), runs the GPU tests and the GPU
# branches of the benchmarks, and copies every JSON report to $OUT.
#
# Not yet run: this script was written in a session without a GPU. Expect to adjust it on first use.
#
# Usage on the device machine, from the repository root:
#   FACIES_SITE=/tmp/site bash bench/gpu_check.sh
set -uo pipefail
site=${FACIES_SITE:-/tmp/site}
out=${OUT:-bench/out}
mkdir -p "$site" "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
fi
export PYTHONPATH="$site:$PWD/.gpu_src${PYTHONPATH:+:$PYTHONPATH}"
# The package's folders map to facies.engine, facies.kernels and facies.cli: expose them under one namespace.
mkdir -p .gpu_src/facies
for pkg in engine kernels cli; do ln -sfn "$PWD/$pkg" ".gpu_src/facies/$pkg"; done

python3 - <<'PY' | tee "$out/gpu_device.json"
import json, cupy
props = cupy.cuda.runtime.getDeviceProperties(0)
free, total = cupy.cuda.runtime.memGetInfo()
print(json.dumps({"name": props["name"].decode(), "cc": f"{props['major']}.{props['minor']}",
                  "driver": cupy.cuda.runtime.driverGetVersion(), "runtime": cupy.cuda.runtime.runtimeGetVersion(),
                  "cupy": cupy.__version__, "total_bytes": total, "free_bytes": free}))
PY
status=0
python3 -m pytest -q -m gpu tests 2>&1 | tee "$out/pytest_gpu.log" || status=1
python3 bench/bench_kuwahara.py --shape 32 96 256 --gpu-shape 256 256 512 2>&1 | tee "$out/bench_kuwahara.log" || status=1
python3 bench/bench_selection.py --device gpu --voxels 10000 --sem-iter 200 2>&1 | tee "$out/bench_selection.log" || status=1
python3 bench/bench_forest.py --rows 200000 --gpu-rows 50000000 2>&1 | tee "$out/bench_forest.log" || status=1
python3 bench/bench_bricks.py --gb 4 2>&1 | tee "$out/bench_bricks.log" || status=1
cp bench/results/*.json "$out/" 2>/dev/null
exit $status
