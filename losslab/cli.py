"""Command line of the claim suite: `python -m losslab list|run|show|compare|progress|data|plan`.

  list [--paper P] [--kind K]         the claims of reference/: id, kind, locus, statement
  run ID [pytest args...]             pytest on the tests of one claim (the plugin's --claim-id)
  show REPORT_DIR                     print the report's Markdown summary (claims.md)
  compare OLD NEW [--fail-on-regression]
                                      what changed between two reports (folders or claims.json);
                                      with the flag, exit 1 when a claim's status got worse
  progress REPORT_DIR [--watch S]     the live table of a run's trainings (REPORT_DIR/progress.jsonl)
  data fetch DIR [--only mnist,cifar10,svhn]
                                      download the datasets into DIR, resumable, hashes checked
  plan --tier gpu|paper [--runs-from REPORT_DIR]
                                      per recipe: runs x epochs x samples, FLOPs, peak memory, GPU-hours
  merge SHARD_DIR... -o REPORT        one report from the reports of `pytest --shard I/N` runs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from losslab.catalog import KINDS, CatalogError, load_catalog
from losslab.report import merge


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


def cmd_progress(args) -> int:
    import time

    from losslab.report.progress import read_events, render, runs
    while True:
        events = read_events(args.report_dir)
        print(render(runs(events)) if events else f"no progress events in {args.report_dir} yet "
              f"(written by `pytest --report {args.report_dir}`)", flush=True)
        if not args.watch:
            return 0
        time.sleep(args.watch)
        print("\033[2J\033[H", end="")  # clear the terminal between frames


def cmd_data_fetch(args) -> int:
    from losslab.data.fetch import fetch
    from losslab.data.verify import DataCorrupt
    try:
        placed = fetch(args.dir, datasets=args.only.split(","))
    except (OSError, DataCorrupt) as exc:
        print(f"losslab data fetch: {exc}", file=sys.stderr)
        return 2
    print(f"{len(placed)} files in {args.dir}, each with its known hash")
    return 0


def cmd_plan(args) -> int:
    import tempfile

    from losslab.plan import plan, render, runs_from_events, smoke_run, unplanned
    from losslab.report.progress import read_events
    folder = args.runs_from
    if folder is None:  # count the runs by running the tier's tests at smoke scale (minutes on one core)
        scratch = tempfile.mkdtemp(prefix="losslab-plan-")
        done = smoke_run(args.tier, scratch)
        if done.returncode not in (0, 1):
            print(f"losslab plan: the smoke run failed (exit {done.returncode}):\n{done.stdout[-3000:]}", file=sys.stderr)
            return 2
        folder = Path(scratch) / "report"
    runs = runs_from_events(read_events(folder), args.tier)
    print(render(args.tier, plan(args.tier, runs), unplanned(args.tier, runs)))
    return 0


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
    p_prog = sub.add_parser("progress", help="what a run trains now, what is done, the ETA")
    p_prog.add_argument("report_dir", metavar="REPORT_DIR")
    p_prog.add_argument("--watch", type=float, default=0, metavar="S", help="redraw every S seconds")
    p_prog.set_defaults(func=cmd_progress)
    p_data = sub.add_parser("data", help="the datasets").add_subparsers(dest="data_command", required=True)
    p_fetch = p_data.add_parser("fetch", help="download MNIST, CIFAR-10, SVHN into DIR (resumable, hashes checked)")
    p_fetch.add_argument("dir", metavar="DIR")
    p_fetch.add_argument("--only", default="mnist,cifar10,svhn", help="comma-separated subset")
    p_fetch.set_defaults(func=cmd_data_fetch)
    p_plan = sub.add_parser("plan", help="the compute plan of a tier (runs, FLOPs, memory, GPU-hours)")
    p_plan.add_argument("--tier", choices=("gpu", "paper"), required=True)
    p_plan.add_argument("--runs-from", metavar="REPORT_DIR", help="progress events of a smoke run of the tier "
                        "(default: run `pytest claims --tier TIER` at scale smoke first)")
    p_plan.set_defaults(func=cmd_plan)
    merge.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
