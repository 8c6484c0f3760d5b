"""--shard I/N and `losslab merge`: disjoint shards whose merged report equals one run's; incomplete or
overlapping shard sets refused; --require-cached lists the missing networks instead of training."""

import argparse
import json
import textwrap

import pytest

from losslab.cli import main as cli_main
from losslab.report.options import parse_shard
from losslab.report.sharding import shard_modules
from losslab.report.write import comparable

pytest_plugins = ["pytester"]

CONFTEST = 'pytest_plugins = ["losslab.report.options", "losslab.report.plugin", "losslab.report.sharding"]\n'

MODULES = {
    "test_a.py": '''
        import pytest

        @pytest.mark.claim("TST1-PASS")
        def test_pass(evidence, report_figure_dir):
            (report_figure_dir / "TST1-PASS-plot.png").write_bytes(b"png")
            evidence.record(measured={"ratio": 0.5}, figures=["TST1-PASS-plot.png"])

        @pytest.mark.claim("TST1-PASS", control=True)
        def test_pass_control_rejects():
            assert True
        ''',
    "test_b.py": '''
        import pytest

        @pytest.mark.claim("TST1-XF")
        @pytest.mark.xfail(strict=True, reason="not reproduced: ratio 2.0")
        def test_xf(evidence):
            evidence.record(measured=2.0)
            assert 2.0 <= 1

        @pytest.mark.claim("TST1-SKIP")
        def test_skip():
            pytest.skip("needs --data-dir")
        ''',
    "test_c.py": '''
        import pytest

        @pytest.mark.claim("TST1-CRASH")
        def test_crash():
            raise RuntimeError("instrument broke")

        @pytest.mark.claim("TST1-PASS")
        def test_pass_too(evidence):
            evidence.record(measured={"ratio": 0.4})

        def test_unmarked():
            pass
        ''',
}


@pytest.fixture
def project(plugin_project):
    plugin_project.makeconftest(CONFTEST)
    plugin_project.makepyfile(**{name[:-3]: textwrap.dedent(body) for name, body in MODULES.items()})
    return plugin_project


def _report(folder):
    return json.loads((folder / "claims.json").read_text())


def _ran(folder):
    return {t["nodeid"] for row in _report(folder)["claims"] for t in row["tests"]}


def test_merged_shards_equal_a_single_run(project):
    project.runpytest("-p", "no:xdist", "--report", "single")
    for i in (1, 2):  # balanced by the single run's test durations
        project.runpytest("-p", "no:xdist", "--shard", f"{i}/2", "--shard-weights", "single", "--report", f"shard{i}")
    shard1, shard2 = _ran(project.path / "shard1"), _ran(project.path / "shard2")
    assert shard1 and shard2 and not shard1 & shard2  # both ran something, nothing twice
    assert cli_main(["merge", "shard1", "shard2", "-o", "merged", "--reference", "reference"]) == 0
    assert comparable(_report(project.path / "merged")) == comparable(_report(project.path / "single"))
    assert (project.path / "merged" / "figures" / "TST1-PASS-plot.png").read_bytes() == b"png"
    assert (project.path / "merged" / "claims.md").read_text().count("TST1-") >= 1


def test_merge_refuses_a_missing_or_repeated_shard(project, capsys):
    for i in (1, 2):
        project.runpytest("-p", "no:xdist", "--shard", f"{i}/2", "--report", f"shard{i}")
    project.runpytest("-p", "no:xdist", "--report", "unsharded")
    assert cli_main(["merge", "shard1", "-o", "out"]) == 2
    assert "shard(s) 2/2 missing" in capsys.readouterr().err
    assert cli_main(["merge", "shard1", "shard1", "shard2", "-o", "out"]) == 2
    assert "shard 1/2 twice" in capsys.readouterr().err
    assert cli_main(["merge", "shard1", "unsharded", "-o", "out"]) == 2
    assert "shard.json is missing" in capsys.readouterr().err
    assert not (project.path / "out").exists()


def test_shards_keep_modules_whole_and_balance_counts_or_durations():
    nodeids = [f"m{m}.py::t{t}" for m, size in enumerate((5, 3, 2, 2)) for t in range(size)]
    assert shard_modules(nodeids, 2) == {"m0.py": 1, "m1.py": 2, "m2.py": 2, "m3.py": 1}  # 7 and 5 tests
    # m3's two tests took 100 s each last time; the other modules' tests weigh their mean, 100 s as well
    assert shard_modules(nodeids, 2, {"m3.py::t0": 100.0, "m3.py::t1": 100.0}) == shard_modules(nodeids, 2)
    seconds = {nodeid: 600.0 if nodeid.startswith("m3.py") else 1.0 for nodeid in nodeids}
    assert shard_modules(nodeids, 2, seconds) == {"m3.py": 1, "m0.py": 2, "m1.py": 2, "m2.py": 2}
    assert parse_shard("2/8") == (2, 8)
    for bad in ("0/2", "3/2", "2", "a/b"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(bad)


def test_require_cached_errors_at_once_and_lists_what_is_missing(project, tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSLAB_CACHE_DIR", str(tmp_path / "empty-cache"))
    project.makeconftest('pytest_plugins = ["losslab.report.options", "losslab.report.plugin", "losslab.report.sharding",\n'
                         '                  "fixtures.trained"]\n')
    project.makepyfile(test_net='''
        import pytest

        @pytest.mark.claim("TST1-NONE")
        def test_needs_a_net(trained_net):
            trained_net("tiny-teacher-fnn", run_index=1)
        ''')
    result = project.runpytest("-p", "no:xdist", "--require-cached", "--tier", "cpu", "test_net.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*networks missing from the cache (--require-cached)*",
                                 "tiny-teacher-fnn tier cpu seed * (cpu): key *, no metadata; warm: python -m "
                                 "fixtures.warm --tier cpu --runs 2 tiny-teacher-fnn",
                                 "1 network(s) missing*"])
    assert not (tmp_path / "empty-cache").exists() or not list((tmp_path / "empty-cache").glob("*.json"))
