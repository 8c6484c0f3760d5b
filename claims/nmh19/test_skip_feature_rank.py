"""NMH19-L32 (Lemma 3.2, Assumption 3.1): Phi(U) in R^{N x M} has full rank N for almost every U.

Paper notation: N training samples, M >= N skip neurons (here M = N, the hardest case: Phi square).
Assumptions exercised: distinct generic inputs (Gaussian, so conv patches are distinct too),
analytic strictly increasing activations (sigmoid; softplus with a non-skip backward path, which
`random_skip_net` guarantees by keeping neuron/channel 0 of every layer out of the skip set).
Rank is numerical: tol = sigma_max * max(N, M) * eps_float64 (numpy.linalg.matrix_rank's rule).
Lemma 3.2 is a measure statement about exact rank; with scalar inputs (d = 1) Phi is analytically
full rank but can be too ill-conditioned for float64 (shown below, confirmed at 50 digits).
"""

import random

import mpmath
import pytest
import torch
from hypothesis import given, settings, strategies as st

from losslab.probes.skip_features import numerical_rank, random_skip_net, SkipNet
from losslab.seeds import claim_seed

EPS = torch.finfo(torch.float64).eps


@st.composite
def skip_nets(draw, min_input_dim=2):
    """(net, X, U): random depth 1-4, widths, skip layers, FC/conv, sigmoid/softplus; M = N."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = random.Random(seed)
    kind = draw(st.sampled_from(["fc", "conv"]))
    activation = draw(st.sampled_from(["sigmoid", "softplus"]))
    depth = draw(st.integers(1, 4))
    num_samples = draw(st.integers(2, 12))
    if kind == "fc":
        input_shape = (draw(st.integers(min_input_dim, 4)),)
        widths = draw(st.lists(st.integers(2, 8), min_size=depth, max_size=depth))
        widths[-1] = max(widths[-1], 2)
    else:
        input_shape = (draw(st.integers(1, 2)), 6, 6)
        widths = draw(st.lists(st.integers(1, 3), min_size=depth, max_size=depth))
    # total candidates must reach N: widen the first layer if needed
    while True:
        try:
            net = random_skip_net(rng, num_samples, kind, activation, depth, widths, input_shape)
            break
        except ValueError:
            widths[0] += 1
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(num_samples, *input_shape, generator=g, dtype=torch.float64)
    return net, X, net.init_params(g), seed


RATIOS = []  # sigma_min / tol of every drawn example, for the evidence


@pytest.mark.claim("NMH19-L32")
@given(case=skip_nets())
def test_feature_matrix_has_full_rank_for_random_architectures(case):
    net, X, U, seed = case
    rank, s, tol = numerical_rank(net.feature_matrix(U, X))
    RATIOS.append((float(s.min() / tol), float(s.min()), net.kind, net.activation, len(net.widths)))
    assert rank == X.shape[0], (f"rank {rank} < N = {X.shape[0]}: sigma_min = {float(s.min()):.3e}, "
                                f"tol = {tol:.3e}, net = {net}, seed = {seed}")


@pytest.mark.claim("NMH19-L32")
def test_feature_matrix_rank_evidence(evidence):
    """Records the distribution of sigma_min and sigma_min / tol over the hypothesis draws above
    (re-drawing them if this test runs alone)."""
    if not RATIOS:
        test_feature_matrix_has_full_rank_for_random_architectures()
    ratios = sorted(r[0] for r in RATIOS)
    smins = sorted(r[1] for r in RATIOS)
    pick = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]
    evidence.record(
        measured={"draws": len(ratios), "min sigma_min/tol": ratios[0],
                  "median sigma_min/tol": pick(ratios, 0.5),
                  "sigma_min quantiles (0, .1, .5, .9)": [smins[0], pick(smins, .1), pick(smins, .5),
                                                          pick(smins, .9)],
                  "fc/conv draws": [sum(r[2] == "fc" for r in RATIOS), sum(r[2] == "conv" for r in RATIOS)],
                  "sigmoid/softplus draws": [sum(r[3] == "sigmoid" for r in RATIOS),
                                             sum(r[3] == "softplus" for r in RATIOS)]},
        criterion="numerical rank N (sigma_min > sigma_max * max(N, M) * eps_float64) for every draw, "
                  "input dimension >= 2 (FC) or conv 6x6 images, depth 1-4, M = N <= 12",
        seeds="hypothesis derandomized profile 'ci'", dtype="float64", device="cpu")
    evidence.headline("min sigma_min / rank tolerance over the draws (> 1: full rank N)", ratios[0])
    assert ratios[0] > 1.0


def _sigmoid_fc_features_mp(net: SkipNet, U: torch.Tensor, X: torch.Tensor, digits: int = 50):
    """Phi(U) of a sigmoid FC SkipNet in mpmath at `digits` digits (float64 inputs are exact)."""
    mpmath.mp.dps = digits
    h = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in X.tolist()])
    offset, cols = 0, []
    for (w_shape, b_shape), idx in zip(net.weight_shapes(), net.skip):
        nw = w_shape[0] * w_shape[1]
        w = mpmath.matrix([[mpmath.mpf(float(v)) for v in row]
                           for row in U[offset:offset + nw].reshape(w_shape).tolist()])
        b = [mpmath.mpf(float(v)) for v in U[offset + nw:offset + nw + b_shape[0]].tolist()]
        offset += nw + b_shape[0]
        pre = h * w
        h = mpmath.matrix(pre.rows, pre.cols)
        for i in range(pre.rows):
            for j in range(pre.cols):
                h[i, j] = 1 / (1 + mpmath.exp(-(pre[i, j] + b[j])))
        cols += [[h[i, j] for i in range(h.rows)] for j in idx]
    return mpmath.matrix(cols).T


@pytest.mark.claim("NMH19-L32")
def test_scalar_inputs_are_full_rank_but_float64_ill_conditioned(claim, evidence):
    """Finding: with d = 1 (N points on a line) and a deep narrow net, Phi is full rank exactly
    (sigma_min > 0 at 50 digits) while float64 cannot certify it (sigma_min near the tolerance)."""
    import random as _random
    rng = _random.Random(claim_seed("NMH19-L32", 1))
    net = random_skip_net(rng, 11, "fc", "sigmoid", 4, [3, 8, 8, 5], (1,))
    g = torch.Generator().manual_seed(claim_seed("NMH19-L32", 1))
    X = torch.randn(11, 1, generator=g, dtype=torch.float64)
    U = net.init_params(g)
    rank64, s64, tol64 = numerical_rank(net.feature_matrix(U, X))
    s_mp = mpmath.svd_r(_sigmoid_fc_features_mp(net, U, X), compute_uv=False)
    smin_mp, smax_mp = min(s_mp), max(s_mp)
    tol_mp = smax_mp * 11 * mpmath.mpf(10) ** (-50)
    evidence.record(measured={"float64 sigma_min/tol": float(s64.min() / tol64), "float64 rank": rank64,
                              "50-digit sigma_min/sigma_max": float(smin_mp / smax_mp),
                              "50-digit sigma_min/tol_50": float(smin_mp / tol_mp)},
                    note="Lemma 3.2 is exact; float64 rank certificates need d >= 2 or small N.",
                    seeds=[claim_seed("NMH19-L32", 1)], dtype="float64 and mpmath 50 digits")
    assert smin_mp > tol_mp, "exact-precision rank is below N: Lemma 3.2 violated"
    assert float(smin_mp / smax_mp) < claim.threshold("ill_conditioned_ulps") * EPS * X.shape[0], "not ill-conditioned"


# ---- negative controls: the same rank check rejects where rank < N must hold ----

def _sample_fc(seed, widths, skip, input_dim, n, activation="sigmoid"):
    g = torch.Generator().manual_seed(seed)
    net = SkipNet("fc", (input_dim,), tuple(widths), skip, activation)
    return net, torch.randn(n, input_dim, generator=g, dtype=torch.float64), net.init_params(g)


@pytest.mark.claim("NMH19-L32", control=True)
def test_no_skip_and_narrow_last_layer_is_rank_deficient(evidence):
    seed, n = claim_seed("NMH19-L32", 2), 10
    # only the last hidden layer (width 6 < N = 10) feeds the output: a standard network
    net, X, U = _sample_fc(seed, (12, 12, 6), ((), (), tuple(range(6))), 3, n)
    rank, s, tol = numerical_rank(net.feature_matrix(U, X))
    evidence.record(measured={"rank": rank, "N": n}, seeds=[seed], dtype="float64",
                    removes="skip connections from N neurons: only a last layer of width 6 < N feeds the output")
    evidence.headline("rank of Phi without skip connections (N = 10)", rank)
    assert rank < n


@pytest.mark.claim("NMH19-L32", control=True)
def test_duplicated_inputs_are_rank_deficient(evidence):
    seed, n = claim_seed("NMH19-L32", 3), 8
    net, X, U = _sample_fc(seed, (6, 6), ((1, 2, 3, 4), (1, 2, 3, 4)), 3, n)
    X[5] = X[2]  # violates the distinct-inputs assumption: two equal rows of Phi
    rank, s, tol = numerical_rank(net.feature_matrix(U, X))
    evidence.record(measured={"rank": rank, "N": n, "sigma_min/tol": float(s.min() / tol)},
                    seeds=[seed], dtype="float64", removes="distinct inputs: one input repeated")
    assert rank < n


@pytest.mark.claim("NMH19-L32", control=True)
def test_dead_saturated_sigmoids_collapse_the_columns(evidence):
    """Huge negative biases: every sigmoid underflows to exactly 0 in float64 (sigma(-1000) = 0),
    so Phi = 0 numerically although it is analytically full rank (a float64 effect, not Lemma 3.2's)."""
    seed, n = claim_seed("NMH19-L32", 4), 8
    net, X, U = _sample_fc(seed, (6, 6), ((1, 2, 3, 4), (1, 2, 3, 4)), 3, n)
    offset = 0
    for w_shape, b_shape in net.weight_shapes():
        offset += w_shape[0] * w_shape[1]
        U[offset:offset + b_shape[0]] = -1000.0
        offset += b_shape[0]
    rank, s, tol = numerical_rank(net.feature_matrix(U, X))
    evidence.record(measured={"rank": rank, "N": n, "max |Phi|": float(net.feature_matrix(U, X).abs().max())},
                    seeds=[seed], dtype="float64", removes="float64 resolution of the sigmoid: biases -1000")
    assert rank < n
