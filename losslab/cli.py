"""Command line of the claim suite: `python -m losslab list|run|show|compare`.

  list [--paper P] [--kind K]         the claims of reference/: id, kind, locus, statement
  run ID [pytest args...]             pytest on the tests of one claim (the plugin's --claim-id)
  show REPORT_DIR                     print the report's Markdown summary (claims.md)
  compare OLD NEW [--fail-on-regression]
                                      what changed between two reports (folders or claims.json);
                                      with the flag, exit 1 when a claim's status got worse
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from losslab.catalog import KINDS, CatalogError, load_catalog


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_list(args) -> int:
    try:
        catalog = load_catalog(args.reference)
    except CatalogError as exc:
        print(f"losslab list: {exc}", file=sys.stderr)
        return 2
    claims = [catalog[cid] for cid in catalog.ids()]
    claims = [c for c in claims if (not args.paper or c.paper == args.paper) and (not args.kind or c.kind == args.kind)]
    for c in claims:
        print(f"{c.id:<12} {c.kind:<9} {len(c.parts):>2} part(s) {_short(c.locus, 24):<24} {_short(c.statement, 80)}")
    print(f"{len(claims)} claim(s)")
    return 0


def pytest_command(claim_id: str, pytest_args: list[str]) -> list[str]:
    """The pytest command line that runs one claim's tests (default path: claims/ when it exists)."""
    given_path = any(not a.startswith("-") and Path(a.split("::")[0]).exists() for a in pytest_args)
    paths = [] if given_path or not Path("claims").is_dir() else ["claims"]
    return [sys.executable, "-m", "pytest", "--claim-id", claim_id, *paths, *pytest_args]


def cmd_run(args) -> int:
    return subprocess.call(pytest_command(args.claim_id, args.pytest_args))


def cmd_show(args) -> int:
    folder = Path(args.report_dir)
    md = folder / "claims.md" if folder.is_dir() else folder
    if md.is_file() and md.suffix == ".md":
        sys.stdout.write(md.read_text(encoding="utf-8"))
        return 0
    from losslab.report.compare import load_report
    from losslab.report.write import markdown
    try:
        sys.stdout.write(markdown(load_report(folder)))
    except FileNotFoundError as exc:
        print(f"losslab show: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_compare(args) -> int:
    from losslab.report.compare import compare_reports, load_report, render_text
    try:
        old, new = load_report(args.old), load_report(args.new)
    except FileNotFoundError as exc:
        print(f"losslab compare: {exc}", file=sys.stderr)
        return 2
    diff = compare_reports(old, new)
    sys.stdout.write(render_text(diff))
    return 1 if args.fail_on_regression and diff["regressions"] else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="losslab", description="loss-landscape claim suite")
    sub = p.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list the claims of reference/")
    p_list.add_argument("--paper", help="only this paper (e.g. WZE17)")
    p_list.add_argument("--kind", choices=KINDS, help="only this kind")
    p_list.add_argument("--reference", default="reference", help="the reference folder (default: ./reference)")
    p_list.set_defaults(func=cmd_list)
    p_run = sub.add_parser("run", help="run the tests of one claim; extra arguments go to pytest")
    p_run.add_argument("claim_id", metavar="ID")
    p_run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")
    p_run.set_defaults(func=cmd_run)
    p_show = sub.add_parser("show", help="print a report's Markdown summary")
    p_show.add_argument("report_dir", metavar="REPORT_DIR")
    p_show.set_defaults(func=cmd_show)
    p_cmp = sub.add_parser("compare", help="compare two reports (folders or claims.json files)")
    p_cmp.add_argument("old", metavar="OLD")
    p_cmp.add_argument("new", metavar="NEW")
    p_cmp.add_argument("--fail-on-regression", action="store_true",
                       help="exit 1 when a claim's status is worse in NEW than in OLD (claims_table.STATUS_RANK)")
    p_cmp.set_defaults(func=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
