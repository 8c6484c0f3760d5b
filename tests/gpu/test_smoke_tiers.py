"""Every gpu- and paper-tier claim test runs at smoke scale on CPU without an error (losslab.plan.smoke_run: fake
data files in the real formats, a fresh cache, one process), and the gpu tier's plan fits its budget.

One test per tier, marked smoke_sweep (collected first), so xdist runs the two sweeps on different workers. Each puts its one-line summary (tests run,
passed, skipped, CPU seconds, plan total) in its user_properties: the terminal's "smoke sweeps" section and
<report>/smoke_sweeps.txt (fixtures/smoke.py) show them, so a CI log shows the gpu/paper paths ran.
"""

import resource

import pytest

from fixtures.smoke import SMOKE_SUMMARY_PREFIX, SMOKE_SWEEP_KEY
from losslab.plan import GPU_TIER_BUDGET_GPU_HOURS, plan, runs_from_events, smoke_run
from losslab.report.progress import read_events


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.smoke_sweep
@pytest.mark.parametrize("sweep_tier", ["gpu", "paper"])
def test_tier_runs_at_smoke_scale_without_error(sweep_tier, tmp_path, record_property):
    before = _children_cpu_seconds()
    done = smoke_run(sweep_tier, tmp_path, "-rfEs", timeout_s=900)
    cpu = _children_cpu_seconds() - before
    lines = done.stdout.strip().splitlines()
    counts = next((line for line in lines if line.startswith(SMOKE_SUMMARY_PREFIX)), f"{SMOKE_SUMMARY_PREFIX} "
                  f"{sweep_tier}: no summary (exit {done.returncode})")
    costs = plan(sweep_tier, runs_from_events(read_events(tmp_path / "report"), sweep_tier))
    total = sum(c.gpu_hours for c in costs)
    record_property(SMOKE_SWEEP_KEY, f"{counts}; {cpu:.0f} s CPU; plan {sum(c.runs for c in costs)} trainings, "
                                     f"{total:.1f} GPU-hours")
    last = lines[-1] if lines else ""
    assert done.returncode == 0, f"{counts}\n{last}\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert "passed" in last and "failed" not in last and "error" not in last, last
    if sweep_tier == "gpu":  # the paper tier is the papers' settings: no budget
        top = ", ".join(f"{c.recipe} {c.runs} runs {c.gpu_hours:.1f} h" for c in costs[:5])
        assert costs and total <= GPU_TIER_BUDGET_GPU_HOURS, f"gpu tier plan: {total:.1f} GPU-hours; largest: {top}"
