"""Deterministic seeds derived from a claim id and a run index.

seed = first 4 bytes (big-endian) of sha256("<claim_id>/<run_index>"), so every number in the
report can be regenerated from the id and the index alone, in any process.
"""

from __future__ import annotations

import hashlib


def claim_seed(claim_id: str, run_index: int = 0) -> int:
    """The seed of run `run_index` of claim `claim_id` (an int in [0, 2**32))."""
    digest = hashlib.sha256(f"{claim_id}/{run_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def claim_seeds(claim_id: str, runs: int) -> list[int]:
    """Seeds of runs 0..runs-1 of a claim."""
    return [claim_seed(claim_id, i) for i in range(runs)]
