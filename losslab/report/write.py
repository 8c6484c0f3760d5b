"""Write the claim report: `claims.json` (machine-readable), `claims.md` and `claims.html` (for people).

Content depends only on the rows and the environment, never on process or worker order, so the
report is the same under `pytest -n auto` and `pytest -p no:xdist` apart from the timings
(`duration_s`, `time`), which `comparable` strips.
"""

from __future__ import annotations

import json
from pathlib import Path

from losslab.report.claims_table import STATUSES, headline_text, suite_error_rate, summary_counts
from losslab.report.html import render_html

TIMING_KEYS = ("duration_s", "time", "started", "finished")


def report_dict(rows: list[dict], environment: dict) -> dict:
    return {"environment": environment, "summary": summary_counts(rows), "error_rate": suite_error_rate(rows),
            "claims": rows}


def comparable(report: dict) -> dict:
    """The report without timing fields (for comparing two runs of the same code)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(report)


def _fmt(value) -> str:
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _cell(value, limit: int = 300) -> str:
    text = _fmt(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _claim_evidence(row: dict) -> dict:
    """Merge the evidence of the claim's (non-control) tests; keys prefixed when several record."""
    recorded = [t for t in row["tests"] if t["role"] == "claim" and t["evidence"]]
    if len(recorded) == 1:
        return recorded[0]["evidence"]
    merged: dict = {}
    for t in recorded:
        name = t["nodeid"].split("::")[-1]
        for key, value in t["evidence"].items():
            merged.setdefault(key, {})[name] = value
    return merged


def markdown(report: dict) -> str:
    env, rows = report["environment"], report["claims"]
    lines = ["# Claim report", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in env.items()]
    lines += ["", "## Summary", "", "| paper | " + " | ".join(STATUSES) + " |",
              "|---|" + "---|" * len(STATUSES)]
    for paper, counts in report["summary"].items():
        lines.append(f"| {paper} | " + " | ".join(str(counts[s]) for s in STATUSES) + " |")
    rate = report.get("error_rate")
    if rate:
        lines += ["", f"Suite-wide error rate: {rate['method']} at false-discovery rate q = {rate['q']} over "
                      f"{rate['tests']} recorded p-values: {rate['significant']} significant."]
    lines += ["", "## Claims", "",
              "| claim | status | headline: measured (paper) · tier · parts tested | controls | time (s) |",
              "|---|---|---|---|---|"]
    for row in rows:
        controls = row["negative_controls"]
        lines.append("| " + " | ".join([
            row["id"], row["status"], _cell(headline_text(row)),
            f"{controls['passed']}/{controls['total']}", f"{row['duration_s']:.2f}",
        ]) + " |")
    lines += ["", "## Evidence", ""]
    for row in rows:
        if not row["tests"]:
            continue
        ev = _claim_evidence(row)
        lines += [f"### {row['id']} ({row['status']})", "",
                  f"- measured: {_cell(ev.get('measured'), 600)}",
                  f"- paper: {_cell(ev.get('paper', row['paper_values']), 600)}",
                  f"- criterion: {_cell(ev.get('criterion', row['criterion']), 600)}",
                  f"- uncertainty: {_cell(ev.get('uncertainty'), 300)}; seeds: {_cell(ev.get('seeds'), 120)}"]
        lines += [f"- part `{pid}` ({p['check']}): {p['status']}" + (f" — {_cell(p['reason'], 300)}" if p["reason"] else "")
                  for pid, p in row.get("parts", {}).items()]
        lines += [f"- control `{t['nodeid'].split('::')[-1]}` ({t['outcome']}): removes {_cell(t.get('removes'))}"
                  for t in row["negative_controls"].get("tests", [])]
        lines.append("")
    notes = [r for r in rows if r["reason"]]
    if notes:
        lines += ["", "## Reasons", ""]
        lines += [f"- **{r['id']}** ({r['status']}): {r['reason']}" for r in notes]
    return "\n".join(lines) + "\n"


def write_report(directory: str | Path, rows: list[dict], environment: dict) -> dict:
    """Write claims.json, claims.md and claims.html into `directory`; return the report dict."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = report_dict(rows, environment)
    (directory / "claims.json").write_text(json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    (directory / "claims.md").write_text(markdown(report), encoding="utf-8")
    (directory / "claims.html").write_text(render_html(report, directory), encoding="utf-8")
    return report
