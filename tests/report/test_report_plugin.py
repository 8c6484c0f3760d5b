"""The plugin end to end (pytester): status mapping, collection errors, --claim-id, progress lines,
figures, and the same report under xdist and without it."""

import json
import textwrap

import pytest

from losslab.report import plugin
from losslab.report.write import comparable

pytest_plugins = ["pytester"]

STATUS_TESTS = textwrap.dedent('''\
    import pytest

    @pytest.mark.claim("TST1-PASS")
    def test_pass(evidence, report_figure_dir):
        (report_figure_dir / "TST1-PASS-plot.png").write_bytes(PNG)
        evidence.record(measured={"ratio": 0.5}, uncertainty={"ratio": 0.01}, seeds=[1, 2],
                        criterion="ratio <= 1 <&>", dtype="float64", figures=["TST1-PASS-plot.png"])

    @pytest.mark.claim("TST1-PASS", control=True)
    def test_pass_control_rejects():
        assert True  # the check rejected the planted case, as it should

    @pytest.mark.claim("TST1-XF")
    @pytest.mark.xfail(strict=True, reason="not reproduced: ratio 2.0")
    def test_xf(evidence):
        evidence.record(measured=2.0)
        assert 2.0 <= 1

    @pytest.mark.claim("TST1-CTRL")
    def test_ctrl_claim():
        pass

    @pytest.mark.claim("TST1-CTRL", control=True)
    def test_ctrl_accepts_violation():
        assert False, "the check accepted a planted violation"

    @pytest.mark.claim("TST1-SKIP")
    def test_skip():
        pytest.skip("needs --data-dir")

    @pytest.mark.claim("TST1-XPASS")
    @pytest.mark.xfail(strict=True, reason="not reproduced: expected")
    def test_xpass():
        pass

    @pytest.mark.claim("TST1-CRASH")
    def test_crash():
        raise RuntimeError("instrument broke")

    def test_unmarked():
        pass
    ''')

EXPECTED = {"TST1-PASS": "reproduced", "TST1-XF": "not reproduced", "TST1-CTRL": "error",
            "TST1-SKIP": "skipped", "TST1-XPASS": "error", "TST1-CRASH": "error",
            "TST1-NONE": "not covered"}


@pytest.fixture
def project(plugin_project, png_bytes):
    plugin_project.makepyfile(test_status=f"PNG = {png_bytes!r}\n" + STATUS_TESTS)
    return plugin_project


def _report(folder):
    return json.loads((folder / "claims.json").read_text(encoding="utf-8"))


def test_statuses_reasons_and_figures(project, pytestconfig):
    result = project.runpytest_inprocess("--report", "rep", "--tier", "cpu", "--device", "cpu")
    # the nested run handed the plugin's hooks back to this (outer) session
    assert plugin._session_config is pytestconfig
    result.assert_outcomes(passed=4, failed=3, skipped=1, xfailed=1)  # control, strict XPASS, crash
    report = _report(project.path / "rep")
    rows = {r["id"]: r for r in report["claims"]}
    assert {cid: r["status"] for cid, r in rows.items()} == EXPECTED
    assert rows["TST1-SKIP"]["reason"] == "test_status.py::test_skip: needs --data-dir"
    assert "did not reject" in rows["TST1-CTRL"]["reason"]
    assert "expected not to reproduce" in rows["TST1-XPASS"]["reason"]
    assert "ratio 2.0" in rows["TST1-XF"]["reason"]
    assert "crashed: RuntimeError: instrument broke" in rows["TST1-CRASH"]["reason"]
    controls = rows["TST1-PASS"]["negative_controls"]
    assert (controls["passed"], controls["total"]) == (1, 1)
    assert report["summary"]["TST1"]["error"] == 3 and report["summary"]["all"]["reproduced"] == 1
    assert (project.path / "rep" / "figures" / "TST1-PASS-plot.png").is_file()
    page = (project.path / "rep" / "claims.html").read_text(encoding="utf-8")
    assert '<img src="figures/TST1-PASS-plot.png"' in page
    assert "ratio &lt;= 1 &lt;&amp;&gt;" in page and "<&>" not in page
    assert (project.path / "rep" / "claims.md").is_file()


PARTS_TOML = """id = "TST1-PARTS"
paper = "TST1"
locus = "Table 1"
kind = "training"
statement = "Two cells"
criterion = "margin"

[[parts]]
id = "a"
statement = "cell a"

[[parts]]
id = "b"
statement = "cell b"

[criteria.margin]
value = 0.5
source = "paper: Table 1, cell a"
"""

PARTS_TESTS = """
import pytest

@pytest.mark.claim("TST1-PARTS", parts=["{cell}"])
@pytest.mark.parametrize("cell", ["a", "b"])
def test_cell(cell, evidence, claim):
    evidence.headline("gap", 0.25, interval=(0.1, 0.4), paper=0.3)
    assert 0.25 < claim.threshold("margin")

@pytest.mark.claim("TST1-PARTS", parts=["b"], control=True)
def test_cell_b_control(evidence):
    evidence.record(removes="the mechanism")
"""


def test_parts_from_parameters_statuses_per_part_and_headline(plugin_project):
    (plugin_project.path / "reference" / "TST1" / "TST1-PARTS.toml").write_text(PARTS_TOML)
    (plugin_project.path / "claims").mkdir()
    (plugin_project.path / "claims" / "test_parts.py").write_text(PARTS_TESTS)
    result = plugin_project.runpytest_inprocess("claims", "--report", "rep", "--tier", "cpu", "--device", "cpu")
    result.assert_outcomes(passed=3)
    row = next(r for r in _report(plugin_project.path / "rep")["claims"] if r["id"] == "TST1-PARTS")
    assert row["status"] == "reproduced at reduced scale" and row["coverage"] == {"tested": 2, "parts": 2}
    assert {p: v["status"] for p, v in row["parts"].items()} == {"a": "reproduced at reduced scale",
                                                              "b": "reproduced at reduced scale"}
    assert row["criteria"]["margin"] == {"value": 0.5, "source": "paper: Table 1, cell a"}
    assert row["negative_controls"]["tests"][0]["removes"] == "the mechanism"
    md = (plugin_project.path / "rep" / "claims.md").read_text(encoding="utf-8")
    assert "gap = 0.25 [0.1, 0.4] (paper: 0.3) · tier cpu · 2/2 parts tested" in md


def test_a_part_no_test_names_stops_a_whole_tree_run(plugin_project):
    (plugin_project.path / "reference" / "TST1" / "TST1-PARTS.toml").write_text(PARTS_TOML)
    (plugin_project.path / "claims").mkdir()
    (plugin_project.path / "claims" / "test_parts.py").write_text(PARTS_TESTS.replace('["a", "b"]', '["a"]'))
    result = plugin_project.runpytest_inprocess("claims", "--tier", "cpu", "--device", "cpu")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*TST1-PARTS.toml: part 'b' is named by no claim test*"])


def test_an_unknown_part_is_a_collection_error(plugin_project):
    (plugin_project.path / "reference" / "TST1" / "TST1-PARTS.toml").write_text(PARTS_TOML)
    plugin_project.makepyfile(test_bad='import pytest\n\n@pytest.mark.claim("TST1-PARTS", parts=["c"])\n'
                                       'def test_x():\n    pass\n')
    result = plugin_project.runpytest_inprocess("--tier", "cpu", "--device", "cpu")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*part(s) ?'c'? of claim TST1-PARTS are not in*TST1-PARTS.toml*"])


def test_unknown_claim_id_is_a_collection_error(plugin_project):
    pytester = plugin_project
    pytester.makepyfile(test_bad='import pytest\n\n@pytest.mark.claim("TST1-NOPE")\ndef test_x():\n    pass\n')
    result = pytester.runpytest_inprocess("--tier", "cpu", "--device", "cpu")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown claim id 'TST1-NOPE'*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_claim_id_option_selects_one_claim_and_progress_names_it(project):
    result = project.runpytest_inprocess("--claim-id", "TST1-PASS", "--claim-progress", "--tier", "cpu",
                                         "--device", "cpu")
    result.assert_outcomes(passed=2, deselected=7)
    result.stdout.fnmatch_lines(["claim TST1-PASS: test_status.py::test_pass",
                                 "claim TST1-PASS: test_status.py::test_pass_control_rejects (negative control)"])
    quiet = project.runpytest_inprocess("--claim-id", "TST1-XF", "--tier", "cpu", "--device", "cpu")
    quiet.assert_outcomes(xfailed=1, deselected=8)
    assert "claim TST1-XF:" not in quiet.stdout.str()


def test_unknown_claim_id_option_is_a_usage_error(project):
    result = project.runpytest_inprocess("--claim-id", "TST1-NOPE", "--tier", "cpu", "--device", "cpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown claim id(s)*TST1-NOPE*"])


def test_report_is_the_same_with_and_without_xdist(project):
    pytest.importorskip("xdist")
    # The subprocesses only need torch to ask whether CUDA is available; a stub on their path (the
    # pytester folder comes first on PYTHONPATH) saves a slow import per process.
    project.makepyfile(torch='__version__ = "0+stub"\n\nclass cuda:\n    is_available = staticmethod(lambda: False)\n')
    common = ("--tier", "cpu", "--device", "cpu")
    parallel = project.runpytest_subprocess("-n", "2", "--report", "par", *common)
    serial = project.runpytest_subprocess("-p", "no:xdist", "--report", "ser", *common)
    assert parallel.ret == serial.ret == pytest.ExitCode.TESTS_FAILED
    par, ser = _report(project.path / "par"), _report(project.path / "ser")
    assert {r["id"]: r["status"] for r in par["claims"]} == EXPECTED
    assert comparable(par) == comparable(ser)
