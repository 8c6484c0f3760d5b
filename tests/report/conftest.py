"""Shared pieces of the report tests: a tiny claim catalog and project for pytester runs.

pytester itself is enabled per module (`pytest_plugins = ["pytester"]` in the test module):
pytest refuses `pytest_plugins` in a conftest.py below the rootdir.
"""

import struct
import textwrap
import zlib
from pathlib import Path

import pytest

TINY_CLAIMS = {
    "TST1-PASS": "math", "TST1-XF": "numeric", "TST1-CTRL": "math",
    "TST1-SKIP": "training", "TST1-XPASS": "numeric", "TST1-CRASH": "numeric", "TST1-NONE": "math",
}

PLUGIN_CONFTEST = 'pytest_plugins = ["losslab.report.options", "losslab.report.plugin"]\n'

INI = textwrap.dedent("""\
    [pytest]
    addopts = -p no:cacheprovider
    xfail_strict = true
    """)


def write_reference(root: Path) -> Path:
    """reference/ with one paper TST1 and the claims of TINY_CLAIMS (statements with HTML specials)."""
    ref = root / "reference"
    (ref / "TST1").mkdir(parents=True, exist_ok=True)
    (ref / "papers.toml").write_text('[[paper]]\nkey = "TST1"\ntitle = "A test paper"\nfile = "tst1.txt"\n')
    for cid, kind in TINY_CLAIMS.items():
        (ref / "TST1" / f"{cid}.toml").write_text(
            f'id = "{cid}"\npaper = "TST1"\nlocus = "Sec. 1 <{cid}>"\nkind = "{kind}"\n'
            f'statement = "Claim {cid}: a < b & c > d"\ncriterion = "ratio <= 1"\n'
            f'[paper_values]\nratio = 0.5\n')
    return ref


def tiny_png() -> bytes:
    """A valid 1x1 red PNG (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


@pytest.fixture
def tiny_reference(tmp_path) -> Path:
    return write_reference(tmp_path)


@pytest.fixture
def clean_env(monkeypatch):
    """No LOSSLAB_* / xdist variables of the outer run leak into the inner runs."""
    for name in ("LOSSLAB_TIER", "LOSSLAB_DEVICE", "LOSSLAB_DATA_DIR", "LOSSLAB_REPORT_DIR",
                 "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    return monkeypatch


@pytest.fixture
def plugin_project(request, clean_env):
    """A pytester folder with the tiny reference/, an ini and the plugin loaded (needs pytester)."""
    pytester = request.getfixturevalue("pytester")
    write_reference(pytester.path)
    pytester.makeini(INI)
    pytester.makeconftest(PLUGIN_CONFTEST)
    return pytester


@pytest.fixture
def png_bytes() -> bytes:
    return tiny_png()


def make_report(reference: Path, outcomes: list | None = None, environment: dict | None = None) -> dict:
    """A report dict built by the plugin's own table code from hand-made test outcomes."""
    from losslab.catalog import load_catalog
    from losslab.report.claims_table import TestOutcome, build_rows
    from losslab.report.write import report_dict
    if outcomes is None:
        outcomes = [
            TestOutcome("t.py::test_pass", "TST1-PASS", "claim", "passed", duration_s=0.5,
                        evidence={"measured": {"ratio": 0.5}, "uncertainty": {"ratio": 0.01}, "seeds": [1, 2],
                                  "criterion": "ratio <= 1 <script>alert(1)</script>",
                                  "figures": ["TST1-PASS-plot.png"]}),
            TestOutcome("t.py::test_pass_control", "TST1-PASS", "control", "passed"),
            TestOutcome("t.py::test_xf", "TST1-XF", "claim", "xfailed", reason="not reproduced: ratio 2.0",
                        evidence={"measured": 2.0, "note": "Tom & Jerry's \"note\""}),
            TestOutcome("t.py::test_skip", "TST1-SKIP", "claim", "skipped", reason="needs --data-dir"),
        ]
    env = environment or {"tier": "cpu", "device": "cpu", "git_commit": "abc123", "torch": "2.13.0"}
    return report_dict(build_rows(load_catalog(reference), outcomes), env)


@pytest.fixture
def sample_report(tiny_reference) -> dict:
    return make_report(tiny_reference)
