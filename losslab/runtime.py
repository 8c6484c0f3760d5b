"""Torch thread policy: how many intra-op threads a process (or a block of tiny-tensor work) uses.

Measured here: on a 2-core runner, more intra-op threads than a process's share of cores spin-wait;
tiny training loops ran ~20-60x slower with two threads than with one.
"""

from __future__ import annotations

import contextlib
import os

import torch


def torch_threads_per_process() -> int:
    """1 intra-op thread per process (LOSSLAB_TORCH_THREADS overrides).

    The suite's CPU-tier networks are tiny: every area measured more threads as slower (5-200x on
    2 shared cores); parallelism comes from xdist workers instead.
    """
    return int(os.environ.get("LOSSLAB_TORCH_THREADS", "1"))


@contextlib.contextmanager
def single_torch_thread():
    """One intra-op thread inside the block (tiny tensors gain nothing from more), restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
