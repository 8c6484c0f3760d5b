"""Claim status rules of the report (parts, scale, power, identity checks), and evidence serialization."""

import json

import numpy as np
import pytest

from losslab.catalog import Claim, Part
from losslab.report.claims_table import STATUS_RANK, TestOutcome, claim_status, part_statuses
from losslab.report.evidence import Evidence, evidence_from_properties, to_jsonable

MATH = Claim("X-1", "X", "Eq. 1", "math", "s", "c", parts={"main": Part("main", "s")})
TRAINING = Claim("X-2", "X", "Tab. 1", "training", "s", "c",
                 parts={"a": Part("a", "cell a"), "b": Part("b", "cell b"), "psd": Part("psd", "psd", "identity")})


def outcome(outcome, role="claim", strict_xpass=False, parts=(), reason="r", **evidence):
    return TestOutcome(f"t::{outcome}_{role}_{'_'.join(parts)}", "X-1", role, outcome, reason=reason,
                       strict_xpass=strict_xpass, parts=list(parts), evidence=evidence)


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
    ([outcome("skipped", reason="not run at this tier: needs a GPU")], "not run at this tier"),
    ([outcome("passed", "control")], "not covered"),
    ([outcome("passed", inconclusive="interval straddles 0")], "inconclusive"),
    ([outcome("passed", power={"detectable": 0.3, "needed": 0.1, "method": "planted"})], "inconclusive"),
    ([outcome("passed", power={"detectable": 0.05, "needed": 0.1, "method": "planted"})], "reproduced"),
    ([outcome("passed", reduced="512 of 10,000 images")], "reproduced at reduced scale"),
])
def test_claim_status_rules_for_a_one_part_math_claim(tests, status):
    assert claim_status(MATH, tests)[0] == status


def test_a_training_claim_is_at_best_reduced_below_the_paper_tier():
    tests = [outcome("passed", parts=["a", "b"])]
    assert claim_status(TRAINING, tests, tier="cpu")[0] == "reproduced at reduced scale"
    assert claim_status(TRAINING, tests, tier="gpu")[0] == "reproduced at reduced scale"
    assert claim_status(TRAINING, tests, tier="paper")[0] == "reproduced"
    assert claim_status(TRAINING, tests, tier="paper", scale="smoke")[0] == "smoke"


def test_the_claim_is_never_better_than_its_weakest_tested_part():
    tests = [outcome("passed", parts=["a"]), outcome("passed", parts=["b"], inconclusive="power")]
    parts = part_statuses(TRAINING, tests, tier="paper")
    assert (parts["a"]["status"], parts["b"]["status"], parts["psd"]["status"]) == (
        "reproduced", "inconclusive", "not covered")
    assert claim_status(TRAINING, tests, tier="paper") [0] == "inconclusive"
    tests.append(outcome("xfailed", parts=["a"]))
    assert claim_status(TRAINING, tests, tier="paper")[0] == "not reproduced"


def test_identity_parts_are_not_evidence_unless_they_fail():
    only_identity = [outcome("passed", parts=["psd"]), outcome("skipped", parts=["a", "b"])]
    status, reason = claim_status(TRAINING, only_identity, tier="paper")
    assert status == "inconclusive" and "identity" in reason
    with_evidence = only_identity + [outcome("passed", parts=["a"])]
    assert claim_status(TRAINING, with_evidence, tier="paper")[0] == "reproduced"
    broken_identity = with_evidence + [outcome("failed", parts=["psd"])]
    assert claim_status(TRAINING, broken_identity, tier="paper")[0] == "not reproduced"


def test_a_control_that_does_not_reject_spoils_only_its_parts():
    tests = [outcome("passed", parts=["a"]), outcome("passed", parts=["b"]), outcome("failed", "control", parts=["b"])]
    parts = part_statuses(TRAINING, tests, tier="paper")
    assert parts["a"]["status"] == "reproduced" and parts["b"]["status"] == "error"
    assert claim_status(TRAINING, tests, tier="paper")[0] == "error"


def test_status_order_for_regressions():
    order = ["reproduced", "reproduced at reduced scale", "inconclusive", "not run at this tier", "not reproduced",
             "error"]
    assert [STATUS_RANK[s] for s in order] == sorted(STATUS_RANK[s] for s in order)


def test_evidence_survives_a_json_round_trip_with_numpy_values():
    props = []
    ev = Evidence("X-1", props, {})
    ev.record(measured={"ratio": np.float64(0.5), "v": np.arange(3)}, seeds=[1, 2])
    ev.record(uncertainty=float("nan"))
    claim_id, role, fields, parts = evidence_from_properties(props + [("losslab_claim", "X-1|control")])
    assert (claim_id, role) == ("X-1", "control")
    assert fields["measured"] == {"ratio": 0.5, "v": [0, 1, 2]}
    assert fields["uncertainty"] == "nan" and fields["seeds"] == [1, 2]
    assert sum(1 for k, _ in props if k == "losslab_evidence") == 1  # merged, not appended twice
    json.dumps(to_jsonable({"t": (1, np.int64(2))}))


def test_evidence_helpers_and_unknown_parts():
    props = []
    ev = Evidence("X-2", props, {}, parts=["a", "b"])
    ev.headline("r", 0.1, interval=(-0.1, 0.3), paper=0.34)
    ev.power(detectable=0.2, needed=0.34, method="planted shift")
    ev.record(parts=["a"])
    _, _, fields, parts = evidence_from_properties(props)
    assert fields["headline"]["interval"] == [-0.1, 0.3] and fields["power"]["needed"] == 0.34 and parts == ["a"]
    with pytest.raises(ValueError, match="not in the claim"):
        ev.record(parts=["c"])


def test_benjamini_hochberg_matches_scipy():
    from scipy.stats import false_discovery_control

    from losslab.report.claims_table import benjamini_hochberg
    p = [0.01, 0.04, 0.03, 0.20, 0.005, 0.5, 0.049]
    assert benjamini_hochberg(p) == pytest.approx(list(false_discovery_control(p, method="bh")), rel=1e-12)
    assert benjamini_hochberg([]) == []
