"""Trained-network store shared by processes (pytest-xdist workers).

Entry = <key>.safetensors (the state dict) + <key>.json (recipe, metrics, seed, versions, sha256 of the
weights file). key = sha256 of canonical JSON {recipe, tier, seed, device kind, TRAINER_VERSION}.
Writes are atomic (tmp file + os.replace, metadata last, so it is the commit marker) under a
cross-process filelock.FileLock; an entry whose metadata is missing/incomplete/stale or whose weights
hash or tensors do not match is retrained, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from torch import nn

from losslab.train.trainer import TRAINER_VERSION

REQUIRED_KEYS = {"key", "recipe", "tier", "seed", "device_kind", "trainer_version", "weights_sha256",
                 "metrics", "versions", "created_unix", "train_seconds"}


def cache_dir() -> Path:
    """LOSSLAB_CACHE_DIR, else <repo>/.cache/losslab."""
    value = os.environ.get("LOSSLAB_CACHE_DIR")
    return Path(value).expanduser() if value else Path(__file__).resolve().parents[1] / ".cache" / "losslab"


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces; dataclasses become dicts, tuples lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def entry_key(recipe: Any, tier: str, seed: int, device_kind: str = "cpu") -> str:
    """sha256 hex of the recipe, tier, seed, device kind and TRAINER_VERSION."""
    payload = canonical_json({"recipe": json.loads(canonical_json(recipe)), "tier": tier, "seed": seed,
                              "device_kind": device_kind, "trainer_version": TRAINER_VERSION})
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class StaleEntry(Exception):
    """A cache entry that must not be trusted (reason in the message)."""


class TrainedNetCache:
    """get(recipe, tier, seed, make_model, train_model) -> (model, metadata); trains at most once per key."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else cache_dir()

    def paths(self, key: str) -> tuple[Path, Path, Path]:
        return self.root / f"{key}.safetensors", self.root / f"{key}.json", self.root / f"{key}.lock"

    def _load(self, key: str, make_model: Callable[[], nn.Module]) -> tuple[nn.Module, dict]:
        weights, meta_path, _ = self.paths(key)
        if not meta_path.is_file():
            raise StaleEntry("no metadata")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise StaleEntry(f"unreadable metadata: {exc}") from exc
        missing = REQUIRED_KEYS - set(meta)
        if missing:
            raise StaleEntry(f"metadata lacks {sorted(missing)}")
        if meta["key"] != key or meta["trainer_version"] != TRAINER_VERSION:
            raise StaleEntry("metadata of another key or trainer version")
        if not weights.is_file() or file_sha256(weights) != meta["weights_sha256"]:
            raise StaleEntry("weights file missing or sha256 mismatch")
        try:
            state = load_file(str(weights))
            model = make_model()
            model.load_state_dict(state, strict=True)
        except Exception as exc:  # safetensors header errors, shape/key mismatches
            raise StaleEntry(f"weights do not load into the model: {exc}") from exc
        return model, meta

    def get(self, recipe: Any, tier: str, seed: int, make_model: Callable[[], nn.Module],
            train_model: Callable[[nn.Module], dict], device_kind: str = "cpu") -> tuple[nn.Module, dict]:
        """The cached trained model (on CPU) and its metadata; trains under the lock when absent/stale.

        make_model() builds a fresh, seeded model; train_model(model) trains it in place and returns
        JSON-serialisable metrics."""
        key = entry_key(recipe, tier, seed, device_kind)
        self.root.mkdir(parents=True, exist_ok=True)
        weights, meta_path, lock_path = self.paths(key)
        try:
            return self._load(key, make_model)
        except StaleEntry:
            pass
        with FileLock(str(lock_path)):
            try:
                return self._load(key, make_model)
            except StaleEntry as exc:
                if meta_path.exists() or weights.exists():
                    print(f"[losslab.cache] retraining {key[:12]}: {exc}", file=sys.stderr, flush=True)
                meta_path.unlink(missing_ok=True)  # uncommit first: a crash below leaves no trusted entry
            model = make_model()
            started = time.monotonic()
            metrics = train_model(model)
            elapsed = time.monotonic() - started
            state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
            self._atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
            meta = {"key": key, "recipe": json.loads(canonical_json(recipe)), "tier": tier, "seed": seed,
                    "device_kind": device_kind, "trainer_version": TRAINER_VERSION,
                    "weights_sha256": file_sha256(weights), "metrics": metrics,
                    "versions": {"torch": torch.__version__, "python": sys.version.split()[0]},
                    "created_unix": time.time(), "train_seconds": elapsed}
            self._atomic_write(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1, sort_keys=True)))
            model.to("cpu")
            return model, meta

    def _atomic_write(self, target: Path, write: Callable[[Path], None]) -> None:
        fd, name = tempfile.mkstemp(dir=self.root, prefix=target.name + ".", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
