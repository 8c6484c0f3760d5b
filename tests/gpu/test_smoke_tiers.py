"""Every gpu- and paper-tier claim test runs at smoke scale on CPU without an error (losslab.plan.smoke_run: fake
data files in the real formats, a fresh cache, one process per tier), and the gpu tier's plan fits its budget.

One test runs both tiers at once (two processes: xdist's load scheduling sends consecutive tests to one worker,
so two tests would queue behind each other); marked smoke_sweep, it is collected first. Each tier's one-line
summary (tests run, passed, skipped, CPU seconds; the gpu tier's plan total) goes in the test's user_properties: the terminal's
"smoke sweeps" section and <report>/smoke_sweeps.txt (fixtures/smoke.py) show them, so a CI log shows that the
gpu and paper paths ran.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from fixtures.smoke import SMOKE_SUMMARY_PREFIX, SMOKE_SWEEP_KEY
from losslab.plan import GPU_TIER_BUDGET_GPU_HOURS, plan, runs_from_events, smoke_run
from losslab.report.progress import read_events

TIERS = ("gpu", "paper")


@pytest.mark.smoke_sweep
def test_gpu_and_paper_tiers_run_at_smoke_scale_without_error(tmp_path, record_property):
    with ThreadPoolExecutor(len(TIERS)) as pool:
        done = dict(zip(TIERS, pool.map(lambda tier: smoke_run(tier, tmp_path / tier, "-rfEs", timeout_s=900), TIERS)))
    # the gpu tier's plan only (~30 s of CPU; the paper tier's ~80 s: `python -m losslab plan --tier paper`)
    costs = plan("gpu", runs_from_events(read_events(tmp_path / "gpu" / "report"), "gpu"))
    total = sum(c.gpu_hours for c in costs)
    for tier in TIERS:
        lines = done[tier].stdout.strip().splitlines()
        counts = next((line for line in lines if line.startswith(SMOKE_SUMMARY_PREFIX)),
                      f"{SMOKE_SUMMARY_PREFIX} {tier}: no summary (exit {done[tier].returncode})")
        planned = f"; plan {sum(c.runs for c in costs)} trainings, {total:.1f} GPU-hours" if tier == "gpu" else ""
        record_property(SMOKE_SWEEP_KEY, counts + planned)
    for tier in TIERS:
        last = (done[tier].stdout.strip().splitlines() or [""])[-1]
        assert done[tier].returncode == 0, f"tier {tier}: {last}\n{done[tier].stdout[-6000:]}\n{done[tier].stderr[-2000:]}"
        assert "passed" in last and "failed" not in last and "error" not in last, f"tier {tier}: {last}"
    top = ", ".join(f"{c.recipe} {c.runs} runs {c.gpu_hours:.1f} h" for c in costs[:5])
    assert costs and total <= GPU_TIER_BUDGET_GPU_HOURS, f"gpu tier plan: {total:.1f} GPU-hours; largest: {top}"
