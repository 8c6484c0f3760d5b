"""Claim status rules of the report, and evidence serialization."""

import json

import numpy as np
import pytest

from losslab.report.claims_table import TestOutcome, claim_status
from losslab.report.evidence import Evidence, evidence_from_properties, to_jsonable


def outcome(outcome, role="claim", strict_xpass=False):
    return TestOutcome(f"t::{outcome}_{role}", "X-1", role, outcome, reason="r", strict_xpass=strict_xpass)


@pytest.mark.parametrize("tests, status", [
    ([], "not covered"),
    ([outcome("passed"), outcome("passed", "control")], "reproduced"),
    ([outcome("passed"), outcome("skipped")], "reproduced"),
    ([outcome("xfailed"), outcome("passed", "control")], "not reproduced"),
    ([outcome("failed"), outcome("passed")], "not reproduced"),
    ([outcome("passed"), outcome("failed", "control")], "error"),
    ([outcome("passed"), outcome("error")], "error"),
    ([outcome("failed", strict_xpass=True)], "error"),
    ([outcome("skipped"), outcome("skipped", "control")], "skipped"),
    ([outcome("passed", "control")], "skipped"),
])
def test_claim_status_rules(tests, status):
    assert claim_status(tests)[0] == status


def test_evidence_survives_a_json_round_trip_with_numpy_values():
    props = []
    ev = Evidence("X-1", props, {})
    ev.record(measured={"ratio": np.float64(0.5), "v": np.arange(3)}, seeds=[1, 2])
    ev.record(uncertainty=float("nan"))
    claim_id, role, fields = evidence_from_properties(props + [("losslab_claim", "X-1|control")])
    assert (claim_id, role) == ("X-1", "control")
    assert fields["measured"] == {"ratio": 0.5, "v": [0, 1, 2]}
    assert fields["uncertainty"] == "nan" and fields["seeds"] == [1, 2]
    assert sum(1 for k, _ in props if k == "losslab_evidence") == 1  # merged, not appended twice
    json.dumps(to_jsonable({"t": (1, np.int64(2))}))
