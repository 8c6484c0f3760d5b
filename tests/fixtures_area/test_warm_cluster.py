"""fixtures.warm with submitit's local executor: two tiny recipes trained in parallel jobs into one cache, and
a job killed mid-training (a submitit job) leaves nothing trusted and is retrained by the next warm (the Slurm
path differs only in submitit's executor)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.recipes import cache_identity, recipe_for
from fixtures.warm import Job, main as warm, missing_jobs
from losslab.cache import NotCached, TrainedNetCache, entry_key
from losslab.seeds import claim_seed

pytest.importorskip("submitit")

REPO = Path(__file__).resolve().parents[2]
TINY = ("tiny-teacher-fnn", "lp17-train-teacher-relu")  # synthetic teacher data, < 1 s of training each

# a warm job of tiny-teacher-fnn run 0 killed while saving: it leaves a partial weights file, writes its pid,
# then sleeps until killed
HANGING_JOB = """
import os, sys, time
from fixtures.recipes import cache_identity, make_model, recipe_for
from losslab.cache import NotCached, TrainedNetCache, entry_key
recipe, seed, marker = recipe_for("tiny-teacher-fnn", "cpu"), int(sys.argv[1]), sys.argv[2]
identity = cache_identity(recipe)
def hang(model):
    store = TrainedNetCache()
    (store.root / (entry_key(identity, "cpu", seed) + ".safetensors.partial.tmp")).write_bytes(bytes(64))
    with open(marker, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(3600)
TrainedNetCache().get(identity, "cpu", seed, lambda: make_model(recipe, seed), hang)
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.chdir(REPO)  # the jobs import fixtures/ from the repository root
    return TrainedNetCache(tmp_path / "cache")


def _seed(name, run=0):
    return claim_seed(recipe_for(name, "cpu").seed_claim, run)


def test_local_executor_trains_two_recipes_in_parallel_jobs_into_one_cache(cache, capsys):
    assert [j.name for j in missing_jobs(list(TINY), "cpu", 1, cache, "cpu")] == list(TINY)
    assert warm(["--executor", "local", "--tier", "cpu", *TINY]) == 0
    out = capsys.readouterr().out
    assert "2 network(s) missing" in out and out.count(": job ") == 2  # one submitit job per network
    for name in TINY:
        assert cache.is_cached(cache_identity(recipe_for(name, "cpu")), "cpu", _seed(name))
    assert missing_jobs(list(TINY), "cpu", 1, cache, "cpu") == []
    assert warm(["--executor", "local", "--tier", "cpu", *TINY]) == 0  # nothing left to submit
    assert "0 network(s) missing" in capsys.readouterr().out


def test_a_job_killed_mid_training_is_retrained_by_the_next_warm(cache, tmp_path, capsys):
    import submitit
    name, seed, marker = TINY[0], _seed(TINY[0]), tmp_path / "pid"
    executor = submitit.AutoExecutor(folder=cache.root / "jobs", cluster="local")
    executor.update_parameters(timeout_min=5)
    job = executor.submit(submitit.helpers.CommandFunction([sys.executable, "-c", HANGING_JOB, str(seed), str(marker)]))
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # killed mid-training, as by a node failure
    with pytest.raises((subprocess.CalledProcessError, submitit.core.utils.FailedJobError)):
        job.result()
    recipe = recipe_for(name, "cpu")
    key = entry_key(cache_identity(recipe), "cpu", seed)
    assert (cache.root / f"{key}.lock").exists() and list(cache.root.glob("*.tmp"))  # what the killed job left
    assert not cache.is_cached(cache_identity(recipe), "cpu", seed)
    with pytest.raises(NotCached, match=f"{name} tier cpu seed {seed}"):  # what --require-cached would see
        cache.get(cache_identity(recipe), "cpu", seed, lambda: None, lambda m: {}, train_missing=False)
    assert missing_jobs([name], "cpu", 1, cache, "cpu") == [Job(name, "cpu", 0, seed)]
    assert warm(["--tier", "cpu", name]) == 0  # inline: the lock's process is gone, so it is broken at once
    assert "1 network(s) missing" in capsys.readouterr().out
    assert cache.is_cached(cache_identity(recipe), "cpu", seed)
    assert {p.name for p in cache.root.iterdir()} == {"jobs", f"{key}.json", f"{key}.safetensors"}


def test_slurm_executor_submits_one_array_task_per_missing_network(cache, tmp_path, monkeypatch, capsys):
    """The Slurm path up to sbatch: a fake sbatch records the job script submitit writes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\ncp "$1" "$(dirname "$0")/job.sh"\necho "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\n")  # submitit checks that srun exists
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
    assert warm(["--executor", "slurm", "--tier", "paper", "--runs", "2", "--partition", "gpu", "--gpus-per-job", "1",
                 "--timeout-min", "720", "--device", "cuda", "--no-wait", TINY[0]]) == 0
    out = capsys.readouterr().out
    assert f"{TINY[0]} run 0: job 4242_0" in out and f"{TINY[0]} run 1: job 4242_1" in out
    script = (bin_dir / "job.sh").read_text()
    for line in ("--array=0-1", "--partition=gpu", "--gpus-per-node=1", "--time=720", "--job-name=losslab-warm"):
        assert f"#SBATCH {line}" in script
    assert str(cache.root / "jobs") in script
