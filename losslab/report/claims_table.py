"""From test outcomes to one row per catalog claim: a status per part, the claim's status, coverage.

A test's status (for each part it names, docs/verdicts.md):
  error                        it crashed (setup/teardown failure or an exception other than a
                               failed assertion), or a strict xfail passed (update the test)
  not reproduced               it failed or xfailed (the measured numbers say why)
  smoke                        it passed at --scale smoke: a code path, never evidence
  inconclusive                 it passed, but recorded `inconclusive`, or a power below what the
                               claim needs (power.detectable > power.needed)
  reproduced at reduced scale  it passed at the cpu/gpu tier of a training claim, or recorded `reduced`
  reproduced                   it passed (math and numeric claims; training claims at the paper tier)
  not run at this tier         it was skipped because the tier cannot test it ("not run at this tier: ...")
  skipped                      it was skipped for another reason (e.g. missing data)
A negative control that did not reject (or crashed) puts every part it names in `error`.
A part's status is the worst of its tests'; a claim's status is the worst of its tested empirical
parts' (identity parts count only when they fail). With no tested part: smoke, not run at this
tier, skipped or not covered, in that order of precedence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from losslab.catalog import Catalog, Claim

TESTED = ("reproduced", "reproduced at reduced scale", "inconclusive", "not reproduced", "error")
UNTESTED = ("smoke", "not run at this tier", "skipped", "not covered")
STATUSES = TESTED + UNTESTED
# Worse is larger; compare's regression rule uses it (a claim whose rank grows regressed).
STATUS_RANK = {"reproduced": 0, "reproduced at reduced scale": 1, "inconclusive": 2, "smoke": 3,
               "not run at this tier": 3, "skipped": 3, "not covered": 3, "not reproduced": 4, "error": 5}
NOT_RUN_PREFIX = "not run at this tier"


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
    parts: list = field(default_factory=list)  # the claim's part ids this test measures ([] = all)


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


def _underpowered(evidence: dict) -> bool:
    power = evidence.get("power")
    if not isinstance(power, dict):
        return False
    try:
        return float(power["detectable"]) > float(power["needed"])
    except (KeyError, TypeError, ValueError):
        return True  # a power record that cannot be read cannot vouch for the test


def test_status(t: TestOutcome, kind: str, tier: str = "cpu", scale: str = "full") -> tuple[str, str]:
    """(status, reason) of one claim test (rules in the module docstring)."""
    if t.outcome == "error":
        return "error", t.reason
    if t.strict_xpass:
        return "error", f"expected not to reproduce, but it did: update the test ({t.reason})"
    if t.outcome in ("failed", "xfailed"):
        return "not reproduced", t.reason
    if t.outcome == "skipped":
        return ("not run at this tier" if t.reason.startswith(NOT_RUN_PREFIX) else "skipped"), t.reason
    if scale == "smoke":
        return "smoke", "ran at --scale smoke (code path only)"
    ev = t.evidence
    if ev.get("inconclusive"):
        return "inconclusive", str(ev["inconclusive"])
    if _underpowered(ev):
        p = ev["power"]
        return "inconclusive", (f"power too low: detects {p.get('detectable')} but the claim needs "
                                f"{p.get('needed')} ({p.get('method', '')})")
    if ev.get("reduced"):
        return "reproduced at reduced scale", f"reduced: {ev['reduced']}"
    if kind == "training" and tier != "paper":
        return "reproduced at reduced scale", f"tier {tier}"
    return "reproduced", ""


test_status.__test__ = False  # a rule, not a pytest test


def _worst(statuses: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """(status, reason, nodeid) with the largest rank among tested statuses; untested by precedence."""
    tested = [s for s in statuses if s[0] in TESTED]
    if tested:
        return max(tested, key=lambda s: TESTED.index(s[0]))
    for status in UNTESTED:
        found = [s for s in statuses if s[0] == status]
        if found:
            return found[0]
    return "not covered", "no test of this run names this part", ""


def part_statuses(claim: Claim, tests: list[TestOutcome], tier: str = "cpu",
                  scale: str = "full") -> dict[str, dict]:
    """{part id: {status, reason, tests, check, statement}} from the claim's tests."""
    per_part: dict[str, list[tuple[str, str, str]]] = {pid: [] for pid in claim.parts}
    for t in tests:
        names = [p for p in (t.parts or claim.part_ids()) if p in per_part]
        if t.role == "control":
            if t.outcome in ("failed", "xpassed") or t.outcome == "error" or t.strict_xpass:
                why = f"negative control {t.nodeid} did not reject: the check cannot discriminate ({t.reason})"
                for pid in names:
                    per_part[pid].append(("error", why, t.nodeid))
            continue
        status, reason = test_status(t, claim.kind, tier, scale)
        for pid in names:
            per_part[pid].append((status, reason, t.nodeid))
    out = {}
    for pid, part in claim.parts.items():
        status, reason, nodeid = _worst(per_part[pid])
        out[pid] = {"status": status, "reason": f"{nodeid}: {reason}" if nodeid and reason else reason,
                    "check": part.check, "statement": part.statement,
                    "tests": sorted({n for _, _, n in per_part[pid]})}
    return out


def claim_status(claim: Claim, tests: list[TestOutcome], tier: str = "cpu", scale: str = "full",
                 parts: dict[str, dict] | None = None) -> tuple[str, str]:
    """(status, reason) of one claim: its weakest tested empirical part (rules in the module docstring)."""
    parts = parts if parts is not None else part_statuses(claim, tests, tier, scale)
    if not tests:
        return "not covered", "no test of this run names this claim"
    label = (lambda pid: f"part {pid}: ") if len(parts) > 1 else (lambda pid: "")
    counted = [(p["status"], label(pid) + p["reason"], pid) for pid, p in parts.items()
               if p["check"] == "empirical" or p["status"] in ("not reproduced", "error")]
    status, reason, _ = _worst(counted)
    identity_only = [pid for pid, p in parts.items() if p["check"] == "identity" and p["status"] in TESTED]
    if status not in TESTED and identity_only:
        return "inconclusive", f"only identity checks ran ({', '.join(identity_only)}): not evidence"
    return status, "" if status == "reproduced" else reason


def _headline(tests: list[TestOutcome]) -> dict | None:
    for t in tests:
        if t.evidence.get("headline"):
            return t.evidence["headline"]
    return None


def build_rows(catalog: Catalog, outcomes: list[TestOutcome], tier: str = "cpu", scale: str = "full") -> list[dict]:
    """One row per catalog claim, sorted by id; tests inside sorted by node id."""
    by_claim: dict[str, list[TestOutcome]] = {cid: [] for cid in catalog.ids()}
    for o in outcomes:
        by_claim.setdefault(o.claim_id, []).append(o)
    rows = []
    for cid in catalog.ids():
        claim = catalog[cid]
        tests = sorted(by_claim[cid], key=lambda t: t.nodeid)
        parts = part_statuses(claim, tests, tier, scale)
        status, reason = claim_status(claim, tests, tier, scale, parts)
        controls = [t for t in tests if t.role == "control"]
        claim_tests = [t for t in tests if t.role == "claim"]
        tested = [pid for pid, p in parts.items() if p["status"] in TESTED]
        reduced = sorted({str(t.evidence["reduced"]) for t in claim_tests if t.evidence.get("reduced")})
        rows.append({
            "id": cid, "paper": claim.paper, "locus": claim.locus, "kind": claim.kind,
            "statement": claim.statement, "criterion": claim.criterion,
            "paper_values": claim.paper_values, "status": status, "reason": reason,
            "tier": tier, "scale": scale, "reduced": reduced,
            "headline": _headline(claim_tests),
            "coverage": {"tested": len(tested), "parts": len(parts)},
            "parts": parts,
            "criteria": {name: {"value": c.value, "source": c.source} for name, c in claim.criteria.items()},
            "negative_controls": {"passed": sum(t.outcome == "passed" for t in controls), "total": len(controls),
                                  "tests": [{"nodeid": t.nodeid, "outcome": t.outcome,
                                             "removes": t.evidence.get("removes"),
                                             "headline": t.evidence.get("headline")} for t in controls]},
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


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """BH-adjusted p-values: min over j >= i of p_(j) m / j, capped at 1 (as scipy.stats.false_discovery_control).

    Written out (12 lines) because the report is built in pytest's controller at session end,
    where importing scipy.stats is slow and has failed beside a half-imported torch.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


def suite_error_rate(rows: list[dict], q: float = 0.05) -> dict:
    """Benjamini-Hochberg at false-discovery rate q over every p-value the claim tests recorded.

    The report states it so a reader knows how many of the statistical parts' rejections could be
    false discoveries.
    """
    entries = [(row["id"], t["nodeid"], float(t["evidence"]["p_value"])) for row in rows for t in row["tests"]
               if t["role"] == "claim" and isinstance(t.get("evidence", {}).get("p_value"), (int, float))]
    adjusted = benjamini_hochberg([p for _, _, p in entries])
    listed = [{"id": cid, "test": nodeid, "p": p, "p_adjusted": a, "significant": a <= q}
              for (cid, nodeid, p), a in zip(entries, adjusted)]
    return {"method": "Benjamini-Hochberg", "q": q, "tests": len(listed),
            "significant": sum(e["significant"] for e in listed), "entries": listed}


def _num(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"[{_num(value[0])}, {_num(value[1])}]"
    return str(value)


def format_headline(h: dict) -> str:
    """`quantity = value unit [lo, hi] (paper: ...)` from a recorded headline."""
    unit = f" {h['unit']}" if h.get("unit") else ""
    text = f"{h['quantity']} = {_num(h['value'])}{unit}"
    if h.get("interval") is not None:
        text += f" {_num(h['interval'])}"
    if h.get("paper") is not None:
        text += f" (paper: {_num(h['paper'])})"
    return text


def headline_text(row: dict) -> str:
    """One line for a claim: its headline · tier, scale and what was reduced · parts tested / parts."""
    bits = [format_headline(row["headline"])] if row.get("headline") else []
    scale = f"tier {row.get('tier', '?')}"
    if row.get("scale") == "smoke":
        scale += ", smoke scale"
    if row.get("reduced"):
        scale += ", reduced: " + "; ".join(row["reduced"])
    bits.append(scale)
    cov = row.get("coverage")
    if cov:
        bits.append(f"{cov['tested']}/{cov['parts']} parts tested")
    return " · ".join(bits)
