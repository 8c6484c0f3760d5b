"""LI19 Sec. 4 / Thm 4.1 on tiny ReLU nets under the hinge loss: Hessian bound, spectral symmetry,
local minima (CPU tier: nets trained in-test, exact Hessians by torch.func.hessian, float64).

Risk R(theta) = (1/m) sum_i l(f(x_i), y_i), hinge l = max(0, 1 - y f), so l'' = 0 a.e. and
H = (1/m) sum_i l'_i H~_i with H~_i = Hessian of the network output f(x_i) in theta (App. A.3).
"""

import math

import numpy as np
import pytest
import torch
from torch.func import hessian, vmap

from losslab.probes.two_layer import flat_mlp
from losslab.seeds import claim_seed, claim_seeds
from losslab.stats import clopper_pearson

DTYPE = torch.float64


# -- a ReLU MLP on a flat parameter vector -----------------------------------------------------


def layer_shapes(d_in, width, depth):
    """[(out, in)] of the weight matrices: `depth` hidden ReLU layers of `width`, one output."""
    dims = [d_in] + [width] * depth + [1]
    return [(dims[k + 1], dims[k]) for k in range(depth + 1)]


def parameter_count(shapes):
    return sum(o * i + o for o, i in shapes)


def init_params(shapes, generator):
    """He-normal weights, zero biases, flattened layer by layer as [W_1, b_1, W_2, b_2, ...]."""
    parts = []
    for o, i in shapes:
        parts += [torch.randn(o * i, generator=generator, dtype=DTYPE) * math.sqrt(2 / i),
                  torch.zeros(o, dtype=DTYPE)]
    return torch.cat(parts)


def mlp(theta, x, shapes):
    """f(x) for x of shape (m, d): ReLU hidden layers, linear scalar output."""
    return flat_mlp(theta, x, shapes)


def hinge_risk(theta, x, y, shapes):
    return torch.clamp(1 - y * mlp(theta, x, shapes), min=0).mean()


def hinge_derivative(theta, x, y, shapes):
    """l'_i = d l / d f at sample i: -y_i where the margin y_i f_i < 1, else 0."""
    return torch.where(y * mlp(theta, x, shapes) < 1, -y, torch.zeros_like(y))


def per_sample_output_hessians(theta, x, shapes):
    """H~_i = d^2 f(x_i) / d theta^2, shape (m, P, P)."""
    return vmap(hessian(lambda t, xi: mlp(t, xi[None], shapes)[0]), in_dims=(None, 0))(theta, x)


def operator_norm(h):
    return float(torch.linalg.matrix_norm(h, ord=2))


def train_gd(theta, x, y, shapes, steps, lr, loss="hinge", every=None):
    """Full-batch gradient descent; returns the final parameters and the checkpoints."""
    theta = theta.clone().requires_grad_(True)
    checkpoints = []
    for step in range(steps + 1):
        if every and step % every == 0:
            checkpoints.append(theta.detach().clone())
        if step == steps:
            break
        f = mlp(theta, x, shapes)
        value = (torch.clamp(1 - y * f, min=0).mean() if loss == "hinge"
                 else 0.5 * ((f - y) ** 2).mean())
        (grad,) = torch.autograd.grad(value, theta)
        with torch.no_grad():
            theta -= lr * grad
    return theta.detach(), checkpoints


def separable_data(m, d, generator, positive_fraction=0.5, margin=0.3):
    """Linearly separable points in R^d: y = sign(u . x) with |u . x| >= margin."""
    u = torch.randn(d, generator=generator, dtype=DTYPE)
    u /= u.norm()
    xs, ys = [], []
    n_pos = round(positive_fraction * m)
    while len(xs) < m:
        x = torch.randn(d, generator=generator, dtype=DTYPE)
        s = float(x @ u)
        want_pos = sum(1 for v in ys if v > 0) < n_pos
        if abs(s) >= margin and ((s > 0) == want_pos):
            xs.append(x)
            ys.append(1.0 if s > 0 else -1.0)
    return torch.stack(xs), torch.tensor(ys, dtype=DTYPE)


# -- Theorem 4.1(b): ||H|| <= E_m[|l'|] lambda_0 ----------------------------------------------


def bound_terms(theta, x, y, shapes, loss="hinge"):
    """(||H||, E_m|l'|, E_m l', lambda_0 = max_i ||H~_i||, ||H - mean_i l'_i H~_i||)."""
    if loss == "hinge":
        risk = lambda t: hinge_risk(t, x, y, shapes)  # noqa: E731
        lp = hinge_derivative(theta, x, y, shapes)
    else:
        risk = lambda t: 0.5 * ((mlp(t, x, shapes) - y) ** 2).mean()  # noqa: E731
        lp = mlp(theta, x, shapes) - y
    h = hessian(risk)(theta)
    h_tilde = per_sample_output_hessians(theta, x, shapes)
    lam0 = max(operator_norm(hi) for hi in h_tilde)
    decomposition_error = float((h - (lp[:, None, None] * h_tilde).mean(0)).abs().max())
    return operator_norm(h), float(lp.abs().mean()), float(lp.mean()), lam0, decomposition_error, h


def t41b_trajectory(seed, loss="hinge", steps=200, every=20):
    g = torch.Generator().manual_seed(seed)
    x, y = separable_data(24, 3, g, positive_fraction=0.75)
    shapes = layer_shapes(3, 6, 2)
    theta0 = init_params(shapes, g)
    _, checkpoints = train_gd(theta0, x, y, shapes, steps, lr=0.05, loss=loss, every=every)
    return [bound_terms(t, x, y, shapes, loss) for t in checkpoints]


@pytest.mark.claim("LI19-T41b")
def test_hessian_norm_bounded_by_mean_abs_loss_derivative(evidence):
    seed = claim_seed("LI19-T41b", 0)
    rows = t41b_trajectory(seed)
    ratios = [hn / (ml * lam) if ml * lam > 0 else (0.0 if hn == 0 else math.inf)
              for hn, ml, _, lam, _, _ in rows]
    final_h = rows[-1][-1]
    norms = [r[0] for r in rows]
    means = [r[1] for r in rows]
    evidence.record(
        measured={"||H|| at checkpoints": norms, "E_m|l'| at checkpoints": means,
                  "max ||H|| / (E_m|l'| lambda_0)": max(ratios),
                  "max |H - mean l'_i H~_i|": max(r[4] for r in rows),
                  "final max |H_ij|": float(final_h.abs().max()),
                  "final E_m|l'|": means[-1]},
        criterion="||H||_op <= E_m|l'| * max_i ||H~_i||_op (1e-12 rel.) at 11 checkpoints of GD on "
                  "hinge loss (depth 2, width 6, 73 params, m = 24); H == 0 exactly at zero risk",
        seeds=[seed], dtype="float64", device="cpu")
    assert max(r[4] for r in rows) <= 1e-12, "H must equal mean_i l'_i H~_i (l'' = 0)"
    assert max(ratios) <= 1 + 1e-12, ratios
    assert means[-1] == 0.0, f"training did not reach zero hinge risk: E|l'| = {means[-1]}"
    assert torch.count_nonzero(final_h) == 0, "H must be exactly 0 at zero hinge risk"


@pytest.mark.claim("LI19-T41b")
def test_printed_bound_without_absolute_value_fails(evidence):
    """Thm 4.1(b) prints E_m[l'] (no absolute value). For the hinge loss l' = -y on active samples,
    so E_m[l'] < 0 when most active samples are positive: the printed bound fails; |l'| is needed."""
    seed = claim_seed("LI19-T41b", 0)
    hn, mean_abs, mean_signed, lam, _, _ = t41b_trajectory(seed, steps=0)[0]
    evidence.record(measured={"||H|| at init": hn, "E_m l'": mean_signed, "E_m|l'|": mean_abs,
                              "lambda_0": lam},
                    note="counterexample to the printed form ||H|| <= E_m[l'] lambda_0 (75 % positive labels)")
    assert hn > mean_signed * lam, "printed form holds here"
    assert hn <= mean_abs * lam * (1 + 1e-12)


@pytest.mark.claim("LI19-T41b", control=True)
def test_bound_check_rejects_square_loss(evidence):
    """Square loss has l'' = 1: H = mean l'_i H~_i + mean grad f grad f^T, and the Gauss–Newton
    term survives as the residuals l' -> 0, so the same check rejects it along training."""
    seed = claim_seed("LI19-T41b", 1)
    rows = t41b_trajectory(seed, loss="square", steps=2000, every=400)
    ratios = [hn / (ml * lam) for hn, ml, _, lam, _, _ in rows]
    evidence.record(measured={"||H|| / (E_m|l'| lambda_0) along training (square loss)": ratios},
                    criterion="the T41b check (ratio <= 1) rejects the square loss at the last checkpoint",
                    seeds=[seed], dtype="float64", device="cpu")
    assert ratios[-1] > 1, ratios


# -- spectral symmetry (Sec. 4, Thm A.2 applied to nets) ---------------------------------------


def mirror_asymmetry(eigenvalues):
    """(W1(spectrum, mirrored spectrum) / mean |lambda|, fraction of negative among |lambda| > tol)."""
    lam = np.sort(eigenvalues)
    w1 = np.mean(np.abs(lam + lam[::-1]))  # sorted(-lam) = -lam[::-1]
    spread = np.mean(np.abs(lam))
    nonzero = np.abs(lam) > 1e-10 * np.abs(lam).max()
    return w1 / spread, float(np.mean(lam[nonzero] < 0))


def noisy_labels_data(generator, m=30, d=3):
    """Labels not separable (random), so the hinge risk stays positive and H != 0."""
    x = torch.randn(m, d, generator=generator, dtype=DTYPE)
    y = torch.where(torch.rand(m, generator=generator, dtype=DTYPE) < 0.5, -1.0, 1.0).to(DTYPE)
    return x, y


def hinge_hessian_spectrum(depth, width, seed, steps=30):
    g = torch.Generator().manual_seed(seed)
    x, y = noisy_labels_data(g)
    shapes = layer_shapes(3, width, depth)
    theta, _ = train_gd(init_params(shapes, g), x, y, shapes, steps, lr=0.05)
    h = hessian(lambda t: hinge_risk(t, x, y, shapes))(theta)
    return torch.linalg.eigvalsh(h).numpy()


SYM_CONFIGS = [(1, 4), (1, 16), (2, 4), (2, 8), (3, 4), (3, 6)]


@pytest.mark.claim("LI19-SYM")
def test_one_hidden_layer_hinge_hessian_spectrum_is_exactly_symmetric(evidence):
    """With one hidden layer, H = [[0, B], [B^T, 0]] in the partition (layer-1 params, layer-2
    params): same-layer blocks vanish (relu'' = 0, output linear in W_2), so H is bipartite and
    (u, v) -> (u, -v) maps the eigenvalue lambda to -lambda. Deeper: the blocks (1,2), (2,3), (1,3)
    form a triangle, no bipartition exists, and the symmetry is only approximate."""
    seeds = claim_seeds("LI19-SYM", 3)
    table = {}
    for depth, width in SYM_CONFIGS:
        values = [mirror_asymmetry(hinge_hessian_spectrum(depth, width, s)) for s in seeds]
        table[f"depth {depth}, width {width}"] = {
            "W1/mean|lambda| (max over seeds)": max(v[0] for v in values),
            "fraction negative (mean)": float(np.mean([v[1] for v in values]))}
    evidence.record(measured=table, seeds=seeds, dtype="float64", device="cpu",
                    criterion="depth 1: W1(spectrum, mirror)/mean|lambda| <= 1e-10; depths 2-3 reported",
                    note="hinge Hessian after 30 GD steps on 30 points with random labels (risk > 0)")
    one_layer = [v["W1/mean|lambda| (max over seeds)"] for k, v in table.items() if k.startswith("depth 1")]
    assert max(one_layer) <= 1e-10, table


@pytest.mark.claim("LI19-SYM", control=True)
def test_symmetry_check_rejects_deeper_nets(evidence):
    """The exact-symmetry check (<= 1e-10) rejects depth 2 (no bipartite block structure)."""
    seed = claim_seed("LI19-SYM", 10)
    asym = mirror_asymmetry(hinge_hessian_spectrum(2, 8, seed))[0]
    evidence.record(measured={"depth 2 width 8: W1/mean|lambda|": asym}, seeds=[seed],
                    criterion="the depth-1 symmetry check rejects a depth-2 net")
    assert asym > 1e-6, asym


# -- Theorem 4.1(a): zero risk from random inits; dead-ReLU local minima -----------------------


def fraction_reaching_zero_risk(depth, width, seeds, x, y, steps=400, lr=0.1):
    """Successes (hinge risk exactly 0 after full-batch GD) over inits seeded by `seeds`;
    all inits are trained at once (vmap over the parameter vectors)."""
    shapes = layer_shapes(x.shape[1], width, depth)
    thetas = torch.stack([init_params(shapes, torch.Generator().manual_seed(s)) for s in seeds])
    batched_grad = vmap(torch.func.grad(hinge_risk), in_dims=(0, None, None, None))
    for _ in range(steps):
        thetas = thetas - lr * batched_grad(thetas, x, y, shapes)
    risks = vmap(hinge_risk, in_dims=(0, None, None, None))(thetas, x, y, shapes)
    return int((risks == 0).sum())


T41A_CONFIGS = [(1, 2), (1, 16), (2, 2), (2, 16)]  # (depth, width); width 16 = the "large" regime


@pytest.mark.claim("LI19-T41a")
def test_random_inits_reach_zero_hinge_risk(evidence):
    """Fraction of He inits reaching zero hinge risk on separable data (m = 24, d = 3) by depth and
    width, with Clopper–Pearson 95 % intervals; the wide nets stand for the theorem's regime."""
    seeds = claim_seeds("LI19-T41a", 20)
    g = torch.Generator().manual_seed(claim_seed("LI19-T41a", 1000))
    x, y = separable_data(24, 3, g)
    table, wide_lower = {}, []
    for depth, width in T41A_CONFIGS:
        k = fraction_reaching_zero_risk(depth, width, seeds, x, y)
        lo, hi = clopper_pearson(k, len(seeds))
        table[f"depth {depth}, width {width}"] = {"zero-risk fraction": k / len(seeds),
                                                  "95% CP": [lo, hi]}
        if width >= 16:
            wide_lower.append(lo)
    evidence.record(measured=table, seeds=seeds, dtype="float64", device="cpu",
                    uncertainty="Clopper-Pearson 95 % over 20 inits per configuration",
                    criterion="width-16 nets (depth 1, 2): CP lower bound of the zero-risk fraction >= 0.8 "
                              "(400 GD steps, lr 0.1)")
    evidence.record(expectation_of_hessian=expectation_of_hessian_measurement())
    assert min(wide_lower) >= 0.8, table


def expectation_of_hessian_measurement(seed=None, steps=20):
    """Measure the assumption E[H] = 0 (Thm 4.1): A = E[H] estimated on 256 fresh points of the
    same distribution, against the training-set fluctuation H_train - A (m = 24), mid-training
    (risk > 0). A ratio ||A|| / ||H_train - A|| of order 1 means E[H] = 0 does not hold."""
    seed = claim_seed("LI19-T41a", 2000) if seed is None else seed
    g = torch.Generator().manual_seed(seed)
    x_all, y_all = separable_data(280, 3, g)
    perm = torch.randperm(280, generator=g)
    x_all, y_all = x_all[perm], y_all[perm]
    x, y = x_all[:24], y_all[:24]
    shapes = layer_shapes(3, 8, 2)
    theta, _ = train_gd(init_params(shapes, g), x, y, shapes, steps, lr=0.05)
    per_sample = (hinge_derivative(theta, x_all, y_all, shapes)[:, None, None]
                  * per_sample_output_hessians(theta, x_all, shapes))
    a = per_sample[24:].mean(0)
    h_train = per_sample[:24].mean(0)
    return {"||E[H]||_op (256 fresh points)": operator_norm(a),
            "||H_train - E[H]||_op (m = 24)": operator_norm(h_train - a),
            "ratio": operator_norm(a) / operator_norm(h_train - a),
            "train hinge risk": float(hinge_risk(theta, x, y, shapes)), "seed": seed,
            "net": "depth 2, width 8, 20 GD steps"}


@pytest.mark.claim("LI19-T41a", control=True)
def test_all_dead_relu_init_is_a_nonzero_loss_local_minimum(evidence):
    """Outside the assumptions (H = 0 identically, E[H] = 0 trivially, no spectrum): all hidden
    units dead (bias -5, inputs |x| <= 3, small W_1), balanced labels, output bias 0. The loss is
    1 on a whole neighbourhood (f = b_2 with |b_2| < 1), gradient 0: a local minimum with loss 1,
    while zero risk is reachable (global minimum 0)."""
    seed = claim_seed("LI19-T41a", 100)
    g = torch.Generator().manual_seed(seed)
    x, y = separable_data(24, 3, g)
    x = x.clamp(-3, 3)
    shapes = layer_shapes(3, 8, 1)
    theta = init_params(shapes, g)
    n_w1 = 8 * 3
    theta[:n_w1] *= 0.05
    theta[n_w1:n_w1 + 8] = -5.0
    theta[-1] = 0.0
    risk = lambda t: hinge_risk(t, x, y, shapes)  # noqa: E731
    grad = torch.func.grad(risk)(theta)
    radius = 0.05
    perturbed = [float(risk(theta + radius * d / d.norm()))
                 for d in torch.randn(200, theta.numel(), generator=g, dtype=DTYPE)]
    trained, _ = train_gd(init_params(shapes, g), x, y, shapes, 600, 0.05)
    evidence.record(measured={"loss": float(risk(theta)), "max |grad|": float(grad.abs().max()),
                              "min/max loss over 200 perturbations of radius 0.05":
                                  [min(perturbed), max(perturbed)],
                              "loss reached from a He init": float(risk(trained))},
                    criterion="loss 1 > 0, gradient exactly 0, loss unchanged under all perturbations",
                    seeds=[seed], dtype="float64", device="cpu")
    assert float(risk(theta)) == 1.0
    assert float(grad.abs().max()) == 0.0
    # constant up to float rounding of the mean of (1 - y b_2) terms; a slope would show ~ radius
    assert max(abs(v - 1.0) for v in perturbed) <= 1e-12
    assert float(risk(trained)) == 0.0
