"""From test outcomes to one row per catalog claim, with a status and its evidence.

Statuses:
  reproduced      every claim test that ran passed and no negative control failed
  not reproduced  a claim test failed or xfailed (the measured numbers say why)
  error           a test errored (setup/teardown failure, or an exception other than a failed
                  assertion), a negative control passed its check (it cannot discriminate),
                  or a strict xfail passed (the claim now reproduces: update the test)
  skipped         every test of the claim was skipped (the reasons say why)
  not covered     no test of this run names the claim
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from losslab.catalog import Catalog

STATUSES = ("reproduced", "not reproduced", "error", "skipped", "not covered")


@dataclass
class TestOutcome:
    """One test's result: outcome in passed/failed/skipped/xfailed/xpassed/error."""

    __test__ = False  # a record, not a pytest test class

    nodeid: str
    claim_id: str
    role: str  # "claim" or "control" (a negative control: passes when the check rejects)
    outcome: str
    reason: str = ""
    duration_s: float = 0.0
    evidence: dict = field(default_factory=dict)
    strict_xpass: bool = False


def outcome_from_report(report) -> tuple[str, str, bool] | None:
    """(outcome, reason, strict_xpass) of one pytest phase report, or None if it adds nothing.

    A passing setup/teardown adds nothing; the call phase (or a failing/skipping setup) decides.
    """
    xfail_reason = getattr(report, "wasxfail", None)
    if report.when in ("setup", "teardown"):
        if report.failed:
            return "error", _short(report.longreprtext), False
        if report.skipped:
            if xfail_reason is not None:
                return "xfailed", xfail_reason, False
            return "skipped", _skip_reason(report), False
        return None
    if report.passed:
        return ("xpassed", xfail_reason or "", False) if xfail_reason is not None else ("passed", "", False)
    if report.failed:
        text = str(report.longrepr)
        if xfail_reason is not None or text.startswith("[XPASS(strict)]"):
            # pytest marks a strict XPASS as a failed call "[XPASS(strict)] reason", without wasxfail
            return "failed", text if xfail_reason is None else f"[XPASS(strict)] {xfail_reason}", True
        if not _is_check_failure(report):
            return "error", "crashed: " + _short(report.longreprtext), False
        return "failed", _short(report.longreprtext), False
    if xfail_reason is not None:
        return "xfailed", xfail_reason, False
    return "skipped", _skip_reason(report), False


def _is_check_failure(report) -> bool:
    """True when the call failed by an assertion or pytest.fail, not by an unexpected exception."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = getattr(crash, "message", "") or ""
    return crash is None or message.startswith(("AssertionError", "assert ", "Failed", "Failed:"))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return _short(str(longrepr))


def _short(text: str, limit: int = 400) -> str:
    """The most telling line of a failure: the last 'E   ' line, else the last line."""
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    line = errors[0] if errors else (lines[-1] if lines else "")
    return line[:limit]


def claim_status(tests: list[TestOutcome]) -> tuple[str, str]:
    """(status, reason) of one claim from its tests (rules in the module docstring)."""
    if not tests:
        return "not covered", "no test of this run names this claim"
    for t in tests:
        if t.outcome == "error":
            return "error", f"{t.nodeid}: {t.reason}"
        if t.strict_xpass:
            return "error", f"{t.nodeid}: expected not to reproduce, but it did: update the test ({t.reason})"
    for t in tests:
        if t.role == "control" and t.outcome in ("failed", "xpassed"):
            return "error", f"negative control {t.nodeid} did not reject: the check cannot discriminate ({t.reason})"
    claim_tests = [t for t in tests if t.role == "claim"]
    for t in claim_tests:
        if t.outcome in ("failed", "xfailed"):
            return "not reproduced", f"{t.nodeid}: {t.reason}"
    ran = [t for t in claim_tests if t.outcome in ("passed", "xpassed")]
    if ran:
        return "reproduced", ""
    reasons = sorted({t.reason for t in tests if t.outcome == "skipped"})
    return "skipped", "; ".join(reasons) or "no claim test ran"


def build_rows(catalog: Catalog, outcomes: list[TestOutcome]) -> list[dict]:
    """One row per catalog claim, sorted by id; tests inside sorted by node id."""
    by_claim: dict[str, list[TestOutcome]] = {cid: [] for cid in catalog.ids()}
    for o in outcomes:
        by_claim.setdefault(o.claim_id, []).append(o)
    rows = []
    for cid in catalog.ids():
        claim = catalog[cid]
        tests = sorted(by_claim[cid], key=lambda t: t.nodeid)
        status, reason = claim_status(tests)
        controls = [t for t in tests if t.role == "control"]
        rows.append({
            "id": cid, "paper": claim.paper, "locus": claim.locus, "kind": claim.kind,
            "statement": claim.statement, "criterion": claim.criterion,
            "paper_values": claim.paper_values, "status": status, "reason": reason,
            "negative_controls": {"passed": sum(t.outcome == "passed" for t in controls), "total": len(controls)},
            "duration_s": round(sum(t.duration_s for t in tests), 3),
            "tests": [asdict(t) for t in tests],
        })
    return rows


def summary_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    """{paper: {status: count}}, papers in order of first appearance, then "all"."""
    papers = list(dict.fromkeys(row["paper"] for row in rows)) + ["all"]
    counts = {paper: {s: 0 for s in STATUSES} for paper in papers}
    for row in rows:
        counts[row["paper"]][row["status"]] += 1
        counts["all"][row["status"]] += 1
    return counts
