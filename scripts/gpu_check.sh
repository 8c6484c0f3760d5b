#!/usr/bin/env bash
# First GPU session (a few minutes): does the GPU path work, and how fast is the trainer?
#   scripts/gpu_check.sh [OUT_DIR]        (from the repository root; writes OUT_DIR/gpu_check.txt)
# 1. CUDA visible; 2. the trainer vs a minimal loop (steps/s), fp32 / bf16 / channels_last;
# 3. worker placement and trainer tests; 4. every gpu-tier claim test at smoke scale on CUDA with
#    -n auto (GPUs x 2 workers), its progress table and the gpu tier's compute plan from its runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-$(mktemp -d)}}
mkdir -p "$OUT"
export PYTHONPATH=.
exec > >(tee "$OUT/gpu_check.txt") 2>&1
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name(0), torch.cuda.device_count(), 'GPUs')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
echo "== trainer vs minimal loop"
for net in mlenet resnet18; do
  timeout 120 python benchmarks/trainer_bench.py --device cuda --net "$net" --n 8192 --batch 128 --epochs 3
  timeout 120 python benchmarks/trainer_bench.py --device cuda --net "$net" --n 8192 --batch 128 --epochs 3 --autocast bf16 --channels-last
done
timeout 120 python benchmarks/trainer_bench.py --device cuda --net lp17-dcnn --n 8192 --batch 8192 --epochs 20  # full batch
echo "== placement and trainer tests"
timeout 180 python -m pytest -q -p no:cacheprovider tests/gpu/test_devices.py tests/train
echo "== gpu tier at smoke scale on CUDA"
timeout 420 python -c "
import sys
from losslab.plan import smoke_run
done = smoke_run('gpu', sys.argv[1], '-rfE', device='cuda', workers='auto', timeout_s=400)
print(done.stdout[-8000:], done.stderr[-2000:])
" "$OUT/smoke"
python -m losslab progress "$OUT/smoke/report" | tail -5
python -m losslab plan --tier gpu --runs-from "$OUT/smoke/report" | tail -25
echo "gpu_check done: $OUT/gpu_check.txt"
