"""pytest plugin for running the suite on several machines (docs/cluster.md).

- `--shard I/N` runs the I-th of N disjoint parts of the collected tests; a test module stays in one shard
  (its module-scoped fixtures and memos are built once), modules go greedily to the least-loaded shard, by
  test count or, with `--shard-weights REPORT`, by the test durations of a previous report.
  With `--report DIR` the shard also writes DIR/shard.json, which `python -m losslab merge` checks.
- `--require-cached`: a test whose trained network is not in the cache errors at once instead of training
  (losslab.cache.NotCached); the terminal summary lists every missing network and the warm command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SHARD_FILE = "shard.json"
NOT_CACHED = "losslab.cache.NotCached: "
REQUIRE_CACHED_ENV = "LOSSLAB_REQUIRE_CACHED"  # read by losslab.cache.require_cached
_previous_env_key = pytest.StashKey()


class MissingNetworks:
    """Collects the NotCached errors of the run's tests (also from xdist workers) and lists them at the end."""

    def __init__(self):
        self.missing: set[str] = set()

    def pytest_runtest_logreport(self, report):
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", "") or ""
        if report.failed and message.startswith(NOT_CACHED):
            self.missing.add(message.removeprefix(NOT_CACHED))

    def pytest_terminal_summary(self, terminalreporter):
        if not self.missing:
            return
        terminalreporter.section("networks missing from the cache (--require-cached)")
        for line in sorted(self.missing):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"{len(self.missing)} network(s) missing: warm them (docs/cluster.md), then rerun")


def pytest_configure(config):
    if config.getoption("require_cached"):
        # an environment variable, so xdist workers and every caller of the cache (also outside trained_net) obey
        config.stash[_previous_env_key] = os.environ.get(REQUIRE_CACHED_ENV)
        os.environ[REQUIRE_CACHED_ENV] = "1"
        config.pluginmanager.register(MissingNetworks(), "losslab-missing-networks")


def pytest_unconfigure(config):
    if _previous_env_key in config.stash:
        previous = config.stash[_previous_env_key]
        if previous is None:
            os.environ.pop(REQUIRE_CACHED_ENV, None)
        else:
            os.environ[REQUIRE_CACHED_ENV] = previous


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def shard_modules(nodeids: list[str], count: int, seconds: dict[str, float] | None = None) -> dict[str, int]:
    """{module path: shard index 1..count}: heaviest modules first, each to the least-loaded shard.

    A test weighs its `seconds` in a previous report (tests not in it: the mean of those that are), else 1."""
    seconds = seconds or {}
    default = sum(seconds.values()) / len(seconds) if seconds else 1.0
    weights: dict[str, float] = {}
    for nodeid in nodeids:
        weights[module_of(nodeid)] = weights.get(module_of(nodeid), 0.0) + seconds.get(nodeid, default)
    loads = [0.0] * count
    assignment = {}
    for module in sorted(weights, key=lambda m: (-weights[m], m)):
        lightest = loads.index(min(loads))
        assignment[module] = lightest + 1
        loads[lightest] += weights[module]
    return assignment


def test_seconds(report_path: str) -> dict[str, float]:
    """{node id: seconds} of the tests in a report's claims.json (a folder or the file)."""
    path = Path(report_path)
    report = json.loads((path / "claims.json" if path.is_dir() else path).read_text(encoding="utf-8"))
    return {t["nodeid"]: float(t["duration_s"]) for row in report["claims"] for t in row["tests"]}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """--shard I/N: keep this shard's modules (runs after the other filters, so the loads are what runs)."""
    shard = config.getoption("shard")
    if shard is None:
        return
    index, count = shard
    weights_from = config.getoption("shard_weights")
    assignment = shard_modules([item.nodeid for item in items], count,
                               test_seconds(weights_from) if weights_from else None)
    keep = [item for item in items if assignment[module_of(item.nodeid)] == index]
    drop = [item for item in items if assignment[module_of(item.nodeid)] != index]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    shard, report_dir = config.getoption("shard"), config.getoption("report_dir", None)
    if shard is None or not report_dir or hasattr(config, "workerinput"):
        return
    Path(report_dir).mkdir(parents=True, exist_ok=True)
    (Path(report_dir) / SHARD_FILE).write_text(json.dumps({"shard": shard[0], "of": shard[1]}) + "\n")
