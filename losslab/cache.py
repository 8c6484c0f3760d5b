"""Trained-network store shared by processes (pytest-xdist workers, cluster jobs on shared storage).

Entry = <key>.safetensors (the state dict) + <key>.json (recipe, metrics, seed, versions, sha256 of the
weights file). key = sha256 of canonical JSON {recipe, tier, seed, device kind, TRAINER_VERSION}.

Protocol (safe on NFS: it relies only on atomic link() and rename() within one directory, never on
fcntl/flock locks or synchronised clocks):
- one trainer per key holds <key>.lock, taken by hard-linking a private file to that name (atomic
  create-exclusive; a lost NFS reply is resolved by the private file's link count), and refreshes its
  mtime every `heartbeat_s` while it trains;
- a waiter breaks a lock whose owner is a dead process on its own host, or whose mtime has not moved for
  `stale_after_s` of the waiter's own clock (a job killed on another node), by renaming it aside;
- writes are atomic (tmp file + os.replace), metadata last, so the metadata is the commit marker: a job
  killed mid-training leaves no metadata, hence nothing trusted. An entry whose metadata is missing,
  incomplete or stale, or whose weights hash or tensors do not match, is retrained, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from losslab.train.trainer import TRAINER_VERSION

REQUIRED_KEYS = {"key", "recipe", "tier", "seed", "device_kind", "trainer_version", "weights_sha256",
                 "metrics", "versions", "created_unix", "train_seconds"}


def cache_dir() -> Path:
    """LOSSLAB_CACHE_DIR, else <repo>/.cache/losslab."""
    value = os.environ.get("LOSSLAB_CACHE_DIR")
    return Path(value).expanduser() if value else Path(__file__).resolve().parents[1] / ".cache" / "losslab"


def require_cached() -> bool:
    """LOSSLAB_REQUIRE_CACHED set (pytest --require-cached sets it): get() raises NotCached instead of training."""
    return os.environ.get("LOSSLAB_REQUIRE_CACHED", "") not in ("", "0")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces; dataclasses (also nested ones) become dicts, tuples lists."""
    return json.dumps(_plain(value) if dataclasses.is_dataclass(value) else value, sort_keys=True,
                      separators=(",", ":"), default=_plain)


def identity_name(recipe: Any) -> str:
    """A readable name for an entry's identity: a recipe's name, or that of an identity dict's "recipe"."""
    inner = recipe.get("recipe") if isinstance(recipe, dict) else recipe
    return getattr(inner, "name", None) or canonical_json(recipe)[:120]


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


class NotCached(LookupError):
    """get(..., train_missing=False) found no trusted entry (message: recipe, tier, seed, key, reason)."""


def _process_alive(pid: int) -> bool:
    """True when `pid` runs on this host (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class EntryLock:
    """Exclusive lock file shared across hosts: link()-created marker, mtime heartbeat, stale-lock recovery."""

    def __init__(self, path: Path, heartbeat_s: float = 30.0, stale_after_s: float = 600.0, poll_s: float = 0.2):
        self.path, self.heartbeat_s, self.stale_after_s, self.poll_s = Path(path), heartbeat_s, stale_after_s, poll_s
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
        self._private = self.path.with_name(f"{self.path.name}.{self.owner['token']}.owner")
        self._stop = threading.Event()
        self._seen: tuple | None = None  # (inode, mtime) of the holder's lock as last seen ...
        self._seen_at = 0.0  # ... and since when (this process's monotonic clock)

    def __enter__(self) -> "EntryLock":
        self._private.write_text(json.dumps(dict(self.owner, started_unix=time.time())))
        try:
            while not self._try_link():
                self._break_if_stale()
                time.sleep(self.poll_s)
        except BaseException:
            self._private.unlink(missing_ok=True)
            raise
        threading.Thread(target=self._beat, daemon=True, name=f"heartbeat {self.path.name}").start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.held():
            self.path.unlink(missing_ok=True)
        self._private.unlink(missing_ok=True)

    def held(self) -> bool:
        """True while the lock file is this holder's (same inode as its private link)."""
        try:
            return os.stat(self.path).st_ino == os.stat(self._private).st_ino
        except FileNotFoundError:
            return False

    def _try_link(self) -> bool:
        try:
            os.link(self._private, self.path)
        except FileExistsError:
            pass
        # the link count, not link()'s reply, decides: NFS may lose the reply of a link that succeeded
        return os.stat(self._private).st_nlink == 2

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self._private)  # the same inode as the lock file while we hold it
            except FileNotFoundError:  # released meanwhile
                return

    def _break_if_stale(self) -> None:
        try:
            stat = os.stat(self.path)
            holder = json.loads(self.path.read_text())
        except FileNotFoundError:
            return  # released meanwhile: link again
        except ValueError:
            holder = {}
        signature = (stat.st_ino, stat.st_mtime_ns)
        pid = holder.get("pid")
        dead = (holder.get("host") == self.owner["host"] and isinstance(pid, int) and pid > 0
                and not _process_alive(pid))
        if not dead:
            # judged by this waiter's own clock, so clock skew between hosts does not matter
            if signature != self._seen:
                self._seen, self._seen_at = signature, time.monotonic()
                return
            if time.monotonic() - self._seen_at < self.stale_after_s:
                return
        aside = self.path.with_name(f"{self.path.name}.{self.owner['token']}.stale")
        try:
            os.rename(self.path, aside)  # atomic: of several breakers one wins, the others find no file
        except FileNotFoundError:
            return
        moved = os.stat(aside)
        if (moved.st_ino, moved.st_mtime_ns) != signature:  # a fresh lock was taken meanwhile: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        else:
            self.path.with_name(f"{self.path.name}.{holder.get('token')}.owner").unlink(missing_ok=True)
            why = "its process is gone" if dead else f"no heartbeat for {self.stale_after_s:g} s"
            print(f"[losslab.cache] broke stale lock {self.path.name} of {holder.get('host')}:{holder.get('pid')}"
                  f" ({why})", file=sys.stderr, flush=True)
        aside.unlink(missing_ok=True)


class TrainedNetCache:
    """get(recipe, tier, seed, make_model, train_model) -> (model, metadata); trains at most once per key."""

    def __init__(self, root: Path | str | None = None, heartbeat_s: float = 30.0, stale_after_s: float = 600.0):
        self.root = Path(root) if root is not None else cache_dir()
        self.heartbeat_s, self.stale_after_s = heartbeat_s, stale_after_s

    def paths(self, key: str) -> tuple[Path, Path, Path]:
        return self.root / f"{key}.safetensors", self.root / f"{key}.json", self.root / f"{key}.lock"

    def lock(self, key: str) -> EntryLock:
        """The training lock of one key (a context manager)."""
        return EntryLock(self.paths(key)[2], self.heartbeat_s, self.stale_after_s)

    def _committed(self, key: str) -> dict:
        """The metadata of a committed entry whose weights file matches its sha256; StaleEntry otherwise."""
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
        return meta

    def _load(self, key: str, make_model: Callable[[], nn.Module]) -> tuple[nn.Module, dict]:
        meta = self._committed(key)
        try:
            state = load_file(str(self.paths(key)[0]))
            model = make_model()
            model.load_state_dict(state, strict=True)
        except Exception as exc:  # safetensors header errors, shape/key mismatches
            raise StaleEntry(f"weights do not load into the model: {exc}") from exc
        return model, meta

    def is_cached(self, recipe: Any, tier: str, seed: int, device_kind: str = "cpu") -> bool:
        """True when a committed entry with matching weights exists (without building the model)."""
        try:
            self._committed(entry_key(recipe, tier, seed, device_kind))
        except StaleEntry:
            return False
        return True

    def get(self, recipe: Any, tier: str, seed: int, make_model: Callable[[], nn.Module],
            train_model: Callable[[nn.Module], dict], device_kind: str = "cpu",
            train_missing: bool | None = None) -> tuple[nn.Module, dict]:
        """The cached trained model (on CPU) and its metadata; trains under the lock when absent/stale.

        make_model() builds a fresh, seeded model; train_model(model) trains it in place and returns
        JSON-serialisable metrics. train_missing=False (default: not require_cached()) raises NotCached
        instead of training."""
        if train_missing is None:
            train_missing = not require_cached()
        key = entry_key(recipe, tier, seed, device_kind)
        self.root.mkdir(parents=True, exist_ok=True)
        weights, meta_path, _ = self.paths(key)
        try:
            return self._load(key, make_model)
        except StaleEntry as exc:
            if not train_missing:
                raise NotCached(f"{identity_name(recipe)} tier {tier} seed {seed} ({device_kind}): key {key[:12]}, {exc}") from exc
        with self.lock(key):
            try:
                return self._load(key, make_model)
            except StaleEntry as exc:
                if meta_path.exists() or weights.exists():
                    print(f"[losslab.cache] retraining {key[:12]}: {exc}", file=sys.stderr, flush=True)
                meta_path.unlink(missing_ok=True)  # uncommit first: a crash below leaves no trusted entry
            for leftover in self.root.glob(f"{key}.*.tmp"):  # partial writes of a killed trainer of this key
                leftover.unlink(missing_ok=True)
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
