#!/usr/bin/env bash
# First GPU session (a few minutes): does the GPU path work, and how fast is the trainer?
#   scripts/gpu_check.sh [OUT_DIR]        (from anywhere; writes OUT_DIR/gpu_check.txt; exit 1 if a step failed)
# 1. CUDA visible; 2. the trainer vs a minimal loop (steps/s), fp32 / bf16 / channels_last;
# 3. worker placement and trainer tests; 4. every gpu-tier claim test at smoke scale on CUDA with
#    -n auto (GPUs x 2 workers), its progress table and the gpu tier's compute plan from its runs.
# GPU_CHECK_DEVICE=cpu: a dry run of the same steps on CPU (tiny benchmark, no bf16 / channels_last, one placement
# test, WZE17-TAB1's gpu-tier tests at smoke scale in one process), so a typo shows before a GPU does
# (tests/gpu/test_gpu_check_script.py).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-$(mktemp -d)}}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONPATH=.
exec > >(tee "$OUT/gpu_check.txt") 2>&1
failed=()
step() {  # step NAME COMMAND...: run it, remember a failure, go on
  echo "== $1"
  "${@:2}" || { echo "FAILED: $1 (exit $?)"; failed+=("$1"); }
}

if [ "$DEVICE" = cuda ]; then
  python -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name(0), torch.cuda.device_count(), 'GPUs')" || exit 1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  for net in mlenet resnet18; do
    step "trainer vs minimal loop, $net" timeout 120 python benchmarks/trainer_bench.py --device cuda --net "$net" --n 8192 --batch 128 --epochs 3
    step "trainer vs minimal loop, $net, bf16 + channels_last" timeout 120 python benchmarks/trainer_bench.py --device cuda --net "$net" --n 8192 --batch 128 --epochs 3 --autocast bf16 --channels-last
  done
  step "trainer vs minimal loop, lp17-dcnn full batch" timeout 120 python benchmarks/trainer_bench.py --device cuda --net lp17-dcnn --n 8192 --batch 8192 --epochs 20
  step "placement and trainer tests" timeout 180 python -m pytest -q -p no:cacheprovider tests/gpu/test_devices.py tests/train
  SMOKE_WORKERS=auto SMOKE_ARGS=()
else
  step "trainer vs minimal loop, mlenet (dry run on CPU)" timeout 120 python benchmarks/trainer_bench.py --device cpu --net mlenet --n 128 --batch 64 --epochs 1
  step "placement tests" timeout 180 python -m pytest -q -p no:cacheprovider -p no:xdist tests/gpu/test_devices.py -k auto_workers
  SMOKE_WORKERS="" SMOKE_ARGS=(-k sgd_beats_full_batch)  # one process
fi
step "gpu tier at smoke scale on $DEVICE" timeout 420 python -c "
import sys
from losslab.plan import smoke_run
done = smoke_run('gpu', sys.argv[1], '-rfE', *sys.argv[4:], device=sys.argv[2], workers=sys.argv[3] or None, timeout_s=400)
print(done.stdout[-8000:], done.stderr[-2000:])
sys.exit(done.returncode)
" "$OUT/smoke" "$DEVICE" "$SMOKE_WORKERS" "${SMOKE_ARGS[@]}"
step "progress table" python -m losslab progress "$OUT/smoke/report"
step "gpu tier compute plan" python -m losslab plan --tier gpu --runs-from "$OUT/smoke/report"
if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu_check: ${#failed[@]} step(s) failed: ${failed[*]}; see $OUT/gpu_check.txt"
  exit 1
fi
echo "gpu_check done: $OUT/gpu_check.txt"
