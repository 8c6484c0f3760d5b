"""Progress events and their table (losslab/report/progress.py, `python -m losslab progress`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from losslab.cli import main
from losslab.report.progress import ProgressLog, read_events, render, runs, train_seconds_per_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_table_states_eta_and_train_seconds(tmp_path, capsys):
    log = ProgressLog(tmp_path, tier="gpu")
    log.event("request", recipe="a", claim="WZE17-FIG2", seed=1)
    log.event("start", recipe="a", claim="WZE17-FIG2", seed=1, epochs=10)
    log.event("epoch", recipe="a", claim="WZE17-FIG2", seed=1, epoch=2, epochs=10, seconds=4.0)
    log.event("start", recipe="b", claim="WZE17-FIG2", seed=2, epochs=3)
    log.event("epoch", recipe="b", claim="WZE17-FIG2", seed=2, epoch=3, epochs=3, seconds=6.0)
    log.event("done", recipe="b", claim="WZE17-FIG2", seed=2, train_seconds=6.5)
    with (tmp_path / "progress.jsonl").open("a") as handle:
        handle.write('{"t": 1, "kind": "ep')  # a line still being written is skipped
    rows = {(r["recipe"], r["seed"]): r for r in runs(read_events(tmp_path), now=0)}
    assert rows["a", 1]["state"] == "training" and rows["a", 1]["eta"] == 16.0  # 2 s/epoch x 8 epochs left
    assert rows["b", 2]["state"] == "done" and rows["b", 2]["seconds"] == 6.5 and rows["b", 2]["tier"] == "gpu"
    assert train_seconds_per_recipe(read_events(tmp_path)) == {"b": 6.5}
    assert "1 training, 1 trained; ETA of the running runs: 16 s" in render(list(rows.values()))
    assert main(["progress", str(tmp_path)]) == 0
    assert "2/10" in capsys.readouterr().out


def test_trained_net_writes_events_and_the_report_gets_train_seconds(tmp_path):
    report = tmp_path / "report"
    env = dict(os.environ, LOSSLAB_CACHE_DIR=str(tmp_path / "cache"), LOSSLAB_SCALE="full")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-p", "no:cacheprovider",
                           str(Path(__file__).parent / "_progress_case.py"), "--report", str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    kinds = [e["kind"] for e in read_events(report)]
    assert kinds[:2] == ["request", "start"] and "epoch" in kinds and kinds[-1] == "done"
    assert json.loads((report / "train_seconds.json").read_text()).keys() == {"tiny-teacher-fnn"}
    assert "train seconds per recipe" in out
