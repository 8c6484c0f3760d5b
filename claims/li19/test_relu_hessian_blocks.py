"""LI19 Eq. (7)-(8), (13)-(14): for a bias-free ReLU MLP with one output and a loss with l'' = 0
(hinge, absolute), the same-layer Hessian blocks vanish, so tr H = 0 and H is indefinite if non-zero."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losslab.experiments.li19.hinge_nets import same_layer_blocks
from losslab.seeds import claim_seed


@pytest.mark.claim("LI19-EQ8")
def test_same_layer_blocks_vanish(evidence, claim):
    tol = claim.threshold("block_tolerance")
    rows, seeds = [], []

    @given(depth=st.integers(2, 4), width=st.integers(1, 6), d=st.integers(1, 5), m=st.integers(1, 10),
           loss=st.sampled_from(["hinge", "absolute"]), idx=st.integers(0, 10**6))
    @settings(max_examples=30, deadline=None)
    def check(depth, width, d, m, loss, idx):
        seed = claim_seed("LI19-EQ8", idx)
        seeds.append(seed)
        r = same_layer_blocks([d] + [width] * (depth - 1) + [1], loss, seed, m)
        rows.append(r)
        assert r["block max"] <= tol, (loss, depth, r)
        assert abs(r["trace"]) <= tol
        if r["max |H|"] > tol:
            assert r["lambda_min"] < 0 < r["lambda_max"], r

    try:
        check()
    finally:
        nonzero = sum(r["max |H|"] > tol for r in rows)
        evidence.headline("max |same-layer block entry|", max((r["block max"] for r in rows), default=None))
        evidence.record(measured={"examples": len(rows), "examples with H != 0": nonzero}, seeds=seeds,
                        dtype="float64", device="cpu")
    assert nonzero >= claim.threshold("min_nonzero_examples")


@pytest.mark.claim("LI19-EQ8", control=True)
def test_check_rejects_square_loss(evidence, claim):
    seed = claim_seed("LI19-EQ8", -1)
    r = same_layer_blocks([3, 4, 1], "square", seed, 6)
    evidence.record(removes="l'' = 0: the square loss (l'' = 2)", measured=r, seeds=[seed])
    evidence.headline("max |same-layer block entry|, square loss", r["block max"])
    assert r["block max"] > claim.threshold("block_tolerance")
