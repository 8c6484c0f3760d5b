"""Preregistered criteria: a claim test asserts no numeric literal that is not read from its TOML.

Thresholds, margins and tolerances live in reference/<PAPER>/<ID>.toml `[criteria.NAME]` with a
source (docs/verdicts.md) and reach the test through `claim.threshold(NAME)`. This check reads
every claim module's `assert` statements and flags a number other than 0 and 1 written into one,
directly or through a name bound to a literal (a module constant, or a local `tol = 1e-9`).
Subscript indices (`x[2]`, `shape[-1]`) are structure, not thresholds, and are not flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLAIM_MODULES = sorted((ROOT / "claims").rglob("test_*.py"))
ALLOWED = {0, 1}


def _numbers(node: ast.AST) -> list[float]:
    """Numeric literals in `node` (a unary minus folded in), skipping subscript indices."""
    found, skip = [], set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript):
            skip.update(id(n) for n in ast.walk(sub.slice))
        if isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub) and isinstance(sub.operand, ast.Constant):
            skip.add(id(sub.operand))
            if _is_number(sub.operand) and id(sub) not in skip:
                found.append(-sub.operand.value)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and _is_number(sub) and id(sub) not in skip:
            found.append(sub.value)
    return found


def _is_number(node: ast.Constant) -> bool:
    return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _pure_literal(node: ast.AST) -> bool:
    """Only numbers and containers or arithmetic of numbers (`0.49`, `(1e-9, 2)`, `1.52 / 3.11`)."""
    leaves = (ast.Constant, ast.UnaryOp, ast.BinOp, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.operator,
              ast.unaryop, ast.expr_context)
    return all(isinstance(n, leaves) for n in ast.walk(node))


def _literal_names(body: list[ast.stmt]) -> dict[str, list[float]]:
    """Names assigned (directly, in these statements) a value holding numbers outside ALLOWED."""
    names = {}
    for stmt in body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        value = getattr(stmt, "value", None)
        if value is None or not _pure_literal(value):
            continue  # a computed value is a measurement, not a threshold
        bad = [n for n in _numbers(value) if n not in ALLOWED]
        for target in targets:
            if isinstance(target, ast.Name) and bad:
                names[target.id] = bad
    return names


def literal_asserts(source: str) -> list[str]:
    """'line N: assert ...' for each assert that uses a number not read from the TOML."""
    tree = ast.parse(source)
    module_names = _literal_names(tree.body)
    problems = []
    functions = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    scopes = [(f, _literal_names([n for n in ast.walk(f) if isinstance(n, (ast.Assign, ast.AnnAssign))]))
              for f in functions] + [(tree, {})]
    seen = set()
    for scope, local_names in scopes:
        for node in ast.walk(scope):
            if not isinstance(node, ast.Assert) or id(node) in seen:
                continue
            names = {**module_names, **local_names}
            numbers = [n for n in _numbers(node.test) if n not in ALLOWED]
            via = sorted({sub.id for sub in ast.walk(node.test) if isinstance(sub, ast.Name) and sub.id in names})
            if numbers or via:
                seen.add(id(node))
                shown = ast.unparse(node.test)
                what = ", ".join([str(n) for n in numbers] + [f"{v} = {names[v]}" for v in via])
                problems.append(f"line {node.lineno}: assert {shown[:120]}  <- {what}")
    return sorted(set(problems), key=lambda p: int(p.split(":")[0].split()[1]))


def test_the_lint_flags_literals_and_literal_constants_and_passes_thresholds():
    source = (
        "MARGIN = 0.49\n"
        "err = (a - 2 * b).max()\n"
        "def test_a(claim):\n"
        "    tol = 1e-9\n"
        "    m = claim.threshold('margin')\n"
        "    assert x < 2.5\n"
        "    assert x < MARGIN\n"
        "    assert abs(y) <= tol\n"
        "    assert x < m and rank == 0 and shape[2] == n and z >= -1\n"
        "    assert x == pytest.approx(y, rel=m) and err <= m\n")
    found = literal_asserts(source)
    assert [p.split(":")[0] for p in found] == ["line 6", "line 7", "line 8", "line 9"]
    assert "-1" in found[3]


@pytest.mark.parametrize("module", CLAIM_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_claim_tests_assert_no_unregistered_numeric_literal(module):
    problems = literal_asserts(module.read_text(encoding="utf-8"))
    assert not problems, (f"{module.relative_to(ROOT)}: thresholds must come from the claim's TOML "
                          f"([criteria.NAME] with a source, read by claim.threshold(NAME)):\n  "
                          + "\n  ".join(problems))
