"""Compare two claim reports (claims.json): status changes, regressions, moved numbers.

- a regression is a claim whose status got worse (claims_table.STATUS_RANK: reproduced <
  reproduced at reduced scale < inconclusive < not run / smoke / skipped / not covered <
  not reproduced < error), e.g. reproduced -> inconclusive or inconclusive -> not reproduced;
- a measured number "moved" when |new - old| > u_old + u_new, where u is the number's uncertainty
  recorded by the test (a number: std or half-width; a [lo, hi] interval: its half-width; a dict:
  the entry of the same name). With u on one side only, that u is used: the intervals no longer
  overlap. Numbers without any numeric uncertainty, and non-numbers, are listed as "changed"
  when they differ at all.
Measured values are matched by claim id, test node id and quantity name (nested dicts joined by ".").
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from losslab.report.claims_table import STATUS_RANK


def load_report(path: str | Path) -> dict:
    """A report dict from a claims.json file or a report folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "claims.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no claims.json (pass a report folder or its claims.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a.b": 1.0, ...} from nested dicts; a non-dict value is {prefix or "value": value}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix or "value": value}


def _half_width(u: Any) -> float | None:
    if _is_number(u):
        return abs(float(u))
    if isinstance(u, (list, tuple)) and len(u) == 2 and all(_is_number(x) for x in u):
        return abs(float(u[1]) - float(u[0])) / 2
    return None


def uncertainty_of(evidence: dict, quantity: str) -> float | None:
    """The numeric uncertainty of one measured quantity, or None when the evidence has none for it."""
    u = evidence.get("uncertainty")
    if u is None:
        return None
    measured = flatten(evidence.get("measured"))
    if isinstance(u, dict):
        entries = flatten(u)
        if quantity in entries:
            return _half_width(entries[quantity])
        head = quantity.split(".")[0]
        if head in u:
            return _half_width(u[head])
        return None
    # one number (or interval) for the evidence: it belongs to the value only if there is one
    return _half_width(u) if len(measured) == 1 else None


def _rank(status: str) -> int:
    return STATUS_RANK.get(status, max(STATUS_RANK.values()))  # an unknown (old) status counts as worst


def _measured_by_test(row: dict) -> dict[str, dict]:
    return {t["nodeid"]: t.get("evidence") or {} for t in row.get("tests", []) if t.get("role") == "claim"}


def compare_reports(old: dict, new: dict) -> dict:
    """The structured difference from `old` to `new` (see the module docstring)."""
    old_rows = {r["id"]: r for r in old.get("claims", [])}
    new_rows = {r["id"]: r for r in new.get("claims", [])}
    diff: dict[str, Any] = {
        "old_commit": old.get("environment", {}).get("git_commit"),
        "new_commit": new.get("environment", {}).get("git_commit"),
        "added": sorted(set(new_rows) - set(old_rows)),
        "removed": sorted(set(old_rows) - set(new_rows)),
        "status_changes": [], "regressions": [], "moved": [], "changed": [],
    }
    for cid in sorted(set(old_rows) & set(new_rows)):
        before, after = old_rows[cid], new_rows[cid]
        if before["status"] != after["status"]:
            regression = _rank(after["status"]) > _rank(before["status"])
            diff["status_changes"].append({"id": cid, "old": before["status"], "new": after["status"],
                                           "regression": regression, "reason": after.get("reason", "")})
            if regression:
                diff["regressions"].append(cid)
        old_tests, new_tests = _measured_by_test(before), _measured_by_test(after)
        for nodeid in sorted(set(old_tests) & set(new_tests)):
            _compare_evidence(diff, cid, nodeid, old_tests[nodeid], new_tests[nodeid])
    return diff


def _compare_evidence(diff: dict, cid: str, nodeid: str, old_ev: dict, new_ev: dict) -> None:
    if "measured" not in old_ev or "measured" not in new_ev:
        return
    old_values, new_values = flatten(old_ev["measured"]), flatten(new_ev["measured"])
    for quantity in [q for q in old_values if q in new_values]:
        a, b = old_values[quantity], new_values[quantity]
        entry = {"id": cid, "test": nodeid, "quantity": quantity, "old": a, "new": b}
        if _is_number(a) and _is_number(b):
            u_old, u_new = uncertainty_of(old_ev, quantity), uncertainty_of(new_ev, quantity)
            if u_old is not None or u_new is not None:
                allowed = (u_old or 0.0) + (u_new or 0.0)
                if abs(b - a) > allowed:
                    diff["moved"].append({**entry, "delta": b - a, "allowed": allowed})
                continue
        if a != b:
            diff["changed"].append(entry)


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def render_text(diff: dict) -> str:
    """The diff for people (and CI logs)."""
    lines = [f"claims report: {diff['old_commit'] or '?'} -> {diff['new_commit'] or '?'}"]
    regressions = [c for c in diff["status_changes"] if c["regression"]]
    others = [c for c in diff["status_changes"] if not c["regression"]]
    lines.append(f"regressions (status got worse): {len(regressions)}")
    lines += [f"  {c['id']}: {c['old']} -> {c['new']}  {c['reason'][:160]}".rstrip() for c in regressions]
    lines.append(f"other status changes: {len(others)}")
    lines += [f"  {c['id']}: {c['old']} -> {c['new']}" for c in others]
    lines.append(f"numbers moved beyond their uncertainty: {len(diff['moved'])}")
    lines += [f"  {m['id']} {m['test'].split('::')[-1]} {m['quantity']}: {_num(m['old'])} -> {_num(m['new'])} "
              f"(|delta| {abs(m['delta']):.3g} > {m['allowed']:.3g})" for m in diff["moved"]]
    lines.append(f"values changed (no numeric uncertainty): {len(diff['changed'])}")
    lines += [f"  {m['id']} {m['test'].split('::')[-1]} {m['quantity']}: {_num(m['old'])} -> {_num(m['new'])}"
              for m in diff["changed"]]
    if diff["added"]:
        lines.append("claims only in the new report: " + ", ".join(diff["added"]))
    if diff["removed"]:
        lines.append("claims only in the old report: " + ", ".join(diff["removed"]))
    return "\n".join(lines) + "\n"
