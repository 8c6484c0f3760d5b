"""scripts/gpu_check.sh as a dry run on CPU (GPU_CHECK_DEVICE=cpu): every step runs and the script exits 0, so
the first GPU session does not meet a typo in it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("== trainer vs minimal loop", "== placement tests", "== gpu tier at smoke scale on cpu",
         "== progress table", "== gpu tier compute plan")


@pytest.mark.smoke_sweep
def test_gpu_check_dry_run_on_cpu_runs_every_step(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.update(GPU_CHECK_DEVICE="cpu", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    log = (tmp_path / "gpu_check.txt").read_text()
    assert done.returncode == 0, log[-6000:]
    assert all(step in log for step in STEPS) and "FAILED" not in log, log[-6000:]
    assert "minimal loop:" in log and "total:" in log and "gpu_check done" in log, log[-3000:]
