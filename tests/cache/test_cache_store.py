"""The trained-network cache: one training across processes, corrupt entries retrained, keys, and the lock
protocol (link()-created marker, heartbeat, stale-lock recovery; a killed job: tests/fixtures_area/test_warm_cluster.py)."""

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from losslab.cache import EntryLock, TrainedNetCache, cache_dir, entry_key
from losslab.nets import fnn

WORKER = Path(__file__).with_name("_cache_worker.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ToyRecipe:
    name: str
    epochs: int


def _make():
    torch.manual_seed(0)
    return fnn(2, width=8, in_features=3, out_features=2)


def _counting_trainer(counter):
    def train_model(model):
        counter.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(2.0)
        return {"final": {"train_acc": 1.0}, "n": len(counter)}
    return train_model


def test_key_depends_on_recipe_tier_seed_only_through_canonical_json():
    a = entry_key(ToyRecipe("x", 3), "cpu", 1)
    assert a == entry_key({"epochs": 3, "name": "x"}, "cpu", 1)  # canonical: key order irrelevant
    assert len({a, entry_key(ToyRecipe("x", 4), "cpu", 1), entry_key(ToyRecipe("x", 3), "gpu", 1),
                entry_key(ToyRecipe("x", 3), "cpu", 2), entry_key(ToyRecipe("x", 3), "cpu", 1, "cuda")}) == 5


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("LOSSLAB_CACHE_DIR")
    assert cache_dir() == REPO / ".cache" / "losslab"


def test_second_request_is_served_from_disk(tmp_path):
    counter = []
    store = TrainedNetCache(tmp_path)
    m1, meta1 = store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    m2, meta2 = TrainedNetCache(tmp_path).get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    assert len(counter) == 1 and meta2["metrics"]["n"] == 1
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert meta1["recipe"] == {"name": "x", "epochs": 3} and meta1["seed"] == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_truncated_weights_are_detected_and_retrained(tmp_path):
    counter = []
    store = TrainedNetCache(tmp_path)
    model, meta = store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    weights = tmp_path / f"{meta['key']}.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])  # truncated mid-tensor
    again, meta2 = store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    assert len(counter) == 2
    assert meta2["weights_sha256"] == meta["weights_sha256"]  # same deterministic result rewritten
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


def test_corrupt_or_incomplete_metadata_is_retrained(tmp_path):
    counter = []
    store = TrainedNetCache(tmp_path)
    _, meta = store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    meta_path = tmp_path / f"{meta['key']}.json"
    broken = dict(meta)
    del broken["weights_sha256"]
    meta_path.write_text(json.dumps(broken))
    store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    meta_path.write_text("{not json")
    store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    stale = json.loads(meta_path.read_text())
    stale["trainer_version"] = "0"
    meta_path.write_text(json.dumps(stale))
    store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    assert len(counter) == 4


def test_weights_of_another_architecture_are_not_trusted(tmp_path):
    counter = []
    store = TrainedNetCache(tmp_path)
    store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))

    def make_wider():
        return fnn(2, width=9, in_features=3, out_features=2)

    model, _ = store.get(ToyRecipe("x", 3), "cpu", 1, make_wider, _counting_trainer(counter))
    assert len(counter) == 2 and model[0].out_features == 9


def _worker(tmp_path, out_name):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / "cache"), str(tmp_path / "trainings.txt"),
                             str(tmp_path / out_name)], env=env)


def test_two_processes_train_once(tmp_path):
    marker = tmp_path / "trainings.txt"
    procs = [_worker(tmp_path, f"out{i}.json") for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert marker.read_text().count("trained") == 1
    outs = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2)]
    assert outs[0] == outs[1]


def test_a_lock_left_by_a_vanished_host_is_broken_after_stale_after(tmp_path):
    store, counter = TrainedNetCache(tmp_path, stale_after_s=0.5), []
    lock = tmp_path / f"{entry_key(ToyRecipe('x', 3), 'cpu', 1)}.lock"
    lock.write_text(json.dumps({"host": "node-that-died", "pid": os.getpid(), "token": "t0"}))
    started = time.monotonic()
    store.get(ToyRecipe("x", 3), "cpu", 1, _make, _counting_trainer(counter))
    assert len(counter) == 1 and time.monotonic() - started >= 0.5 and not lock.exists()


def test_a_live_lock_with_a_heartbeat_is_waited_for_not_broken(tmp_path):
    path, ready, held_until_release = tmp_path / "k.lock", threading.Event(), []

    def hold():
        with EntryLock(path, heartbeat_s=0.05) as holder:
            ready.set()
            time.sleep(1.5)  # three times the waiter's stale_after_s
            held_until_release.append((holder.held(), time.monotonic()))

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    with EntryLock(path, stale_after_s=0.5):
        acquired = time.monotonic()
    thread.join()
    assert held_until_release[0][0] and acquired >= held_until_release[0][1]


def test_a_lost_link_reply_still_takes_the_lock(tmp_path):
    """NFS may apply a link() and lose its reply; the retry sees EEXIST, the link count says it is ours."""
    lock = EntryLock(tmp_path / "k.lock")
    lock._private.write_text("{}")
    os.link(lock._private, lock.path)  # the first, "lost" link
    assert lock._try_link() and lock.held()


def test_breaking_a_stale_lock_that_a_new_holder_just_took_puts_it_back(tmp_path, monkeypatch):
    """Between the waiter's look and its rename() a new holder may take the lock: the waiter links it back."""
    path = tmp_path / "k.lock"
    path.write_text(json.dumps({"host": "node-that-died", "pid": 1, "token": "old"}))
    waiter, real_rename = EntryLock(path, stale_after_s=0.0), os.rename

    def new_holder_first(src, dst):
        Path(src).unlink()
        Path(src).write_text(json.dumps({"host": "node-b", "pid": 2, "token": "new"}))  # a new inode
        real_rename(src, dst)

    waiter._break_if_stale()  # first look: remembers the lock's inode and mtime
    monkeypatch.setattr(os, "rename", new_holder_first)
    waiter._break_if_stale()  # unchanged for stale_after_s = 0: breaks, but renames the new holder's lock
    assert json.loads(path.read_text())["token"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.lock"]
