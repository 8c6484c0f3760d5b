"""Torch thread policy: how many intra-op threads a process (or a block of tiny-tensor work) uses.

Measured here: on a 2-core runner, more intra-op threads than a process's share of cores spin-wait;
tiny training loops ran ~20-60x slower with two threads than with one.
"""

from __future__ import annotations

import contextlib
import os

import torch


def torch_threads_per_process() -> int:
    """Cores divided among the xdist workers (at least 1); LOSSLAB_TORCH_THREADS overrides."""
    if "LOSSLAB_TORCH_THREADS" in os.environ:
        return int(os.environ["LOSSLAB_TORCH_THREADS"])
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


@contextlib.contextmanager
def single_torch_thread():
    """One intra-op thread inside the block (tiny tensors gain nothing from more), restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
