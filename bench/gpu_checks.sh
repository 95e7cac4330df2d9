#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run from the repository root (about five minutes on one H200):
#   1. ResNet50 at 224 px: the reference notebook's training loop against `train_cnn` (bench/bench_cnn.py)
#   2. two runs with one seed: which settings give bit-identical weights and predictions (bench/check_determinism.py)
#   3. the notebooks' tests on the GPU (nbdev_test; 08_app is left out where gradio is not installed), then every
#      failing cell of the notebooks that failed (bench/notebook_failures.py), not only the first
# on a synthetic dataset made here (no medical meaning; the real one may not be copied to other machines):
#
#   bash bench/gpu_checks.sh runs/gpu_checks              # results: RESULTS/{gpu_checks.log,*.json,nbdev_test.log}
#
# STEPS="3" runs only some of the steps (default "1 2 3"). Smaller runs (a smoke test on a CPU): BENCH_ARGS,
# DETERMINISM_ARGS and NBDEV_ARGS replace or add to each step's options, e.g. BENCH_ARGS="--arch resnet18 --img-size 64 --limit 64 --epochs 1" NBDEV_ARGS="--path nbs/03_ensemble.ipynb".
#
# Each step runs whatever the one before it gave; the last line counts the steps that failed.
set -uo pipefail
results=${1:?usage: bash bench/gpu_checks.sh RESULTS_FOLDER [WORK_FOLDER]}
work=${2:-${TMPDIR:-/tmp}/leukemia_gpu_checks}
mkdir -p "$results" "$work"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}   # the package as it is in this tree
exec > >(tee "$results/gpu_checks.log") 2>&1
failed=0
step() { printf '\n== %s (%s s)\n' "$1" "$SECONDS"; }
check() { [ "$1" -eq 0 ] || { failed=$((failed + 1)); echo "FAILED: $2"; }; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"
python3 -c 'import torch, torchvision, accelerate, transformers; print("torch", torch.__version__, "torchvision", torchvision.__version__, "accelerate", accelerate.__version__, "transformers", transformers.__version__); print("CUDA:", torch.cuda.is_available() and torch.cuda.get_device_name(0))'

steps=" ${STEPS:-1 2 3} "
if [[ $steps == *" 1 "* || $steps == *" 2 "* ]]; then
step "synthetic dataset and its grouped split"
[ -d "$work/synthetic" ] || python3 -c "from leukemia_detection.data import make_synthetic_dataset; make_synthetic_dataset('$work/synthetic', n_per_class=400)"
[ -f "$work/split/manifest.csv" ] || python3 -m leukemia_detection.cli split "$work/synthetic" "$work/split" > "$work/split.log"
check $? "split"
fi

if [[ $steps == *" 1 "* ]]; then
step "1. ResNet50 224 px: reference loop against train_cnn"
python3 bench/bench_cnn.py --split "$work/split" --out "$work/bench_cnn_r50" \
  ${BENCH_ARGS:---arch resnet50 --img-size 224 --limit 2000 --epochs 5}
check $? "bench_cnn"; cp "$work/bench_cnn_r50/bench_cnn.json" "$results/" 2>/dev/null
fi

if [[ $steps == *" 2 "* ]]; then
step "2. determinism"
python3 bench/check_determinism.py --split "$work/split" --out "$work/determinism" ${DETERMINISM_ARGS:-}
check $? "check_determinism"; cp "$work/determinism/check_determinism.json" "$results/" 2>/dev/null
for f in "$work"/determinism/*.log; do grep -q Traceback "$f" && { echo "-- $f"; tail -n 5 "$f"; }; done
fi

if [[ $steps == *" 3 "* ]]; then
step "3. the notebooks' tests on this machine"
skip='^$'; python3 -c 'import gradio' 2>/dev/null || skip='08_app'
if command -v nbdev_test >/dev/null; then
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} nbdev_test --n_workers "${NB_WORKERS:-6}" --timing --skip_file_re "$skip" ${NBDEV_ARGS:-} 2>&1 | tee "$results/nbdev_test.log"
  check "${PIPESTATUS[0]}" "nbdev_test"
  mapfile -t failed_nbs < <(sed -n '/Tests Failed On The Following Notebooks/,$p' "$results/nbdev_test.log" | grep -o '[0-9A-Za-z_]*\.ipynb')
  if [ ${#failed_nbs[@]} -gt 0 ]; then
    step "3b. every failing cell of ${failed_nbs[*]}"
    python3 bench/notebook_failures.py "${failed_nbs[@]/#/nbs/}" 2>&1 | tee "$results/notebook_failures.log"
  fi
else echo "no nbdev_test: pip install -e '.[dev]'"; check 1 "nbdev_test"; fi
fi

step "done"
echo "$failed step(s) failed"
[ "$failed" -eq 0 ]
