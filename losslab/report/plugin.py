"""The pytest plugin of the claim suite: options, the `claim` marker, evidence, the report.

- `@pytest.mark.claim("WZE17-T1")` ties a test to a catalog claim (an unknown id stops collection);
  `parts=["mlenet", "{net}"]` names the claim's parts it measures ({name}: from the test's
  parameters; default: all parts); `control=True` marks a negative control: a test that passes
  when the claim's check rejects a setting with the claimed mechanism removed (docs/verdicts.md).
  When the whole claims/ tree is collected, a part that no test names stops collection.
- fixtures: `evidence` (record measured vs paper), `claim` (the catalog entry), `tier`, `device`,
  `data_dir`.
- options: --tier, --scale, --device, --data-dir, --report (defaults from LOSSLAB_* environment variables);
  --claim-id ID (run only the tests of these claims), --claim-progress (print which claim runs).
- figures: the `report_figure_dir` fixture is the folder for figure files (`<report>/figures/`);
  a test saves `NAME.png` there and records `evidence.record(figures=["NAME.png"])` (see
  losslab/report/figures.py); claims.html shows them.
- Hypothesis profiles: "ci" (derandomized, the default) and "nightly" (deeper, random); pick one
  with `--hypothesis-profile`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from losslab.catalog import CatalogError, load_catalog
from losslab.report.claims_table import TestOutcome, build_rows, headline_text, outcome_from_report
from losslab.report.evidence import CLAIM_KEY, PARTS_KEY, Evidence, evidence_from_properties
from losslab.report.write import write_report

settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None, database=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=400, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("LOSSLAB_HYPOTHESIS_PROFILE", "ci"))

_catalog_key = pytest.StashKey()
_outcomes_key = pytest.StashKey()
# pytest_runtest_logreport receives only the report; the plugin keeps the config it configured.
_session_config = None
# Configs configured and not yet unconfigured: a nested in-process run (pytester) must not leave
# the outer session's hooks pointing at its own, finished config.
_config_stack: list = []


def _cuda_available() -> bool:
    # torch.cuda.is_available() queries the driver without creating a CUDA context.
    import torch
    return torch.cuda.is_available()


def resolve_tier(config) -> str:
    tier = config.getoption("tier")
    if tier == "auto":
        tier = "gpu" if config.getoption("device") != "cpu" and _cuda_available() else "cpu"
    return tier


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(claim_id, parts=None, control=False): ties a test to a catalog "
                                       "claim and the parts it measures; control=True marks its negative control")
    try:
        config.stash[_catalog_key] = load_catalog(Path(config.rootpath) / "reference")
    except CatalogError as exc:
        raise pytest.UsageError(f"claim catalog: {exc}") from exc
    config.stash[_outcomes_key] = {}
    config.losslab_tier = resolve_tier(config)
    global _session_config
    _session_config = config
    _config_stack.append(config)


def pytest_unconfigure(config):
    global _session_config
    if config in _config_stack:
        _config_stack.remove(config)
    _session_config = _config_stack[-1] if _config_stack else None


def pytest_report_header(config):
    data_dir = config.getoption("data_dir") or "(none: set --data-dir or LOSSLAB_DATA_DIR)"
    return [f"losslab: tier={config.losslab_tier} scale={config.getoption('scale')} device={config.getoption('device')} "
            f"data-dir={data_dir} hypothesis-profile={settings._current_profile} "
            f"claims in catalog={len(config.stash[_catalog_key].claims)}"]


def _claim_marker(item):
    markers = list(item.iter_markers("claim"))
    if not markers:
        return None
    marker = markers[0]
    if len(markers) > 1 or len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise ValueError(f"{item.nodeid}: one claim per test, as @pytest.mark.claim(\"ID\") "
                         f"or @pytest.mark.claim(\"ID\", control=True)")
    return marker.args[0], bool(marker.kwargs.get("control", False))


def _marker_parts(item, claim) -> list[str]:
    """The part ids a test names: parts=[...] with {param} filled from its parameters; default all parts."""
    marker = next(item.iter_markers("claim"))
    named = marker.kwargs.get("parts")
    if named is None:
        return claim.part_ids()
    params = getattr(getattr(item, "callspec", None), "params", {})
    try:
        parts = [str(p).format(**params) for p in ([named] if isinstance(named, str) else named)]
    except KeyError as exc:
        raise ValueError(f"{item.nodeid}: parts={named!r} uses {exc} which is not a parameter of the test") from None
    unknown = [p for p in parts if p not in claim.parts]
    if unknown:
        raise ValueError(f"{item.nodeid}: part(s) {unknown} of claim {claim.id} are not in {claim.source_file} "
                         f"[[parts]] ({claim.part_ids()})")
    return parts


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """Check claim markers as items are made, so a bad id is a collection error of its module."""
    result = yield
    items = result if isinstance(result, list) else [result]
    catalog = collector.config.stash[_catalog_key]
    for item in items:
        if not isinstance(item, pytest.Item):
            continue
        found = _claim_marker(item)
        if found is None:
            continue
        claim_id, control = found
        if claim_id not in catalog:
            raise collector.CollectError(f"{item.nodeid}: unknown claim id {claim_id!r}: not in reference/ "
                                         f"(add reference/<PAPER>/{claim_id}.toml or fix the id)")
        try:
            parts = _marker_parts(item, catalog[claim_id])
        except ValueError as exc:
            raise collector.CollectError(str(exc)) from None
        item.user_properties.append((CLAIM_KEY, f"{claim_id}|{'control' if control else 'claim'}"))
        item.user_properties.append((PARTS_KEY, json.dumps(parts)))
    return result


def _item_parts(item) -> list[str]:
    return next((json.loads(v) for k, v in item.user_properties if k == PARTS_KEY), [])


def parts_named_by_no_test(config, items) -> list[str]:
    """'file: part X' for every part of a tested claim that no collected claim test names, when all of
    claims/ was collected (only a whole-tree collection can tell; a claim with no test at all is
    'not covered' in the report)."""
    claims_dir = Path(config.rootpath) / "claims"
    modules = {str(p) for p in claims_dir.rglob("test_*.py")}
    collected = {str(item.path) for item in items if _claim_marker(item) is not None}
    if not modules or not modules <= collected:
        return []
    named: dict[str, set[str]] = {}
    for item in items:
        found = _claim_marker(item)
        if found is not None and not found[1]:
            named.setdefault(found[0], set()).update(_item_parts(item))
    catalog = config.stash[_catalog_key]
    return [f"{catalog[cid].source_file}: part {pid!r} is named by no claim test"
            for cid in sorted(named) if cid in catalog for pid in catalog[cid].parts if pid not in named[cid]]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Before any other deselection: every catalog part is named by a claim test (whole-tree runs);
    then --claim-id keeps only the tests of the named claims (an unknown id is a usage error)."""
    missing = parts_named_by_no_test(config, items)
    if missing:
        raise pytest.UsageError("claim parts without a test (add a test naming the part, or remove the part):\n  "
                                + "\n  ".join(missing))
    wanted = set(config.getoption("claim_ids"))
    if not wanted:
        return
    unknown = sorted(wanted - set(config.stash[_catalog_key].ids()))
    if unknown:
        raise pytest.UsageError(f"--claim-id: unknown claim id(s) {unknown}: not in reference/")
    keep, drop = [], []
    for item in items:
        found = _claim_marker(item)
        (keep if found is not None and found[0] in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def report_figure_dir(pytestconfig, tmp_path_factory) -> Path:
    """Folder for figure files: <--report>/figures, or a temporary folder when no report is written.

    Save `NAME.png` here (name it after the claim id, e.g. "WZE17-FIG2-spectrum.png") and record
    `evidence.record(figures=["NAME.png"])`; claims.html embeds it from figures/NAME.png.
    """
    report_dir = pytestconfig.getoption("report_dir")
    if not report_dir:
        return tmp_path_factory.mktemp("figures")
    folder = Path(report_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def claim(request):
    """The catalog entry of this test's claim."""
    found = _claim_marker(request.node)
    if found is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the claim/evidence fixtures need @pytest.mark.claim(\"ID\")")
    return request.config.stash[_catalog_key][found[0]]


@pytest.fixture
def evidence(request, claim):
    """Record measured values for the report: evidence.record(measured=..., criterion=..., ...)."""
    return Evidence(claim.id, request.node.user_properties, claim.paper_values, claim.part_ids())


@pytest.fixture(scope="session")
def tier(pytestconfig) -> str:
    """The tier in force: cpu, gpu or paper."""
    return pytestconfig.losslab_tier


@pytest.fixture(scope="session")
def scale(pytestconfig) -> str:
    """The scale in force: full, or smoke (code paths only; results are never evidence)."""
    return pytestconfig.getoption("scale")


@pytest.fixture(scope="session")
def device(pytestconfig) -> str:
    """torch device string for this process; xdist worker gwN takes GPU N mod (visible GPUs)."""
    wanted = pytestconfig.getoption("device")
    if wanted == "cpu" or (wanted == "auto" and not _cuda_available()):
        return "cpu"
    import torch
    if not torch.cuda.is_available():
        pytest.exit("--device cuda was asked for but CUDA is not available", returncode=4)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"cuda:{int(worker.removeprefix('gw')) % torch.cuda.device_count()}"


@pytest.fixture(scope="session")
def data_dir(pytestconfig) -> Path | None:
    """The real-data folder (--data-dir / LOSSLAB_DATA_DIR), or None."""
    value = pytestconfig.getoption("data_dir")
    return Path(value).expanduser() if value else None


def _progress_wanted(config) -> bool:
    return config.getoption("claim_progress") or config.losslab_tier in ("gpu", "paper")


def pytest_runtest_logreport(report):
    if _session_config is None:
        return
    claim_id, role, fields, parts = evidence_from_properties(report.user_properties)
    if claim_id is None:
        return
    if report.when == "setup" and not _is_xdist_worker(_session_config) and _progress_wanted(_session_config):
        # The setup report reaches the controller before the test body runs, also under xdist,
        # whose controller never collects items (so pytest_runtest_logstart cannot name the claim).
        reporter = _session_config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            suffix = " (negative control)" if role == "control" else ""
            reporter.write_line(f"claim {claim_id}: {report.nodeid}{suffix}")
    outcomes = _session_config.stash[_outcomes_key]
    current = outcomes.setdefault(report.nodeid, TestOutcome(report.nodeid, claim_id, role, "passed"))
    current.duration_s += report.duration
    current.parts = parts
    if fields:
        current.evidence = fields
    decided = outcome_from_report(report)
    if decided is None:
        return
    if report.when == "teardown" and current.outcome in ("failed", "xfailed", "error"):
        return  # a teardown error does not hide the verdict of the call
    current.outcome, current.reason, current.strict_xpass = decided


def environment(config) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.rootpath, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {
        "tier": config.losslab_tier, "scale": config.getoption("scale"), "device": config.getoption("device"),
        "cuda_available": _cuda_available(), "data_dir": config.getoption("data_dir"),
        "hypothesis_profile": settings._current_profile, "git_commit": commit,
        "python": platform.python_version(), "platform": platform.platform(),
        **{name: _version(name) for name in ("torch", "numpy", "scipy", "sympy", "hypothesis", "pytest-xdist")},
    }


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_xdist_worker(config) or not config.stash[_outcomes_key] and not config.getoption("report_dir"):
        return
    rows = build_rows(config.stash[_catalog_key], list(config.stash[_outcomes_key].values()),
                      tier=config.losslab_tier, scale=config.getoption("scale"))
    config.losslab_rows = rows
    report_dir = config.getoption("report_dir")
    if report_dir:
        write_report(report_dir, rows, environment(config))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = getattr(config, "losslab_rows", None)
    if not rows or _is_xdist_worker(config):
        return
    ran = [r for r in rows if r["status"] != "not covered"]
    terminalreporter.section("claims")
    for row in ran:
        terminalreporter.write_line(f"{row['id']:<12} {row['status']:<27} {headline_text(row)[:110]}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    terminalreporter.write_line("claims: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    report_dir = config.getoption("report_dir")
    if report_dir:
        terminalreporter.write_line(f"report written to {Path(report_dir) / 'claims.md'} and claims.json")
