"""Figures for the claim report: save a picture where claims.html finds it and record its name.

Convention: a test saves `NAME.png` into the `report_figure_dir` fixture's folder (that is
`<--report dir>/figures/`, or a temporary folder when no report is written) and records
`evidence.record(figures=["NAME.png"])`. claims.html shows it as <img src="figures/NAME.png">.
Name figures after the claim id (e.g. "WZE17-FIG2-spectrum.png"): xdist workers share the folder.
Making figures needs matplotlib (the optional dependency `losslab[figures]`); the report does not.
"""

from __future__ import annotations

from pathlib import Path


def pyplot_or_none():
    """matplotlib.pyplot on the non-interactive Agg backend, or None when matplotlib is not installed.

    Figures are optional: a claim records its numbers either way and draws only when this is not None.
    """
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, figure_dir: str | Path, name: str, evidence=None, dpi: int = 100) -> str:
    """Save a matplotlib figure as figure_dir/name, record it in `evidence` (if given); return the name.

    Usage in a claim test:
        fig, ax = plt.subplots(); ax.plot(...)
        save_figure(fig, report_figure_dir, "WZE17-FIG2-spectrum.png", evidence)
    """
    if Path(name).name != name:
        raise ValueError(f"figure name {name!r} must be a plain file name (no folders)")
    path = Path(figure_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if evidence is not None:
        recorded = list(evidence.fields.get("figures", []))
        if name not in recorded:
            recorded.append(name)
        evidence.record(figures=recorded)
    return name
