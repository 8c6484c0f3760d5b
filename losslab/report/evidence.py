"""Evidence a claim test records: measured vs paper, criterion, seeds, uncertainty, dtype, device.

Evidence is stored in the test item's `user_properties` as JSON text, because pytest-xdist ships
`user_properties` from the workers to the controller with every test report; the controller then
writes one report from all workers (DESIGN.md, "Evidence travels with the test report").
"""

from __future__ import annotations

import json
import math
from typing import Any

EVIDENCE_KEY = "losslab_evidence"
CLAIM_KEY = "losslab_claim"
PARTS_KEY = "losslab_parts"


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from numpy/torch scalars, arrays, tuples; non-finite floats as strings."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class Evidence:
    """What one claim test measured; `record` may be called several times (fields merge)."""

    def __init__(self, claim_id: str, user_properties: list, paper_values: dict, parts: list[str] | None = None):
        self.claim_id = claim_id
        self.paper_values = paper_values
        self.parts = parts  # the claim's part ids (None: not checked)
        self._props = user_properties
        self.fields: dict[str, Any] = {}

    def record(self, *, measured: Any = None, criterion: str | None = None, paper: Any = None,
               seeds: list[int] | None = None, uncertainty: Any = None, dtype: str | None = None,
               device: str | None = None, note: str | None = None, **extra: Any) -> None:
        """Merge these fields into the evidence of this test (None leaves a field unchanged).

        measured: the measured number(s), e.g. {"max ratio LHS/RHS": 0.93}
        criterion: the check actually asserted, with its tolerance
        paper: the paper's number(s) compared against (default: the catalog's paper_values)
        seeds: every seed used; uncertainty: std / interval of the measured value
        """
        if extra.get("parts") is not None:
            extra["parts"] = self._known_parts(extra["parts"])
        given = dict(measured=measured, criterion=criterion, paper=paper, seeds=seeds,
                     uncertainty=uncertainty, dtype=dtype, device=device, note=note, **extra)
        self.fields.update({k: to_jsonable(v) for k, v in given.items() if v is not None})
        self._flush()

    def _known_parts(self, parts) -> list[str]:
        parts = [parts] if isinstance(parts, str) else list(parts)
        unknown = [p for p in parts if self.parts is not None and p not in self.parts]
        if unknown:
            raise ValueError(f"{self.claim_id}: part(s) {unknown} not in the claim's [[parts]] ({self.parts})")
        return parts

    def headline(self, quantity: str, value: Any, interval: Any = None, paper: Any = None, unit: str = "") -> None:
        """The one line the report shows for the claim: `quantity = value [interval] (paper: ...)`."""
        self.record(headline={"quantity": quantity, "value": value, "interval": interval, "paper": paper,
                              "unit": unit})

    def power(self, detectable: float, needed: float, method: str) -> None:
        """The smallest effect this check detects vs the effect the claim needs detected.

        detectable > needed makes the part inconclusive (docs/verdicts.md): the check could not
        have refuted the claim at the size that matters.
        """
        self.record(power={"detectable": detectable, "needed": needed, "method": method})

    def inconclusive(self, reason: str) -> None:
        """The test ran but its evidence cannot decide the part (e.g. the interval straddles the criterion)."""
        self.record(inconclusive=reason)

    def _flush(self) -> None:
        self._props[:] = [p for p in self._props if p[0] != EVIDENCE_KEY]
        self._props.append((EVIDENCE_KEY, json.dumps(self.fields, sort_keys=True)))


def evidence_from_properties(user_properties: list) -> tuple[str | None, str, dict, list[str]]:
    """(claim id, role, evidence fields, part ids) from a test report's user_properties."""
    claim_id, role, fields, parts = None, "claim", {}, []
    for key, value in user_properties:
        if key == CLAIM_KEY:
            claim_id, role = value.split("|", 1)
        elif key == EVIDENCE_KEY:
            fields = json.loads(value)
        elif key == PARTS_KEY:
            parts = json.loads(value)
    return claim_id, role, fields, fields.get("parts", parts)
