"""Worker placement on GPUs (losslab/report/devices.py), on CPU with a faked GPU list."""

import json
import os
from pathlib import Path

import pytest

from losslab.report import devices

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

INNER = """
import json, os, time
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_where(i):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    record = {{"worker": worker, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}}
    with open(f"where-{{worker}}-{{i}}.json", "w") as f:
        json.dump(record, f)

@pytest.mark.gpu_exclusive
@pytest.mark.parametrize("i", range(2))
def test_big(i):
    start = time.monotonic()
    time.sleep(0.5)
    with open(f"big-{{i}}.json", "w") as f:
        json.dump([start, time.monotonic()], f)
"""


def _run(pytester, monkeypatch, gpus, per_gpu, tests=8):
    monkeypatch.setattr(devices, "visible_gpus", lambda: gpus)
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    pytester.makeconftest('pytest_plugins = ["losslab.report.options", "losslab.report.devices"]\n')
    pytester.makepyfile(test_inner=INNER.format(n=tests))
    result = pytester.runpytest("-n", "auto", "--workers-per-gpu", str(per_gpu), "-p", "xdist")
    return result, [json.loads(p.read_text()) for p in sorted(pytester.path.glob("where-*.json"))]


def test_auto_workers_are_gpus_times_per_gpu_and_pinned_round_robin(pytester, monkeypatch):
    result, records = _run(pytester, monkeypatch, gpus=["3", "5"], per_gpu=2)
    result.assert_outcomes(passed=10)
    seen = {r["worker"]: r["gpu"] for r in records}
    assert set(seen) <= {"gw0", "gw1", "gw2", "gw3"} and len(seen) >= 2
    assert all(gpu == ["3", "5"][int(w[2:]) % 2] for w, gpu in seen.items())
    assert "4 workers" in result.stdout.str() or "created: 4/4 workers" in result.stdout.str()


def test_gpu_exclusive_tests_never_overlap_on_one_gpu(pytester, monkeypatch):
    result, _ = _run(pytester, monkeypatch, gpus=["0"], per_gpu=2, tests=1)
    result.assert_outcomes(passed=3)
    (a0, a1), (b0, b1) = (json.loads((pytester.path / f"big-{i}.json").read_text()) for i in range(2))
    assert a1 <= b0 or b1 <= a0


def test_without_gpus_xdist_counts_cores(monkeypatch):
    class Config:
        def getoption(self, name, default=None):
            return {"device": "auto", "workers_per_gpu": 2}[name]
    monkeypatch.setattr(devices, "visible_gpus", lambda: [])
    assert devices.pytest_xdist_auto_num_workers(Config()) is None
    monkeypatch.setattr(devices, "visible_gpus", lambda: ["0", "1", "2"])
    assert devices.pytest_xdist_auto_num_workers(Config()) == 6
