#!/usr/bin/env bash
# The GPU checks in one go, for a machine lent for minutes: the real command line with device=gpu
# (the relu sweep into SQLite, then the same on that machine's CPU), the bits of every launcher's
# jobs against the same jobs alone on the GPU (tests/test_invariance.py), benchmarks/gpu_check.py,
# two test files that compare bits (segments) and NumPy's forward pass, what JAX's default GPU
# memory preallocation would do to four processes on one GPU, the cpu_vs_gpu lesson, and last
# gpu_check and the lesson again with TF32 products, in that order (the most wanted first, should
# the machine be taken back).
# Each step has its own time limit, and one failing step does not stop the rest.
#
#   bash benchmarks/gpu_session.sh             # DEVICE=cpu to try the script itself on a CPU machine
#
# A machine whose image has JAX with CUDA but no Hydra or MLflow (this workplace's) gets them from
# wheels in .whl/ (see the README's "On a GPU"). What it prints goes to $OUT/gpu_session.log too,
# with the lesson's and the sweep's plots beside it.
set -u
DEVICE=${DEVICE:-gpu}
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu_session}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_session.log") 2>&1

if ! "$PY" -c "import hydra, mlflow" 2>/dev/null && [ -d "$REPO/.whl" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$REPO"/.whl/*.whl \
        || { echo "the carried wheels did not install"; exit 1; }
    export PYTHONPATH=/tmp/site:$REPO
else
    export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false

step() {  # step NAME SECONDS FOLDER COMMAND...: run it there, stopped after SECONDS; say how it ended
    local name=$1 limit=$2 where=$3 start=$SECONDS
    shift 3
    mkdir -p "$where"
    echo
    echo "=== $name ($(date -u +%T) UTC, limit ${limit} s)"
    (cd "$where" && timeout "$limit" "$@")
    echo "=== $name: exit $? after $((SECONDS - start)) s"
}

summary() {  # summary FOLDER...: each relu sweep's runs, where they ran, the best jobs; the two against each other
    "$PY" - "$@" <<'EOF'
import sys
from collections import Counter

import mlflow

tables = {}
for where in sys.argv[1:]:
    mlflow.set_tracking_uri(f"sqlite:///{where}/mlflow.db")
    table = mlflow.search_runs(experiment_names=["relu_sweep"])
    jobs = table[table["tags.sweep"] != "parent"]
    print(f"{where}: {dict(Counter(table['status']))}; ran on {sorted(set(jobs['tags.jax.device']))}")
    best = jobs.sort_values("metrics.val_accuracy_last5_mean", ascending=False).head(3)
    print(best[["tags.mlflow.runName", "metrics.val_accuracy_last5_mean", "metrics.loss"]].to_string(index=False))
    tables[where] = jobs.set_index("tags.mlflow.runName")
if len(tables) == 2:
    a, b = tables.values()
    same = (a["metrics.val_accuracy_last5_mean"] == b["metrics.val_accuracy_last5_mean"].reindex(a.index)).sum()
    loss = (a["metrics.loss"] - b["metrics.loss"].reindex(a.index)).abs()
    print(f"{len(a)} jobs: val_accuracy_last5_mean equal on both devices for {same}; "
          f"final loss apart by {loss.median():.1e} (median), {loss.max():.1e} at worst")
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")  # the first sweep's summary plot, beside its store
parent = mlflow.search_runs(experiment_names=["relu_sweep"], filter_string="tags.sweep = 'parent'")
mlflow.artifacts.download_artifacts(run_id=parent["run_id"][0], artifact_path="sweep_accuracy.png", dst_path=sys.argv[1])
EOF
}

echo "=== the machine ($(date -u +%F\ %T) UTC)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
"$PY" -c "
import sys, importlib.metadata as m, jax
print('Python', sys.version.split()[0], '|', ', '.join(f'{n} {m.version(n)}' for n in ('jax', 'jaxlib', 'optax', 'numpy', 'hydra-core', 'mlflow')))
print('JAX devices:', jax.devices())"

step "relu sweep, device=$DEVICE (README command 1's job)" 120 "$WORK/sweep_$DEVICE" \
    "$PY" -m pipeline +experiment=relu_sweep device="$DEVICE"
step "relu sweep, device=cpu on the same machine" 60 "$WORK/sweep_baseline_cpu" \
    "$PY" -m pipeline +experiment=relu_sweep device=cpu
summary "$WORK/sweep_$DEVICE" "$WORK/sweep_baseline_cpu"
cp "$WORK/sweep_$DEVICE/sweep_accuracy.png" "$OUT/sweep_accuracy_$DEVICE.png"

step "every launcher's bits against jobs alone, device=$DEVICE" 150 "$REPO" \
    env PIPELINE_TEST_DEVICE="$DEVICE" "$PY" -m pytest -q -p no:cacheprovider -n 0 tests/test_invariance.py

step "benchmarks/gpu_check.py $DEVICE" 120 "$REPO" "$PY" benchmarks/gpu_check.py "$DEVICE" --steps 2000

step "tests/test_segments.py and test_predict.py, on JAX's default device" 90 "$REPO" \
    "$PY" -m pytest -q -p no:cacheprovider -n 4 tests/test_segments.py tests/test_predict.py

step "four processes on one device with JAX's default preallocation (joblib, n_jobs=4)" 60 "$WORK/prealloc" \
    env XLA_PYTHON_CLIENT_PREALLOCATE=true "$PY" -m pipeline -m hydra/launcher=joblib hydra.launcher.n_jobs=4 \
    device="$DEVICE" train.steps=200 tracking.plots=false model.hidden=1,2,3,4,5,6,7,8
step "the same, memory taken as needed (the pipeline's default)" 60 "$WORK/asneeded" \
    "$PY" -m pipeline -m hydra/launcher=joblib hydra.launcher.n_jobs=4 \
    device="$DEVICE" train.steps=200 tracking.plots=false model.hidden=1,2,3,4,5,6,7,8

step "the cpu_vs_gpu lesson" 60 "$WORK/lesson" "$PY" -m pipeline +lesson=cpu_vs_gpu
find "$WORK/lesson" -name time_against_size.png -exec cp {} "$OUT/" \; -quit
# What float32 products in float32 (the pipeline's default, JAX's "highest") cost against TF32
# (JAX's own default on a GPU, bits and all): the user's precision is kept, so the variable asks for it.
step "benchmarks/gpu_check.py $DEVICE with TF32 products (JAX_DEFAULT_MATMUL_PRECISION=tensorfloat32)" 90 "$REPO" \
    env JAX_DEFAULT_MATMUL_PRECISION=tensorfloat32 "$PY" benchmarks/gpu_check.py "$DEVICE" --steps 2000
step "the cpu_vs_gpu lesson with TF32 products" 60 "$WORK/lesson_tf32" \
    env JAX_DEFAULT_MATMUL_PRECISION=tensorfloat32 "$PY" -m pipeline +lesson=cpu_vs_gpu
echo "=== done ($(date -u +%T) UTC)"
sleep 1  # tee writes the last lines
