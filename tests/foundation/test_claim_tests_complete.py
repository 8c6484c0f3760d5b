"""Every catalog claim has a claim test and a negative control; the report can show a headline for it.

Read from the source of claims/ (no test runs): the `@pytest.mark.claim("ID", ...)` markers, the
`control=True` ones, and whether the modules that test a claim record `evidence.headline(...)`
and, for controls, `removes=` (docs/verdicts.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

from losslab.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
CLAIM_MODULES = sorted((ROOT / "claims").rglob("test_*.py"))


def claim_markers(source: str) -> list[tuple[str, bool]]:
    """(claim id, control) for each @pytest.mark.claim(...) decorator in `source`."""
    tree = ast.parse(source)
    strings = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
               and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
               for t in n.targets if isinstance(t, ast.Name)}  # ID = "WZE17-FIG1" ... claim(ID)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "claim" and deco.args):
                continue
            arg = deco.args[0]
            cid = arg.value if isinstance(arg, ast.Constant) else strings.get(getattr(arg, "id", None))
            control = any(k.arg == "control" and isinstance(k.value, ast.Constant) and k.value.value
                          for k in deco.keywords)
            if cid:
                found.append((cid, control))
    return found


def _by_claim() -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for module in CLAIM_MODULES:
        source = module.read_text(encoding="utf-8")
        for cid, control in claim_markers(source):
            entry = seen.setdefault(cid, {"claim": False, "control": False, "headline": False, "removes": False})
            entry["control" if control else "claim"] = True
            entry["headline"] |= ".headline(" in source
            entry["removes"] |= control and "removes=" in source
    return seen


def test_markers_are_read_from_source():
    source = ('ID = "A-2"\n@pytest.mark.claim("A-1")\ndef test_a(): pass\n'
              '@pytest.mark.claim("A-1", parts=["x"], control=True)\ndef test_b(): pass\n'
              '@pytest.mark.claim(ID)\ndef test_c(): pass\n')
    assert claim_markers(source) == [("A-1", False), ("A-1", True), ("A-2", False)]


def test_every_claim_has_a_test_and_a_negative_control_that_says_what_it_removes():
    seen = _by_claim()
    catalog = load_catalog(ROOT / "reference")
    missing = {cid: [k for k in ("claim", "control", "removes") if not seen.get(cid, {}).get(k)]
               for cid in catalog.ids()}
    missing = {cid: what for cid, what in missing.items() if what}
    assert not missing, f"claims lacking a claim test / a control / a control's removes=: {missing}"


def test_every_claim_with_paper_values_records_a_headline():
    seen = _by_claim()
    catalog = load_catalog(ROOT / "reference")
    lacking = [cid for cid in catalog.ids() if catalog[cid].paper_values and not seen.get(cid, {}).get("headline")]
    assert not lacking, f"claims with paper values whose tests record no evidence.headline(...): {lacking}"
