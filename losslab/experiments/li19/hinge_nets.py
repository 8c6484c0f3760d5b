"""LI19 Sec. 4 / Thm 4.1 on ReLU nets under the hinge loss: Hessian bound (4.1b), spectral symmetry
(Sec. 4 with Thm A.2), zero-risk minima (4.1a), the premise E[H] = 0, and same-layer blocks (Eq. 8).

Risk R(theta) = (1/m) sum_i l(f(x_i), y_i), hinge l = max(0, 1 - y f), so l'' = 0 a.e. and
H = (1/m) sum_i l'_i H~_i with H~_i = Hessian of the network output f(x_i) in theta (App. A.3).
cpu tier: nets trained here, exact Hessians by torch.func.hessian in float64; gpu/paper tiers:
widths in the hundreds to thousands, Hessian-vector products (losslab.probes.hessian) only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linprog
from torch.func import hessian, vmap

from losslab.probes.two_layer import flat_mlp
from losslab.stats import clopper_pearson

DTYPE = torch.float64

# -- a ReLU MLP on a flat parameter vector -----------------------------------------------------


def layer_shapes(d_in, width, depth):
    """[(out, in)] of the weight matrices: `depth` hidden ReLU layers of `width`, one output."""
    dims = [d_in] + [width] * depth + [1]
    return [(dims[k + 1], dims[k]) for k in range(depth + 1)]


def init_params(shapes, generator, dtype=DTYPE, device="cpu"):
    """He-normal weights, zero biases, flattened layer by layer as [W_1, b_1, W_2, b_2, ...]."""
    parts = []
    for o, i in shapes:
        parts += [torch.randn(o * i, generator=generator, dtype=dtype) * math.sqrt(2 / i),
                  torch.zeros(o, dtype=dtype)]
    return torch.cat(parts).to(device)


def hinge_loss(output, y):
    """Mean hinge loss max(0, 1 - y f)."""
    return torch.clamp(1 - y * output, min=0).mean(dim=-1)


def hinge_risk(theta, x, y, shapes):
    return hinge_loss(flat_mlp(theta, x, shapes), y)


def square_risk(theta, x, y, shapes):
    return 0.5 * ((flat_mlp(theta, x, shapes) - y) ** 2).mean()


def loss_derivative(theta, x, y, shapes, loss="hinge"):
    """l'_i = d l / d f at sample i: hinge -y_i where the margin y_i f_i < 1 (else 0); square f_i - y_i."""
    f = flat_mlp(theta, x, shapes)
    if loss == "square":
        return f - y
    return torch.where(y * f < 1, -y, torch.zeros_like(y))


def per_sample_output_hessians(theta, x, shapes):
    """H~_i = d^2 f(x_i) / d theta^2, shape (m, P, P)."""
    return vmap(hessian(lambda t, xi: flat_mlp(t, xi[None], shapes)[0]), in_dims=(None, 0))(theta, x)


def operator_norm(h):
    return float(torch.linalg.matrix_norm(h, ord=2))


def train_gd(theta, x, y, shapes, steps, lr, loss="hinge", every=None):
    """Full-batch gradient descent; returns the final parameters and the checkpoints."""
    risk = hinge_risk if loss == "hinge" else square_risk
    theta = theta.clone()
    checkpoints = []
    grad = torch.func.grad(risk)
    for step in range(steps + 1):
        if every and step % every == 0:
            checkpoints.append(theta.clone())
        if step == steps:
            break
        theta = theta - lr * grad(theta, x, y, shapes)
    return theta, checkpoints


# -- data ------------------------------------------------------------------------------------------


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


def shell_data(m, d, generator, inner=0.8, outer=1.3):
    """Balanced labels a linear model cannot fit: y = +1 for |x| <= inner, -1 for |x| >= outer
    (directions uniform, radii uniform within each shell band of width 0.3)."""
    direction = torch.randn(m, d, generator=generator, dtype=DTYPE)
    direction /= direction.norm(dim=1, keepdim=True)
    y = torch.tensor([1.0, -1.0] * (m // 2), dtype=DTYPE)
    band = torch.rand(m, generator=generator, dtype=DTYPE) * 0.3
    radius = torch.where(y > 0, inner - band, outer + band)
    return direction * radius[:, None], y


def random_label_data(m, d, generator):
    """Gaussian inputs with random balanced labels: the hinge risk stays positive for small nets."""
    x = torch.randn(m, d, generator=generator, dtype=DTYPE)
    y = torch.where(torch.rand(m, generator=generator, dtype=DTYPE) < 0.5, -1.0, 1.0).to(DTYPE)
    return x, y


def linearly_separable(x, y) -> bool:
    """Is there (w, b) with y_i (w . x_i + b) >= 1 for all i? (LP feasibility, scipy.optimize.linprog)."""
    xa = np.hstack([x.numpy(), np.ones((len(x), 1))])
    result = linprog(np.zeros(xa.shape[1]), A_ub=-(y.numpy()[:, None] * xa), b_ub=-np.ones(len(x)),
                     bounds=[(None, None)] * xa.shape[1], method="highs")
    return result.status == 0


# -- Theorem 4.1(a): zero risk from random inits -----------------------------------------------------

CPU_WIDE = [(1, 16), (2, 16)]   # (depth, width): the cpu tier's stand-in for "large-size" nets
CPU_NARROW = [(1, 2), (2, 2)]   # outside the large-size assumption
SYM_WIDTHS = (4, 8, 16)         # widths for the depth 2-3 symmetry trend (exact Hessians, <= 625 params)


def batched_outputs(thetas, x, shapes):
    """f(x) for a batch of flat parameter vectors thetas (B, P) and inputs x (m, d): (B, m).
    flat_mlp with the layers as batched matrix products: ~3x faster than vmap(flat_mlp) per GD step."""
    h, start = x.expand(thetas.shape[0], *x.shape), 0
    for layer, (o, i) in enumerate(shapes):
        w = thetas[:, start:start + o * i].reshape(-1, o, i)
        b = thetas[:, start + o * i:start + o * i + o]
        start += o * i + o
        h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
        if layer < len(shapes) - 1:
            h = torch.relu(h)
    return h[..., 0]


def zero_risk_count(depth, width, seeds, x, y, steps=400, lr=0.1) -> dict:
    """Inits (He, seeded by `seeds`) whose hinge risk is exactly 0 after full-batch GD; all inits
    trained at once (the summed risk's gradient is each init's own gradient)."""
    shapes = layer_shapes(x.shape[1], width, depth)
    thetas = torch.stack([init_params(shapes, torch.Generator().manual_seed(s), x.dtype) for s in seeds]).to(x.device)
    for _ in range(steps):
        thetas.requires_grad_(True)
        risks = hinge_loss(batched_outputs(thetas, x, shapes), y)
        (grad,) = torch.autograd.grad(risks.sum(), thetas)
        thetas = (thetas - lr * grad).detach()
    with torch.no_grad():
        risks = hinge_loss(batched_outputs(thetas, x, shapes), y)
    k = int((risks == 0).sum())
    lo, hi = clopper_pearson(k, len(seeds))
    return {"zero-risk inits": k, "inits": len(seeds), "fraction": k / len(seeds), "95% CP": [lo, hi],
            "max final risk": float(risks.max()), "depth": depth, "width": width, "GD steps": steps, "lr": lr}


def dead_relu_minimum(seed: int, width: int = 8, radius: float = 0.05, directions: int = 200) -> dict:
    """Outside the assumptions (H = 0 identically): all hidden units dead (bias -5, |x| <= 3, small
    W_1), output bias 0. The loss is 1 on a neighbourhood (f = b_2 with |b_2| < 1), gradient 0: a
    local minimum with loss 1, while GD from a He init reaches zero risk on the same data."""
    g = torch.Generator().manual_seed(seed)
    x, y = shell_data(24, 3, g)
    shapes = layer_shapes(3, width, 1)
    theta = init_params(shapes, g)
    n_w1 = width * 3
    theta[:n_w1] *= 0.05
    theta[n_w1:n_w1 + width] = -5.0
    theta[-1] = 0.0
    risk = lambda t: hinge_risk(t, x, y, shapes)  # noqa: E731
    perturbed = [float(risk(theta + radius * d / d.norm()))
                 for d in torch.randn(directions, theta.numel(), generator=g, dtype=DTYPE)]
    reached = zero_risk_count(1, 16, [seed], x, y)
    leaf = theta.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(risk(leaf), leaf)
    return {"loss": float(risk(theta)), "max |grad|": float(grad.abs().max()),
            "max |loss change| over perturbations": max(abs(v - float(risk(theta))) for v in perturbed),
            "perturbation radius": radius, "directions": directions,
            "risk reached from a He init (width 16)": reached["max final risk"], "seed": seed}


def expectation_of_hessian(seed: int, width: int = 8, depth: int = 2, m: int = 24, fresh: int = 256,
                           steps: int = 20, flips: int = 200) -> dict:
    """The premise E[H] = 0 (Thm 4.1) mid-training (risk > 0): per-sample X_i = l'_i H~_i on `fresh`
    new points of the training distribution; statistic ||mean X||_op against the sign-flip norms
    ||(1/n) sum eps_i X_i||_op (symmetrization: E||mean X - E X|| <= 2 E||(1/n) sum eps_i X_i||)."""
    g = torch.Generator().manual_seed(seed)
    x_all, y_all = shell_data(m + fresh, 3, g)
    perm = torch.randperm(m + fresh, generator=g)
    x_all, y_all = x_all[perm], y_all[perm]
    x, y = x_all[:m], y_all[:m]
    shapes = layer_shapes(3, width, depth)
    theta, _ = train_gd(init_params(shapes, g), x, y, shapes, steps, lr=0.05)
    samples = (loss_derivative(theta, x_all[m:], y_all[m:], shapes)[:, None, None]
               * per_sample_output_hessians(theta, x_all[m:], shapes))
    signs = torch.where(torch.rand(flips, fresh, generator=g, dtype=DTYPE) < 0.5, -1.0, 1.0).to(DTYPE)
    flipped = torch.linalg.eigvalsh(torch.einsum("fn,nij->fij", signs, samples) / fresh).abs().amax(-1)
    mean_norm = operator_norm(samples.mean(0))
    q95 = float(torch.quantile(flipped, 0.95))
    p_value = (1 + int((flipped >= mean_norm).sum())) / (1 + flips)
    return {"||mean X||_op": mean_norm, "sign-flip 95% quantile": q95, "ratio": mean_norm / q95, "p-value": p_value,
            "train hinge risk": float(hinge_risk(theta, x, y, shapes)), "fresh points": fresh, "flips": flips,
            "net": f"depth {depth}, width {width}, {steps} GD steps", "seed": seed}


# -- Theorem 4.1(b): ||H|| <= E_m[|l'|] lambda_0 ----------------------------------------------------


def bound_terms(theta, x, y, shapes, loss="hinge") -> dict:
    """||H||, E_m|l'|, E_m l', lambda_0 = max_i ||H~_i||, ||H - mean_i l'_i H~_i||_max and H itself."""
    risk = hinge_risk if loss == "hinge" else square_risk
    lp = loss_derivative(theta, x, y, shapes, loss)
    h = hessian(risk)(theta, x, y, shapes)
    h_tilde = per_sample_output_hessians(theta, x, shapes)
    return {"||H||": operator_norm(h), "E|l'|": float(lp.abs().mean()), "E l'": float(lp.mean()),
            "lambda_0": max(operator_norm(hi) for hi in h_tilde),
            "decomposition error": float((h - (lp[:, None, None] * h_tilde).mean(0)).abs().max()), "H": h}


def t41b_trajectory(seed, loss="hinge", steps=200, every=20) -> list[dict]:
    """bound_terms at checkpoints of GD (depth 2, width 6, 73 params) on separable data, m = 24,
    75 % positive labels (so that E_m l' < 0 while H != 0)."""
    g = torch.Generator().manual_seed(seed)
    x, y = separable_data(24, 3, g, positive_fraction=0.75)
    shapes = layer_shapes(3, 6, 2)
    _, checkpoints = train_gd(init_params(shapes, g), x, y, shapes, steps, lr=0.05, loss=loss, every=every)
    return [bound_terms(t, x, y, shapes, loss) for t in checkpoints]


def bound_summary(rows) -> dict:
    """Ratios ||H|| / (E|l'| lambda_0) (0 where both sides vanish) and the trajectories."""
    ratios = [r["||H||"] / (r["E|l'|"] * r["lambda_0"]) if r["E|l'|"] * r["lambda_0"] > 0
              else (0.0 if r["||H||"] == 0 else math.inf) for r in rows]
    return {"max ratio": max(ratios), "ratios": ratios, "||H||": [r["||H||"] for r in rows],
            "E|l'|": [r["E|l'|"] for r in rows], "E l'": [r["E l'"] for r in rows],
            "lambda_0": [r["lambda_0"] for r in rows],
            "bound E|l'| lambda_0": [r["E|l'|"] * r["lambda_0"] for r in rows],
            "max decomposition error": max(r["decomposition error"] for r in rows),
            "final nonzero entries of H": int(torch.count_nonzero(rows[-1]["H"])),
            "final E|l'|": rows[-1]["E|l'|"]}


def norm_follows_mean_derivative(summary) -> dict:
    """Where ||H|| fails to shrink while E|l'| shrinks, between consecutive checkpoints with risk > 0."""
    h, lp = summary["||H||"], summary["E|l'|"]
    rises = [(k, h[k], h[k + 1], lp[k], lp[k + 1]) for k in range(len(h) - 1)
             if lp[k + 1] < lp[k] and lp[k + 1] > 0 and h[k + 1] > h[k]]
    return {"checkpoints where ||H|| rose while E|l'| fell": rises, "steps compared": len(h) - 1}


# -- spectral symmetry (Sec. 4, Thm A.2 applied to nets) --------------------------------------------


def mirror_asymmetry(eigenvalues) -> dict:
    """W1(spectrum, mirrored spectrum) / mean |lambda|, fraction negative among |lambda| > 1e-10 max|lambda|,
    and the normalized third moment sum lambda^3 / (sum lambda^2)^{3/2} (0 for a symmetric spectrum)."""
    lam = np.sort(np.asarray(eigenvalues))
    nonzero = np.abs(lam) > 1e-10 * np.abs(lam).max()
    return {"W1/mean|lambda|": float(np.mean(np.abs(lam + lam[::-1])) / np.mean(np.abs(lam))),  # sorted(-lam) = -lam[::-1]
            "fraction negative": float(np.mean(lam[nonzero] < 0)),
            "third moment": float(np.sum(lam**3) / np.sum(lam**2) ** 1.5)}


def hinge_hessian_spectrum(depth, width, seed, m=30, steps=30, loss="hinge") -> np.ndarray:
    """Eigenvalues of the risk Hessian after `steps` GD steps on random labels (risk > 0)."""
    g = torch.Generator().manual_seed(seed)
    x, y = random_label_data(m, 3, g)
    shapes = layer_shapes(3, width, depth)
    theta, _ = train_gd(init_params(shapes, g), x, y, shapes, steps, lr=0.05, loss=loss)
    risk = hinge_risk if loss == "hinge" else square_risk
    return torch.linalg.eigvalsh(hessian(risk)(theta, x, y, shapes)).numpy()


def asymmetry_by_width(depth, widths, seeds, loss="hinge") -> dict:
    """mirror_asymmetry per width (mean over seeds) for nets of one depth."""
    rows = {}
    for width in widths:
        values = [mirror_asymmetry(hinge_hessian_spectrum(depth, width, s, loss=loss)) for s in seeds]
        rows[width] = {key: float(np.mean([v[key] for v in values])) for key in values[0]}
        rows[width]["W1/mean|lambda| (max over seeds)"] = max(v["W1/mean|lambda|"] for v in values)
    return rows


# -- LI19-EQ8: same-layer blocks of bias-free ReLU nets -------------------------------------------

BLOCK_LOSSES = {
    "hinge": lambda f, y: torch.relu(1 - y * f),
    "absolute": lambda f, y: (f - y).abs(),
    "square": lambda f, y: (f - y) ** 2,   # l'' = 2: outside the claim
}


def bias_free_mlp_hessian(widths, loss, seed, m):
    """Hessian of the mean loss over theta = (W_1, ..., W_L) of a bias-free ReLU MLP, and the layer slices."""
    gen = torch.Generator().manual_seed(seed)
    shapes = list(zip(widths[1:], widths[:-1]))
    sizes = [o * i for o, i in shapes]
    theta = torch.cat([torch.randn(o * i, generator=gen, dtype=DTYPE) / i ** 0.5 for o, i in shapes])
    x = torch.randn(m, widths[0], generator=gen, dtype=DTYPE)
    y = torch.randint(0, 2, (m,), generator=gen).to(DTYPE) * 2 - 1

    def risk(t):
        h, start = x, 0
        for layer, ((o, i), n) in enumerate(zip(shapes, sizes)):
            h = h @ t[start:start + n].reshape(o, i).T
            start += n
            if layer < len(shapes) - 1:
                h = torch.relu(h)
        return BLOCK_LOSSES[loss](h[:, 0], y).mean()
    bounds = np.cumsum([0] + sizes).tolist()
    return hessian(risk)(theta), [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def same_layer_blocks(widths, loss, seed, m) -> dict:
    """max |same-layer block entry|, |tr H|, max |H|, and the extreme eigenvalues."""
    h, layers = bias_free_mlp_hessian(widths, loss, seed, m)
    eig = torch.linalg.eigvalsh(h)
    return {"block max": max(float(h[s, s].abs().max()) for s in layers), "trace": float(torch.trace(h)),
            "max |H|": float(h.abs().max()), "lambda_min": float(eig[0]), "lambda_max": float(eig[-1])}


# -- gpu / paper tiers: widths in the hundreds to thousands, Hessian-vector products only -----------

WIDE_RECIPES = {  # tier -> (widths, depth, training points m, input dim d, seeds)
    "gpu": ((256, 512, 1024), 2, 256, 10, 3),
    "paper": ((512, 1024, 2048), 3, 1024, 20, 5),
    "smoke": ((4, 8), 2, 16, 3, 2),  # scale smoke of either tier: the same code path on tiny nets, never evidence
}


class FlatMLP(torch.nn.Module):
    """The flat-parameter ReLU MLP as a module (one parameter vector), for losslab.probes.hessian."""

    def __init__(self, theta, shapes):
        super().__init__()
        self.theta = torch.nn.Parameter(theta.clone())
        self.shapes = shapes

    def forward(self, x):
        return flat_mlp(self.theta, x, self.shapes)


def wide_hessian_asymmetry(width, depth, m, d, seed, device, lanczos_steps=80, probes=4) -> dict:
    """At a mid-training point (30 GD steps on random labels, risk > 0): the stochastic Lanczos
    quadrature measure of H (HVPs only), its W1 distance to its mirror over its mean |lambda|
    (scipy.stats.wasserstein_distance), and lambda_max / |lambda_min| by Lanczos."""
    from scipy.stats import wasserstein_distance

    from losslab.probes.hessian import HessianOperator
    from losslab.probes.lanczos import top_eigenvalues
    from losslab.probes.spectral_density import quadrature_nodes_weights

    g = torch.Generator().manual_seed(seed)
    x, y = random_label_data(m, d, g)
    x, y = x.float().to(device), y.float().to(device)
    shapes = layer_shapes(d, width, depth)
    theta, _ = train_gd(init_params(shapes, g, torch.float32, device), x, y, shapes, 30, lr=0.05)
    op = HessianOperator(FlatMLP(theta, shapes), hinge_loss, (x, y))
    quadrature = quadrature_nodes_weights(op, lanczos_steps, probes, seed)
    nodes = torch.cat([t for t, _ in quadrature]).numpy()
    weights = torch.cat([w for _, w in quadrature]).numpy()
    spread = float(np.sum(weights * np.abs(nodes)) / weights.sum())
    top = float(top_eigenvalues(op, 1, "LA", tol=1e-4, seed=seed)[0])
    bottom = float(top_eigenvalues(op, 1, "SA", tol=1e-4, seed=seed)[0])
    return {"W1/mean|lambda| (SLQ)": wasserstein_distance(nodes, -nodes, weights, weights) / spread,
            "lambda_max / |lambda_min|": top / abs(bottom), "parameters": op.dim, "width": width,
            "depth": depth, "seed": seed}


def output_value(output, y):
    """'Loss' whose Hessian is the output Hessian H~_i (one sample per batch)."""
    return output.sum()


def wide_bound_terms(width, depth, m, d, seed, device, checkpoints=3, steps=200, tol=1e-6) -> dict:
    """Thm 4.1(b) at large width with HVPs only: along GD on shell data, ||H|| ('LM' Lanczos) and
    lambda_0 = max_i ||H~_i|| (Lanczos on each output Hessian), each to relative accuracy `tol`."""
    from losslab.probes.hessian import HessianOperator
    from losslab.probes.lanczos import top_eigenvalues

    g = torch.Generator().manual_seed(seed)
    x, y = shell_data(m, d, g)
    x, y = x.to(device), y.to(device)
    shapes = layer_shapes(d, width, depth)
    _, thetas = train_gd(init_params(shapes, g, DTYPE, device), x, y, shapes, steps, lr=0.05,
                         every=steps // (checkpoints - 1))
    rows = []
    for theta in thetas:
        lp = loss_derivative(theta, x, y, shapes)
        op = HessianOperator(FlatMLP(theta, shapes), hinge_loss, (x, y))
        h_norm = abs(float(top_eigenvalues(op, 1, "LM", tol=tol, seed=seed)[0]))
        lam0 = max(abs(float(top_eigenvalues(HessianOperator(FlatMLP(theta, shapes), output_value, (x[i:i + 1], y[i:i + 1])),
                                             1, "LM", tol=tol, seed=seed)[0])) for i in range(m))
        rows.append({"||H||": h_norm, "E|l'|": float(lp.abs().mean()), "lambda_0": lam0})
    return {"rows": rows, "max ratio": max(r["||H||"] / (r["E|l'|"] * r["lambda_0"]) if r["E|l'|"] > 0 else
                                           (0.0 if r["||H||"] == 0 else math.inf) for r in rows),
            "parameters": int(thetas[0].numel()), "width": width, "depth": depth, "seed": seed, "tol": tol}
