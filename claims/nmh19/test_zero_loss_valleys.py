"""NMH19 Theorem 3.3 (cross-entropy loss, Eq. 2, under Assumption 3.1), checked numerically.

T33a (3.3.1): for random U, Phi(U) V = Y is solvable, so zero training error; uncountably many.
T33b (3.3.2): no bad local valley, via the proof's path: fix U (random, so Phi(U) has rank N), move
    V on the segment V(lam) = (1 - lam) V + lam t W with Phi W = Y (one-hot). The loss g(lam) is
    convex in lam; the proof only bounds it by the chord. We choose t >= t_eps =
    log((m-1)/(e^{eps/2}-1)) (end loss <= eps/2, the proof's value) and, doubling t, until
    g'(1) <= 0: a convex g with g'(1) <= 0 is non-increasing on [0, 1], so the path is monotone.
T33d (3.3.4): the Hessian in V is PSD and non-zero (convexity in V).
"""

import math
import random

import pytest
import torch
from torch.func import hessian

from losslab.probes.skip_features import (cross_entropy, cross_entropy_hessian_in_V, one_hot, random_skip_net, square_loss,
                                          training_error)
from losslab.seeds import claim_seed

EPS = torch.finfo(torch.float64).eps
CLASSES = 3
DRAWS = 10


def random_problem(claim_id: str, index: int):
    """(net, X, labels, U, V, seed): a random FC or conv, sigmoid or softplus skip net, M = N."""
    seed = claim_seed(claim_id, index)
    rng, g = random.Random(seed), torch.Generator().manual_seed(seed)
    kind, activation = rng.choice(["fc", "conv"]), rng.choice(["sigmoid", "softplus"])
    depth, n = rng.randint(1, 3), rng.randint(4, 10)
    shape = (3,) if kind == "fc" else (1, 6, 6)
    widths = [rng.randint(4, 8) if kind == "fc" else rng.randint(2, 3) for _ in range(depth)]
    while True:  # widen the first layer until there are N candidate skip neurons
        try:
            net = random_skip_net(rng, n, kind, activation, depth, widths, shape)
            break
        except ValueError:
            widths[0] += 1
    X = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    U = net.init_params(g)
    V = torch.randn(net.num_skip, CLASSES, generator=g, dtype=torch.float64)
    return net, X, labels, U, V, seed


def solve_targets(Phi, Y):
    """Minimum-norm solution W of Phi W = Y (Phi is N x M, M >= N)."""
    return torch.linalg.lstsq(Phi, Y, driver="gelsd").solution


# ---------------- T33a ----------------

@pytest.mark.claim("NMH19-T33a")
def test_random_features_fit_every_target_exactly(claim, evidence):
    residuals, errors, seeds = [], [], []
    for i in range(DRAWS):
        net, X, labels, U, _, seed = random_problem("NMH19-T33a", i)
        Phi, Y = net.feature_matrix(U, X), one_hot(labels, CLASSES)
        W = solve_targets(Phi, Y)
        residuals.append(float((Phi @ W - Y).abs().max()))
        errors.append(training_error(Phi @ W, labels))
        seeds.append(seed)
    evidence.headline("max |Phi(U) V - Y| over draws", max(residuals))
    evidence.record(measured={"max residual": max(residuals), "max training error": max(errors),
                              "draws": DRAWS},
                    criterion="max |Phi(U) V - Y| <= residual_max and training error 0 for every draw",
                    seeds=seeds, dtype="float64", device="cpu")
    assert max(residuals) <= claim.threshold("residual_max") and max(errors) == 0, f"{residuals}, {errors}"


@pytest.mark.claim("NMH19-T33a")
def test_a_continuum_of_U_gives_distinct_zero_error_solutions(claim, evidence):
    """U(theta) = U0 + theta (U1 - U0) for 25 theta: every one fits Y exactly, all solutions differ."""
    net, X, labels, U0, _, seed = random_problem("NMH19-T33a", DRAWS)
    U1 = net.init_params(torch.Generator().manual_seed(seed + 1))
    Y = one_hot(labels, CLASSES)
    solutions, residuals = [], []
    for theta in torch.linspace(0, 1, 25, dtype=torch.float64):
        U = U0 + theta * (U1 - U0)
        Phi = net.feature_matrix(U, X)
        W = solve_targets(Phi, Y)
        residuals.append(float(square_loss(Phi @ W, Y)))
        solutions.append(torch.cat([U, W.reshape(-1)]))
    S = torch.stack(solutions)
    min_gap = float(torch.cdist(S, S).fill_diagonal_(math.inf).min())
    evidence.record(measured={"max square loss": max(residuals), "min distance between solutions": min_gap},
                    seeds=[seed, seed + 1], dtype="float64")
    assert max(residuals) <= claim.threshold("square_loss_max") and min_gap > claim.threshold("distinct_min")


@pytest.mark.claim("NMH19-T33a", control=True)
def test_duplicated_input_with_two_labels_cannot_be_fitted(claim, evidence):
    """Violating distinct inputs: equal rows of Phi with different targets, so min ||Phi V - Y|| > 0."""
    net, X, labels, U, _, seed = random_problem("NMH19-T33a", DRAWS + 1)
    X[1], labels[1] = X[0], (labels[0] + 1) % CLASSES
    Phi, Y = net.feature_matrix(U, X), one_hot(labels, CLASSES)
    residual = float((Phi @ solve_targets(Phi, Y) - Y).abs().max())
    evidence.record(measured={"max residual": residual}, seeds=[seed], dtype="float64",
                    removes="distinct inputs: one input repeated with another label")
    evidence.headline("max |Phi(U) V - Y| with a repeated input", residual)
    assert residual > claim.threshold("residual_max")


# ---------------- T33b ----------------

def monotone_path(Phi, labels, V, eps):
    """(t, g) for the proof's V-segment: g(lam) = loss(Phi ((1-lam) V + lam t W)), t as in the docstring.
    g takes a 1-D tensor of lam values and returns the losses (batched: Phi is fixed on this path)."""
    W = solve_targets(Phi, one_hot(labels, CLASSES))
    t = math.log((CLASSES - 1) / (math.exp(eps / 2) - 1))
    g = lambda lam, t: cross_entropy(Phi @ ((1 - lam) * V + lam * t * W), labels)
    for _ in range(60):
        lam = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        (slope,) = torch.autograd.grad(g(lam, t), lam)
        if slope <= 0:
            break
        t *= 2
    def path_losses(lams):
        G = (1 - lams)[:, None, None] * (Phi @ V) + lams[:, None, None] * (t * (Phi @ W))
        return torch.nn.functional.cross_entropy(G.transpose(1, 2), labels.expand(len(lams), -1),
                                                 reduction="none").mean(dim=1)
    return t, path_losses


def rounding_tolerance(values, Phi, V, t, ulps):
    """Float64 slack for a loss difference: ulps eps (1 + max |loss| + max |logit| + t)."""
    return ulps * EPS * (1 + float(values.abs().max()) + float((Phi @ V).abs().max()) + t)


def g_end(Phi, labels, V, t):
    """Loss at the segment's end lam = 1 computed directly (t = 0 gives the start, V itself)."""
    if t == 0.0:
        return cross_entropy(Phi @ V, labels)
    return cross_entropy(t * (Phi @ solve_targets(Phi, one_hot(labels, CLASSES))), labels)


@pytest.mark.claim("NMH19-T33b")
def test_proof_path_is_non_increasing_and_reaches_eps(claim, evidence):
    eps, grid = claim.threshold("eps"), torch.linspace(0, 1, 2001, dtype=torch.float64)
    worst_step_over_tol, ends, starts, seeds, ts = -math.inf, [], [], [], []
    for i in range(DRAWS):
        net, X, labels, U, V, seed = random_problem("NMH19-T33b", i)
        Phi = net.feature_matrix(U, X)
        t, g = monotone_path(Phi, labels, V, eps)
        values = g(grid)
        assert torch.allclose(values[[0, -1]], torch.stack([g_end(Phi, labels, V, 0.0), g_end(Phi, labels, V, t)]),
                              rtol=claim.threshold("end_match_rtol"), atol=0)
        tol = rounding_tolerance(values, Phi, V, t, claim.threshold("rounding_ulps"))
        worst_step_over_tol = max(worst_step_over_tol, float((values[1:] - values[:-1]).max()) / tol)
        starts.append(float(values[0])), ends.append(float(values[-1])), seeds.append(seed), ts.append(t)
    evidence.record(measured={"max step / rounding tol (<= 1 means non-increasing)": worst_step_over_tol,
                              "max end loss": max(ends), "eps": eps, "start losses": starts, "t": ts,
                              "grid points": len(grid)},
                    criterion="every step g(lam_k+1) - g(lam_k) <= rounding_ulps eps_f64 (1 + max|loss| + "
                              "max|logit| + t) on 2001 points, end loss < eps, for every draw",
                    seeds=seeds, dtype="float64", device="cpu")
    evidence.headline("max step / rounding tolerance on the proof path (<= 1: non-increasing)", worst_step_over_tol)
    assert worst_step_over_tol <= 1 and max(ends) < eps


@pytest.mark.claim("NMH19-T33b", control=True)
def test_straight_line_in_full_parameter_space_is_not_monotone(claim, evidence):
    """The same monotonicity check rejects the straight line from (U, V) to another zero-error point
    (U1, t W1): moving U and V together is not a convex path. 101 points, the first 3 FC draws (a forward pass
    per point, so kept small; conv forward passes are slower on CPU)."""
    eps, grid = claim.threshold("eps"), torch.linspace(0, 1, 101, dtype=torch.float64)
    rises, seeds = [], []
    for i in range(DRAWS):
        net, X, labels, U, V, seed = random_problem("NMH19-T33b", i)
        if net.kind != "fc" or len(rises) == 3:
            continue
        U1 = net.init_params(torch.Generator().manual_seed(seed + 1))
        Phi1 = net.feature_matrix(U1, X)
        t, _ = monotone_path(Phi1, labels, V, eps)
        V1 = t * solve_targets(Phi1, one_hot(labels, CLASSES))
        values = torch.stack([cross_entropy(net.output((1 - l) * U + l * U1, (1 - l) * V + l * V1, X), labels)
                              for l in grid])
        tol = rounding_tolerance(values, Phi1, V1, 0.0, claim.threshold("rounding_ulps"))
        rises.append(float((values[1:] - values[:-1]).max()) / tol)
        seeds.append(seed)
    non_monotone = sum(r > 1.0 for r in rises)
    evidence.record(measured={"non-monotone draws": non_monotone, "draws": len(rises),
                              "max step / tol per draw": rises}, seeds=seeds, dtype="float64",
                    removes="convexity of the path: U and V move together")
    evidence.headline("non-monotone straight lines", non_monotone)
    assert non_monotone >= 1


# ---------------- T33d ----------------

def hessian_in_V(Phi, labels, V):
    """nabla^2_V of the cross-entropy at V (a (M m) x (M m) matrix; closed form, exact near saturation; it does not
    depend on the labels)."""
    return cross_entropy_hessian_in_V(Phi, V)


def saturation_points(claim):
    """(label, Phi, labels, V) where non-zero is at risk: V scaled along the interpolant W (Phi W = Y) until the loss
    log(1 + (m-1) e^-t) is each of the claim's saturated_losses, and sigmoid/softplus pre-activations shifted by
    +-sigmoid_saturation_shift (features near their limits)."""
    points = []
    for i in range(3):
        net, X, labels, U, V, _ = random_problem("NMH19-T33d", i)
        Phi = net.feature_matrix(U, X)
        W = solve_targets(Phi, one_hot(labels, CLASSES))
        for loss in claim.threshold("saturated_losses"):
            t = math.log((CLASSES - 1) / math.expm1(loss))
            points.append((f"draw {i}, loss {loss:g}", Phi, labels, t * W))
        for shift in (-claim.threshold("sigmoid_saturation_shift"), claim.threshold("sigmoid_saturation_shift")):
            shifted, offset = U.clone(), 0
            for w_shape, b_shape in net.weight_shapes():
                offset += math.prod(w_shape)
                shifted[offset:offset + b_shape[0]] += shift
                offset += b_shape[0]
            points.append((f"draw {i}, pre-activations {shift:+g}", net.feature_matrix(shifted, X), labels, V))
    return points


@pytest.mark.claim("NMH19-T33d", parts=["psd"])
def test_hessian_in_V_is_psd(claim, evidence):
    """An identity (cross-entropy is convex in V): shown at random and saturated points, never evidence."""
    ratios, seeds = [], []
    for i in range(DRAWS):
        net, X, labels, U, V, seed = random_problem("NMH19-T33d", i)
        H = hessian_in_V(net.feature_matrix(U, X), labels, V)
        eig = torch.linalg.eigvalsh(H / H.abs().max())  # scaled: saturated Hessians are near underflow
        ratios.append(float(eig.min() / eig.abs().max()))
        seeds.append(seed)
    for _, Phi, labels, V in saturation_points(claim):
        H = hessian_in_V(Phi, labels, V)
        eig = torch.linalg.eigvalsh(H / H.abs().max())
        ratios.append(float(eig.min() / eig.abs().max()))
    evidence.headline("min lambda_min / ||H_V|| (random and saturated points)", min(ratios))
    evidence.record(measured={"points": len(ratios)}, seeds=seeds, dtype="float64",
                    note="H_V has exact zero eigenvalues: adding one vector to all m output columns leaves softmax "
                         "unchanged")
    assert min(ratios) >= -claim.threshold("psd_rel_tol")


@pytest.mark.claim("NMH19-T33d", parts=["non-zero"])
def test_hessian_in_V_is_non_zero_also_near_saturation(claim, evidence):
    norms, seeds = {}, []
    for i in range(DRAWS):
        net, X, labels, U, V, seed = random_problem("NMH19-T33d", i)
        norms[f"random draw {i}"] = float(hessian_in_V(net.feature_matrix(U, X), labels, V).abs().max())
        seeds.append(seed)
    for label, Phi, labels, V in saturation_points(claim):
        norms[label] = float(hessian_in_V(Phi, labels, V).abs().max())
    smallest = min(norms, key=norms.get)
    evidence.headline(f"min max|H_V| over {len(norms)} points ({smallest})", norms[smallest])
    evidence.record(measured=norms, seeds=seeds, dtype="float64", device="cpu")
    assert min(norms.values()) > 0


@pytest.mark.claim("NMH19-T33d", parts=["non-zero"], control=True)
def test_non_zero_check_fires_where_float64_rounds_softmax_to_one_hot(evidence):
    """Logits t Y with e^-t below float64's smallest subnormal: softmax is exactly one-hot, H_V exactly 0 (rounding;
    analytically H_V ~ e^-t > 0). t = 2 x 745: e^-745 is the last subnormal."""
    net, X, labels, U, _, seed = random_problem("NMH19-T33d", 0)
    Phi = net.feature_matrix(U, X)
    t = 2 * -math.log(torch.finfo(torch.float64).tiny * EPS)
    H = hessian_in_V(Phi, labels, t * solve_targets(Phi, one_hot(labels, CLASSES)))
    evidence.record(removes="float64 resolution of the softmax (p rounds to one-hot)",
                    measured={"t": t, "max |H_V|": float(H.abs().max())}, seeds=[seed], dtype="float64")
    evidence.headline("max |H_V| at a softmax rounded to one-hot", float(H.abs().max()))
    assert not float(H.abs().max()) > 0


@pytest.mark.claim("NMH19-T33d", parts=["psd"], control=True)
def test_full_hessian_in_U_and_V_is_indefinite(claim, evidence):
    """The PSD check rejects the Hessian in all parameters (U, V): it has negative eigenvalues.
    5 draws (the full Hessian is the costly part)."""
    ratios, seeds = [], []
    for i in range(5):
        net, X, labels, U, V, seed = random_problem("NMH19-T33d", i)
        n_u = U.numel()
        loss = lambda p: cross_entropy(net.output(p[:n_u], p[n_u:].reshape(V.shape), X), labels)
        eig = torch.linalg.eigvalsh(hessian(loss)(torch.cat([U, V.reshape(-1)])))
        ratios.append(float(eig.min() / eig.abs().max()))
        seeds.append(seed)
    indefinite = sum(r < -claim.threshold("psd_rel_tol") for r in ratios)
    evidence.record(measured={"indefinite draws": indefinite, "draws": len(ratios),
                              "lambda_min / ||H|| per draw": ratios}, seeds=seeds, dtype="float64",
                    removes="the restriction to V: the Hessian in all parameters (U, V)")
    evidence.headline("min lambda_min / ||H|| of the full Hessian", min(ratios))
    assert indefinite == len(ratios)
