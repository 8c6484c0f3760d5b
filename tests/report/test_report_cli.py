"""The command line: list, show, compare (exit code on regression), the pytest command of run."""

import copy
import json
import sys
from pathlib import Path

from losslab.cli import main, pytest_command
from losslab.report.write import write_report

REPO = Path(__file__).resolve().parents[2]


def test_list_filters_by_paper_and_kind(capsys):
    assert main(["list", "--reference", str(REPO / "reference"), "--paper", "WZE17", "--kind", "math"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and lines[-1].endswith("claim(s)")
    assert all(line.startswith("WZE17-") and " math " in line for line in lines[:-1])
    assert int(lines[-1].split()[0]) == len(lines) - 1 >= 1


def test_list_reports_a_missing_reference_folder(tmp_path, capsys):
    assert main(["list", "--reference", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_show_prints_the_markdown(tmp_path, sample_report, capsys):
    write_report(tmp_path, sample_report["claims"], sample_report["environment"])
    assert main(["show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Claim report") and "| TST1-PASS | reproduced |" in out


def test_compare_exit_code_on_regression(tmp_path, sample_report, capsys):
    new = copy.deepcopy(sample_report)
    next(r for r in new["claims"] if r["id"] == "TST1-PASS")["status"] = "error"
    (tmp_path / "old.json").write_text(json.dumps(sample_report))
    (tmp_path / "new.json").write_text(json.dumps(new))
    old_path, new_path = str(tmp_path / "old.json"), str(tmp_path / "new.json")
    assert main(["compare", old_path, new_path]) == 0
    assert main(["compare", old_path, new_path, "--fail-on-regression"]) == 1
    assert main(["compare", old_path, old_path, "--fail-on-regression"]) == 0
    assert "TST1-PASS: reproduced -> error" in capsys.readouterr().out


def test_run_builds_a_claim_id_pytest_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert pytest_command("WZE17-T1", ["-x"]) == [sys.executable, "-m", "pytest", "--claim-id", "WZE17-T1", "-x"]
    (tmp_path / "claims").mkdir()
    assert pytest_command("WZE17-T1", [])[-1] == "claims"
    assert pytest_command("WZE17-T1", ["claims", "-q"])[-2:] == ["claims", "-q"]
