"""Render the claim report as one self-contained HTML page (`claims.html`): inline CSS, no scripts,
no external resources; figures are <img> tags with paths relative to the report folder
(`figures/NAME.png`, see losslab/report/figures.py).

Every piece of text from the report goes through `html.escape`.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from losslab.report.claims_table import STATUSES, format_headline, headline_text

FIGURES_DIR = "figures"
# Evidence keys shown in their own place; any other key is listed after them.
SHOWN_KEYS = ("measured", "paper", "criterion", "uncertainty", "seeds", "dtype", "device", "note", "figures",
              "headline")
ENV_HEADLINE = ("tier", "device", "cuda_available", "git_commit", "hypothesis_profile", "data_dir")

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a;
       margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px;
     border-bottom: 1px solid #d5dae0; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 6px; } h3 code { font-size: 16px; } h4 { font-size: 13px; margin: 12px 0 4px; color: #4a5560; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { border: 1px solid #d5dae0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f4f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.zero { color: #a0a8b0; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
.env { color: #4a5560; font-size: 13px; }
.env td, .env th { padding: 1px 8px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         white-space: nowrap; color: #fff; }
.s-reproduced { background: #1f7a3d; } .s-reproduced-at-reduced-scale { background: #5f9e6e; }
.s-inconclusive { background: #8a6d00; } .s-not-reproduced { background: #c05a00; }
.s-error { background: #b3261e; } .s-skipped, .s-not-run-at-this-tier, .s-smoke { background: #6b7580; }
.s-not-covered { background: #b8c0c8; color: #1d232a; }
.headline { font-variant-numeric: tabular-nums; }
.o-passed { color: #1f7a3d; } .o-failed, .o-error { color: #b3261e; } .o-xfailed { color: #c05a00; }
.o-xpassed { color: #b3261e; } .o-skipped { color: #6b7580; }
td.c-reproduced { background: #e3f3e8; } td.c-not-reproduced { background: #fdeedd; }
td.c-error { background: #fbe3e1; } td.c-skipped { background: #eceef1; }
section.claim { border: 1px solid #d5dae0; border-left: 5px solid #b8c0c8; border-radius: 4px;
                padding: 10px 14px; margin: 14px 0; }
section.b-reproduced { border-left-color: #1f7a3d; } section.b-not-reproduced { border-left-color: #c05a00; }
section.b-reproduced-at-reduced-scale { border-left-color: #5f9e6e; } section.b-inconclusive { border-left-color: #8a6d00; }
section.b-error { border-left-color: #b3261e; } section.b-skipped { border-left-color: #6b7580; }
.statement { margin: 4px 0 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
dl.facts dt { font-weight: 600; color: #4a5560; } dl.facts dd { margin: 0; }
.reason { white-space: pre-wrap; }
figure { display: inline-block; margin: 6px 12px 6px 0; } figure img { max-width: 560px; border: 1px solid #d5dae0; }
figcaption { font-size: 12px; color: #4a5560; }
.missing { color: #b3261e; }
a { color: #1a5fb4; text-decoration: none; } a:hover { text-decoration: underline; }
"""


def _e(value) -> str:
    return html.escape(_text(value), quote=True)


def _text(value) -> str:
    """Plain text of a report value: floats with 6 significant digits, dicts as 'k: v; ...'."""
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def status_class(status: str) -> str:
    return "s-" + status.replace(" ", "-")


def _badge(status: str) -> str:
    return f'<span class="badge {status_class(status)}">{html.escape(status)}</span>'


def _anchor(claim_id: str) -> str:
    return "claim-" + quote(claim_id, safe="")


def _environment(env: dict) -> str:
    keys = [k for k in ENV_HEADLINE if k in env] + [k for k in env if k not in ENV_HEADLINE]
    cells = "".join(f"<tr><th>{_e(k)}</th><td class=\"mono\">{_e(env[k])}</td></tr>" for k in keys)
    return f'<table class="env">{cells}</table>'


def _summary(summary: dict) -> str:
    head = "".join(f"<th>{html.escape(s)}</th>" for s in STATUSES)
    rows = []
    for paper, counts in summary.items():
        cells = []
        for s in STATUSES:
            n = counts.get(s, 0)
            cls = f"num c-{s.replace(' ', '-')}" if n else "num zero"
            cells.append(f'<td class="{cls}">{n}</td>')
        total = sum(counts.get(s, 0) for s in STATUSES)
        name = "<strong>all</strong>" if paper == "all" else _e(paper)
        rows.append(f"<tr><th>{name}</th>{''.join(cells)}<td class=\"num\">{total}</td></tr>")
    return f"<table><tr><th>paper</th>{head}<th>total</th></tr>{''.join(rows)}</table>"


def _index(rows: list[dict]) -> str:
    lines = ["<table><tr><th>claim</th><th>status</th><th>headline: measured (paper) · tier · parts tested</th>"
             "<th>locus</th><th>controls</th><th>time (s)</th></tr>"]
    for row in rows:
        c = row["negative_controls"]
        lines.append(
            f'<tr><td><a href="#{_anchor(row["id"])}"><code>{_e(row["id"])}</code></a></td>'
            f"<td>{_badge(row['status'])}</td><td class=\"headline\">{_e(headline_text(row))}</td>"
            f"<td>{_e(row['locus'])}</td><td class=\"num\">{c['passed']}/{c['total']}</td>"
            f"<td class=\"num\">{row.get('duration_s', 0):.2f}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _measured_vs_paper(measured, paper) -> str:
    """A table key | measured | paper when both are tables (dicts), else two rows."""
    if isinstance(measured, dict) and isinstance(paper, dict):
        keys = list(measured) + [k for k in paper if k not in measured]
        body = "".join(f"<tr><td>{_e(k)}</td><td class=\"mono\">{_e(measured.get(k))}</td>"
                       f"<td class=\"mono\">{_e(paper.get(k))}</td></tr>" for k in keys)
        return f"<table><tr><th>quantity</th><th>measured</th><th>paper</th></tr>{body}</table>"
    return (f"<table><tr><th>measured</th><td class=\"mono\">{_e(measured)}</td></tr>"
            f"<tr><th>paper</th><td class=\"mono\">{_e(paper)}</td></tr></table>")


def figure_names(evidence: dict) -> list[str]:
    """The figure file names a test recorded (`figures=[...]`, a single string also accepted)."""
    names = evidence.get("figures") or []
    return [names] if isinstance(names, str) else [str(n) for n in names]


def _safe_figure(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts and "\\" not in name


def _figures(names: list[str], test_name: str, report_dir: Path | None) -> str:
    out = []
    for name in names:
        if not _safe_figure(name):
            out.append(f'<p class="missing">figure {_e(name)}: not a plain path under {FIGURES_DIR}/</p>')
        elif report_dir is not None and not (Path(report_dir) / FIGURES_DIR / name).is_file():
            out.append(f'<p class="missing">figure {_e(name)}: no file {FIGURES_DIR}/{_e(name)}</p>')
        else:
            src = html.escape(f"{FIGURES_DIR}/{quote(name)}", quote=True)
            out.append(f'<figure><img src="{src}" alt="{_e(name)}" loading="lazy">'
                       f"<figcaption>{_e(name)} ({_e(test_name)})</figcaption></figure>")
    return "".join(out)


def _test_evidence(test: dict, row: dict, report_dir: Path | None) -> str:
    ev = test.get("evidence") or {}
    name = test["nodeid"].split("::")[-1]
    role = " (negative control)" if test["role"] == "control" else ""
    parts = [f"<h4>Evidence of <code>{_e(name)}</code>{_e(role)}</h4>"]
    if "measured" in ev:
        parts.append(_measured_vs_paper(ev.get("measured"), ev.get("paper", row["paper_values"])))
    facts = [("criterion asserted", ev.get("criterion")), ("uncertainty / interval", ev.get("uncertainty")),
             ("seeds", ev.get("seeds")), ("dtype", ev.get("dtype")), ("device", ev.get("device")),
             ("note", ev.get("note"))]
    facts += [(k, v) for k, v in ev.items() if k not in SHOWN_KEYS]
    shown = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if _text(v))
    if shown:
        parts.append(f'<dl class="facts">{shown}</dl>')
    parts.append(_figures(figure_names(ev), name, report_dir))
    return "".join(parts)


def _tests_table(tests: list[dict]) -> str:
    lines = ["<table><tr><th>test</th><th>role</th><th>outcome</th><th>reason</th><th>time (s)</th></tr>"]
    for t in tests:
        lines.append(
            f"<tr><td><code>{_e(t['nodeid'])}</code></td><td>{_e(t['role'])}</td>"
            f"<td class=\"o-{_e(t['outcome'])}\"><strong>{_e(t['outcome'])}</strong></td>"
            f"<td class=\"reason\">{_e(t.get('reason'))}</td><td class=\"num\">{t.get('duration_s', 0):.2f}</td></tr>")
    lines.append("</table>")
    return "".join(lines)


def _parts_table(row: dict) -> str:
    lines = ["<table><tr><th>part</th><th>status</th><th>check</th><th>statement</th><th>why</th></tr>"]
    for pid, p in row.get("parts", {}).items():
        lines.append(f"<tr><td><code>{_e(pid)}</code></td><td>{_badge(p['status'])}</td><td>{_e(p['check'])}</td>"
                     f"<td>{_e(p['statement'])}</td><td class=\"reason\">{_e(p.get('reason'))}</td></tr>")
    lines.append("</table>")
    return "".join(lines)


def _controls_table(row: dict) -> str:
    tests = row["negative_controls"].get("tests", [])
    if not tests:
        return ""
    lines = ["<table><tr><th>control</th><th>outcome</th><th>removes</th><th>its headline</th></tr>"]
    for t in tests:
        h = t.get("headline")
        shown = format_headline(h) if h else ""
        lines.append(f"<tr><td><code>{_e(t['nodeid'].split('::')[-1])}</code></td><td>{_e(t['outcome'])}</td>"
                     f"<td>{_e(t.get('removes'))}</td><td class=\"headline\">{_e(shown)}</td></tr>")
    lines.append("</table>")
    return "".join(lines)


def _claim_section(row: dict, env: dict, report_dir: Path | None) -> str:
    c = row["negative_controls"]
    run = f"tier {env.get('tier', '?')}, device {env.get('device', '?')}, commit {str(env.get('git_commit', '?'))[:12]}"
    facts = [("source", f"{row['paper']}, {row['locus']}"), ("kind", row["kind"]),
             ("criterion", row["criterion"]), ("paper values", row["paper_values"]),
             ("negative controls", f"{c['passed']}/{c['total']} rejected as they should" if c["total"]
                                   else ("none in this run" if row["tests"] else "")),
             ("run", run)]
    if row.get("reason"):
        facts.insert(0, ("why", row["reason"]))
    dl = "".join(f"<dt>{_e(k)}</dt><dd class=\"{'reason' if k == 'why' else ''}\">{_e(v)}</dd>"
                 for k, v in facts if _text(v))
    parts = [f'<section class="claim b-{row["status"].replace(" ", "-")}" id="{_anchor(row["id"])}">',
             f"<h3><code>{_e(row['id'])}</code> {_badge(row['status'])}</h3>",
             f'<p class="headline"><strong>{_e(headline_text(row))}</strong></p>',
             f'<p class="statement">{_e(row["statement"])}</p>', f'<dl class="facts">{dl}</dl>']
    if row.get("parts"):
        parts += ["<h4>Parts</h4>", _parts_table(row)]
    if row.get("criteria"):
        crit = "".join(f"<tr><td><code>{_e(k)}</code></td><td class=\"mono\">{_e(v['value'])}</td>"
                       f"<td>{_e(v['source'])}</td></tr>" for k, v in row["criteria"].items())
        parts += ["<h4>Preregistered criteria</h4>",
                  f"<table><tr><th>name</th><th>value</th><th>source</th></tr>{crit}</table>"]
    if row["negative_controls"].get("tests"):
        parts += ["<h4>Negative controls</h4>", _controls_table(row)]
    for test in row["tests"]:
        if test.get("evidence"):
            parts.append(_test_evidence(test, row, report_dir))
    if row["tests"]:
        parts += ["<h4>Tests</h4>", _tests_table(row["tests"])]
    parts.append("</section>")
    return "\n".join(parts)


def _error_rate(rate: dict | None) -> str:
    if not rate:
        return ""
    return (f"<p>Suite-wide error rate: {_e(rate['method'])} at false-discovery rate q = {_e(rate['q'])} over "
            f"{_e(rate['tests'])} recorded p-values: {_e(rate['significant'])} significant.</p>")


def render_html(report: dict, report_dir: str | Path | None = None) -> str:
    """The report dict (as in claims.json) as one HTML page; `report_dir` lets it flag missing figures."""
    report_dir = Path(report_dir) if report_dir is not None else None
    env, rows = report["environment"], report["claims"]
    covered = [r for r in rows if r["status"] != "not covered"]
    uncovered = [r for r in rows if r["status"] == "not covered"]
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>losslab claim report</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             "<h1>losslab claim report</h1>", _environment(env),
             "<h2>Summary</h2>", _summary(report["summary"]), _error_rate(report.get("error_rate")),
             "<h2>Claims</h2>", _index(rows),
             "<h2>Claims with tests in this run</h2>"]
    parts += [_claim_section(r, env, report_dir) for r in covered] or ["<p>No claim test ran.</p>"]
    if uncovered:
        parts.append("<h2>Claims not covered by this run</h2>")
        parts += [_claim_section(r, env, report_dir) for r in uncovered]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
