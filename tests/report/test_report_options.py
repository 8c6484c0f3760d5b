"""The options plugin: known before pytest parses the command line (pytest11 entry point), and the
rootdir trap of `pytest --report /abs/existing-dir` stops with the fix."""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _entry_point_installed() -> bool:
    return any(ep.value == "losslab.report.options" for ep in importlib.metadata.entry_points(group="pytest11"))


@pytest.mark.skipif(not _entry_point_installed(), reason="package not installed with its pytest11 entry point "
                                                         "(pip install -e .)")
def test_an_existing_report_folder_outside_the_project_is_not_taken_for_the_rootdir(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    run = lambda *args: subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
                                        "--co", "-q", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    trapped = run("--report", str(report))
    assert trapped.returncode != 0 and f"--report={report}" in trapped.stdout + trapped.stderr, trapped.stderr[-2000:]
    one_word = run(f"--report={report}", "tests/foundation/test_catalog.py")
    assert one_word.returncode == 0, one_word.stdout[-2000:]
