"""Progress events of a run (one JSON line each in <report>/progress.jsonl, appended by every xdist worker)
and the live table of `python -m losslab progress REPORT_DIR`: what trains, what is done, the ETA."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

EVENTS = "progress.jsonl"


class ProgressLog:
    """event(kind, **fields): append {"t", "pid", "worker", "kind", **always, ...} to <folder>/progress.jsonl."""

    def __init__(self, folder, **always):
        self.path = Path(folder) / EVENTS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.always = always

    def event(self, kind: str, **fields) -> None:
        record = {"t": time.time(), "pid": os.getpid(), "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                  "kind": kind, **self.always, **fields}
        with open(self.path, "a", encoding="utf-8") as handle:  # one write per line: appends do not interleave
            handle.write(json.dumps(record, default=str) + "\n")


_sink: dict = {"log": None}


def set_sink(log: ProgressLog | None) -> None:
    """Where emit() writes in this process (the pytest plugin sets <report>/progress.jsonl); None: nowhere."""
    _sink["log"] = log


def emit(kind: str, **fields) -> None:
    """A progress event to this process's sink, if any."""
    if _sink["log"] is not None:
        _sink["log"].event(kind, **fields)


def read_events(folder) -> list[dict]:
    path = Path(folder) / EVENTS
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip().endswith("}")]  # a line being written is skipped


def runs(events: list[dict], now: float | None = None) -> list[dict]:
    """One row per (recipe, tier, seed): claim, state (training | done), epoch/epochs, seconds, ETA
    (seconds per epoch so far x epochs left)."""
    now = time.time() if now is None else now
    table: dict[tuple, dict] = {}
    for e in events:
        if e["kind"] not in ("start", "epoch", "done"):  # "request": a net a test asked for (maybe cached)
            continue
        key = (e.get("recipe"), e.get("tier"), e.get("seed"))
        row = table.setdefault(key, {"recipe": key[0], "tier": key[1], "seed": key[2], "claim": e.get("claim"),
                                     "worker": e["worker"], "state": "training", "epoch": 0,
                                     "epochs": e.get("epochs"), "started": e["t"], "seconds": 0.0, "eta": None})
        if e["kind"] == "epoch":
            row.update(epoch=e["epoch"], epochs=e["epochs"], seconds=e["seconds"])
            row["eta"] = e["seconds"] / e["epoch"] * (e["epochs"] - e["epoch"])
        elif e["kind"] == "done":
            row.update(state="done", seconds=e["train_seconds"], eta=0.0)
    for row in table.values():
        if row["state"] == "training":
            row["seconds"] = now - row["started"]
    return list(table.values())


def train_seconds_per_recipe(events: list[dict]) -> dict[str, float]:
    """{recipe: seconds spent training it in this run} (nets from the cache are not trained: not counted)."""
    totals: dict[str, float] = {}
    for row in runs(events):
        if row["state"] == "done":
            totals[row["recipe"]] = totals.get(row["recipe"], 0.0) + row["seconds"]
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def render(rows: list[dict]) -> str:
    """The table, training runs first, with totals and the ETA of the slowest running run."""
    lines = [f"{'state':<9} {'recipe':<44} {'tier':<5} {'seed':>10} {'epoch':>11} {'seconds':>9} {'ETA s':>8} worker"]
    for r in sorted(rows, key=lambda r: (r["state"] != "training", r["recipe"] or "", r["seed"] or 0)):
        epoch = f"{r['epoch']}/{r['epochs']}" if r["epochs"] else "-"
        eta = "-" if r["eta"] is None else f"{r['eta']:.0f}"
        lines.append(f"{r['state']:<9} {str(r['recipe'])[:44]:<44} {str(r['tier']):<5} {str(r['seed']):>10} "
                     f"{epoch:>11} {r['seconds']:>9.1f} {eta:>8} {r['worker']}")
    running = [r for r in rows if r["state"] == "training"]
    etas = [r["eta"] for r in running if r["eta"] is not None]
    summary = f"{len(running)} training, {sum(r['state'] == 'done' for r in rows)} trained"
    lines.append(summary + (f"; ETA of the running runs: {max(etas):.0f} s" if etas else ""))
    return "\n".join(lines)
