"""The suite's command-line options, in one light plugin that pytest loads from its `pytest11` entry point.

Loaded before pytest parses the command line, so the options are known wherever pytest starts; conftest.py
also names it, for a checkout used without installing the package. It imports nothing heavy.
pytest picks its rootdir before it knows which options take values: in `pytest --report /abs/dir` an
existing folder counts as a test path, and outside the project it becomes the rootdir (no pyproject.toml,
no addopts). That case stops with the fix instead of running the wrong suite.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

TIERS = ("auto", "cpu", "gpu", "paper")
SCALES = ("full", "smoke")
DEVICES = ("auto", "cpu", "cuda")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 1 <= I <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N, e.g. 2/8") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 1 <= I <= N")
    return index, count


def pytest_addoption(parser):
    group = parser.getgroup("losslab", "loss-landscape claim suite")
    # the claim run (losslab.report.plugin)
    group.addoption("--tier", choices=TIERS, default=os.environ.get("LOSSLAB_TIER", "auto"),
                    help="scale of the claims: cpu (small, minutes), gpu (nightly), paper (the papers' "
                         "settings); auto = gpu when CUDA is available, else cpu. Env: LOSSLAB_TIER")
    group.addoption("--scale", choices=SCALES, default=os.environ.get("LOSSLAB_SCALE", "full"),
                    help="full: the tier's settings; smoke: the tier's code paths with data, epochs and runs cut "
                         "to a minimum (status 'smoke', never evidence). Env: LOSSLAB_SCALE")
    group.addoption("--device", choices=DEVICES, default=os.environ.get("LOSSLAB_DEVICE", "auto"),
                    help="where tensors live; auto = cuda when available. xdist workers spread over "
                         "the visible GPUs. Env: LOSSLAB_DEVICE")
    group.addoption("--data-dir", default=os.environ.get("LOSSLAB_DATA_DIR"),
                    help="folder with the real datasets (mnist/, cifar10/, ...). Env: LOSSLAB_DATA_DIR")
    group.addoption("--report", dest="report_dir", default=os.environ.get("LOSSLAB_REPORT_DIR"),
                    help="write claims.json, claims.md and claims.html into this folder. Env: LOSSLAB_REPORT_DIR")
    group.addoption("--claim-id", dest="claim_ids", action="append", default=[], metavar="ID",
                    help="run only the tests marked with this claim id (repeatable); other tests are deselected")
    group.addoption("--claim-progress", action="store_true", default=False,
                    help="print 'claim ID: test' as each claim test starts (on by default at tier gpu/paper)")
    # several machines (losslab.report.sharding)
    group.addoption("--shard", type=parse_shard, default=None, metavar="I/N",
                    help="run only the I-th of N disjoint parts of the tests (whole modules); merge the shards' "
                         "reports with `python -m losslab merge`")
    group.addoption("--shard-weights", default=None, metavar="REPORT",
                    help="balance --shard by the test durations of a previous report (folder or claims.json); "
                         "give every shard the same file")
    group.addoption("--require-cached", action="store_true", default=False,
                    help="never train: a test whose network is not in the cache errors at once, and the summary "
                         "lists what is missing (warm it with python -m fixtures.warm)")
    # GPUs (losslab.report.devices)
    group.addoption("--workers-per-gpu", type=int, default=int(os.environ.get("LOSSLAB_WORKERS_PER_GPU", "2")),
                    help="xdist workers per GPU under -n auto (default 2: one trains while another evaluates). "
                         "Env: LOSSLAB_WORKERS_PER_GPU")
    group.addoption("--autocast", choices=("none", "bf16"), default=os.environ.get("LOSSLAB_AUTOCAST", "none"),
                    help="train on CUDA under torch.autocast(bfloat16) (a separate cache entry). "
                         "Env: LOSSLAB_AUTOCAST")
    group.addoption("--channels-last", action="store_true", default=os.environ.get("LOSSLAB_CHANNELS_LAST") == "1",
                    help="train on CUDA in NHWC layout (a separate cache entry). Env: LOSSLAB_CHANNELS_LAST=1")


def report_taken_for_a_test_path(config) -> bool:
    """True when `--report DIR` (two words) named an existing folder outside the invocation folder and pytest,
    which picks the rootdir from every word that is an existing path, found no pyproject.toml because of it."""
    args, here = list(config.invocation_params.args), Path(config.invocation_params.dir)
    if config.inipath is not None or "--report" not in args[:-1]:
        return False
    folder = (here / str(args[args.index("--report") + 1])).resolve()
    return folder.is_dir() and not folder.is_relative_to(here.resolve())


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if report_taken_for_a_test_path(config):
        report = config.getoption("report_dir")
        raise pytest.UsageError(
            f"pytest took the report folder {report} for a test path and picked the rootdir {config.rootpath} "
            f"from it (the folder exists, and pytest picks the rootdir before it reads option values), so the "
            f"project's pyproject.toml is not used. Write --report={report} (one word), or name the tests to "
            f"run (e.g. `pytest claims --report {report}`).")
