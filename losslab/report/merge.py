"""`python -m losslab merge SHARD_DIR... -o REPORT`: the report of `pytest --shard I/N --report SHARD_DIR` runs,
rebuilt as one run's report (claims_table.build_rows over the test entries of every shard's claims.json, so
statuses, coverage and the suite-wide Benjamini-Hochberg error rate are those of the whole run)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from losslab.catalog import CatalogError, load_catalog
from losslab.report.claims_table import TestOutcome, build_rows
from losslab.report.sharding import SHARD_FILE
from losslab.report.write import write_report

# shards of different code, tier or test settings do not make one run's report
MUST_AGREE = ("tier", "scale", "git_commit", "hypothesis_profile")


class MergeError(ValueError):
    """The shard folders do not make one complete run (message: what is missing or inconsistent)."""


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path} is missing: not a report of `pytest --shard I/N --report DIR`") from None


def check_complete(folders: list[Path]) -> None:
    """Every shard 1..N of one split is there exactly once."""
    shards = [(folder, _read_json(folder / SHARD_FILE)) for folder in folders]
    counts = {info["of"] for _, info in shards}
    if len(counts) != 1:
        raise MergeError(f"shards of different splits: {sorted(counts)} (one --shard I/N, the same N, per run)")
    count = counts.pop()
    seen: dict[int, Path] = {}
    for folder, info in shards:
        if info["shard"] in seen:
            raise MergeError(f"shard {info['shard']}/{count} twice: {seen[info['shard']]} and {folder}")
        seen[info["shard"]] = folder
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise MergeError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing")


def merged_environment(environments: list[dict]) -> dict:
    """Keys equal in every shard keep their value; others (e.g. the hosts' platform) list the distinct values."""
    for key in MUST_AGREE:
        values = {json.dumps(env.get(key)) for env in environments}
        if len(values) > 1:
            raise MergeError(f"shards disagree on {key}: {sorted(values)}")
    merged = {}
    for key in dict.fromkeys(k for env in environments for k in env):
        values = list(dict.fromkeys(json.dumps(env.get(key), sort_keys=True) for env in environments))
        merged[key] = json.loads(values[0]) if len(values) == 1 else [json.loads(v) for v in values]
    return merged


def merge_shards(folders: list[Path], reference: Path) -> tuple[list[dict], dict]:
    """(rows, environment) of the run the shards split, from their claims.json test entries."""
    check_complete(folders)
    reports = [_read_json(folder / "claims.json") for folder in folders]
    outcomes: dict[str, TestOutcome] = {}
    for folder, report in zip(folders, reports):
        for row in report["claims"]:
            for test in row["tests"]:
                if test["nodeid"] in outcomes:
                    raise MergeError(f"{test['nodeid']} ran in two shards (second: {folder})")
                outcomes[test["nodeid"]] = TestOutcome(**test)
    environment = merged_environment([report["environment"] for report in reports])
    rows = build_rows(load_catalog(reference), list(outcomes.values()), tier=environment["tier"],
                      scale=environment.get("scale", "full"))
    return rows, environment


def cmd_merge(args) -> int:
    folders = [Path(f) for f in args.shard_dirs]
    try:
        rows, environment = merge_shards(folders, Path(args.reference))
    except (MergeError, CatalogError) as exc:
        print(f"losslab merge: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    for folder in folders:  # figures are named after their claim, so the shards' files do not collide
        if (folder / "figures").is_dir():
            shutil.copytree(folder / "figures", out / "figures", dirs_exist_ok=True)
    write_report(out, rows, environment)
    print(f"merged {len(folders)} shard(s), {sum(len(r['tests']) for r in rows)} claim tests -> {out / 'claims.md'}")
    return 0


def add_parser(subparsers) -> None:
    """Register `merge` on the losslab command line (losslab.cli)."""
    p = subparsers.add_parser("merge", help="merge the reports of `pytest --shard I/N --report DIR` into one")
    p.add_argument("shard_dirs", nargs="+", metavar="SHARD_DIR")
    p.add_argument("-o", "--output", required=True, metavar="REPORT", help="folder of the merged report")
    p.add_argument("--reference", default="reference", help="the reference folder (default: ./reference)")
    p.set_defaults(func=cmd_merge)
