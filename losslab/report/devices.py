"""pytest plugin: xdist workers placed on GPUs (`-n auto` = GPUs x --workers-per-gpu), each pinned to one GPU
before CUDA initialises, and tests marked `gpu_exclusive` never twice on one GPU at once.

- `pytest_xdist_auto_num_workers`: with N visible GPUs (and --device not cpu), `-n auto` starts
  N x --workers-per-gpu workers instead of one per CPU core; without GPUs xdist's own count applies.
- the controller hands worker k the k-th GPU round-robin (`workerinput["losslab_gpu"]`); the worker sets
  CUDA_VISIBLE_DEVICES to it in its first configure hook, so it sees one GPU, as cuda:0.
- `@pytest.mark.gpu_exclusive`: big-memory tests (exact float64 Hessians, vmap'd HVP chunks) hold a
  per-GPU file lock while they run, so workers sharing a GPU take turns for them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

GPU_KEY, LOCK_DIR_KEY = "losslab_gpu", "losslab_gpu_lock_dir"


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries; counted without creating a CUDA context
    (torch.cuda.device_count queries NVML before CUDA initialises)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def _placing(config) -> bool:
    return config.getoption("device", default="auto") != "cpu"


@pytest.hookimpl(optionalhook=True)  # xdist's hooks: absent under -p no:xdist
def pytest_xdist_auto_num_workers(config):
    gpus = visible_gpus() if _placing(config) else []
    return len(gpus) * config.getoption("workers_per_gpu") if gpus else None  # None: xdist counts cores


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Controller side (xdist hook), before the worker starts: which GPU it gets and where the locks live."""
    config = node.config
    gpus = visible_gpus() if _placing(config) else []
    if not gpus:
        return
    index = int(node.workerinput["workerid"].removeprefix("gw"))
    node.workerinput[GPU_KEY] = gpus[index % len(gpus)]
    if not hasattr(config, "_losslab_gpu_lock_dir"):
        config._losslab_gpu_lock_dir = tempfile.mkdtemp(prefix="losslab-gpu-locks-")
    node.workerinput[LOCK_DIR_KEY] = config._losslab_gpu_lock_dir


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "gpu_exclusive: needs most of a GPU's memory; never runs next to "
                                       "another gpu_exclusive test on the same GPU")
    gpu = getattr(config, "workerinput", {}).get(GPU_KEY)
    if gpu is not None:  # before anything touches CUDA in this worker
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    workerinput = getattr(item.config, "workerinput", {})
    if item.get_closest_marker("gpu_exclusive") is None or GPU_KEY not in workerinput:
        return (yield)
    from filelock import FileLock

    with FileLock(str(Path(workerinput[LOCK_DIR_KEY]) / f"gpu-{workerinput[GPU_KEY]}.lock")):
        return (yield)
