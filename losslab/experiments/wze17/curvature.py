"""WZE17 Figs. 2-3 curvature of R_train at a solution: the Hessian's spectrum summary (exact float64 or float32
Lanczos), V(50) (Eq. 13), ‖H‖_F (exactly, Lanczos-deflated Hutchinson, or the corrected Eq. 14), memoized."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock

from losslab.cache import cache_dir
from losslab.probes.frobenius import frobenius_sq_deflated, frobenius_sq_finite_difference
from losslab.probes.hessian import HessianOperator, RetainedGraphHessian, exact_hessian
from losslab.probes.lanczos import lanczos, random_start
from losslab.probes.log_volume import log_volume
from losslab.probes.spectral_density import window_mass_lower_bound

TOP_K = 50  # V(50), the paper's k (Sec. 5.3)
LANCZOS_STEPS = 100  # top-50 relative residual bound <= 10% at 100 steps on attacked mLeNets, 16% at 80
FRO_PROBES = 5  # Hutchinson probes on the deflated rest of ‖H‖_F²
FD_PROBES = 100  # Eq. (14): the paper's M
FD_EPSILON = 1e-5  # Eq. (14): the paper's ε
FD_BATCH = 500  # images per gradient batch (memory only: R is the mean over all images)


def spectrum_summary(eigenvalues: torch.Tensor, k: int = TOP_K) -> dict:
    """Fig. 2 numbers of an exactly known spectrum: all eigenvalues, most negative λ, top-k, V(k), ‖H‖_F."""
    lam = torch.sort(eigenvalues.double(), descending=True).values
    return {"lambda_max": float(lam[0]), "eigenvalues": [float(v) for v in lam], "near_zero_se": 0.0,
            "negative": int((lam < 0).sum()), "most_negative": float(lam[-1]), "top": [float(v) for v in lam[:k]],
            "V50": log_volume(lam, k), "frobenius": float(torch.sqrt((lam ** 2).sum())), "frobenius_se": 0.0,
            "method": "exact"}


def lanczos_summary(op, steps: int, seed: int, rayleigh_op=None, k: int = TOP_K, probes: int = FRO_PROBES) -> dict:
    """Fig. 2/3 numbers from one Lanczos run (the CPU tier's measurement).

    ritz_values / ritz_weights: the Gauss quadrature of the start vector's spectral measure (for
    near_zero_fraction); near_zero_se: the sampling standard error of that measure's mass in a window as an
    estimate of the fraction of eigenvalues, bounded by sqrt(1/(2(n+2))) (vᵀ1(H)v/‖v‖² for v uniform on the
    sphere has variance 2p(1−p)/(n+2)). most_negative: the Rayleigh quotient of the smallest Ritz vector
    under `rayleigh_op` (default `op`), which is >= λ_min: negative means H has a negative eigenvalue. top:
    Ritz values (lower bounds of λ_1..λ_k by interlacing), so V(k) is a lower bound where they have not
    converged."""
    result = lanczos(op, min(steps, op.dim), random_start(op, seed))
    theta, s = torch.linalg.eigh(result.tridiagonal())  # ascending, float64
    residual = (result.beta_last * s[-1]).abs()
    top, top_residual = theta.flip(0)[:k], residual.flip(0)[:k]
    vector = result.basis @ s[:, 0].to(result.basis.dtype)
    rayleigh_op = rayleigh_op or op
    vector = vector.to(rayleigh_op.dtype)
    most_negative = float(torch.dot(vector, rayleigh_op.matvec(vector)) / torch.dot(vector, vector))
    fro_sq = frobenius_sq_deflated(op, result, probes=probes, seed=seed + 1)
    fro = float(np.sqrt(fro_sq.value))
    return {"lambda_max": float(theta[-1]), "ritz_values": [float(v) for v in theta],
            "ritz_weights": [float(w) for w in s[0] ** 2], "near_zero_se": float(np.sqrt(1 / (2 * (op.dim + 2)))),
            "most_negative": most_negative, "smallest_ritz": float(theta[0]),
            "smallest_ritz_residual": float(residual[0]),
            "top": [float(v) for v in top], "top_max_relative_residual": float((top_residual / top.abs()).max()),
            "V50": log_volume(top, k), "frobenius": fro, "frobenius_se": fro_sq.standard_error / (2 * fro),
            "lanczos_steps": len(result.alphas), "method": "lanczos"}


def near_zero_fraction(summary: dict, window: float) -> float:
    """Fraction of eigenvalues with |λ| < window·λ_max: exact from the spectrum, or (Lanczos) the
    Chebyshev-Markov-Stieltjes lower bound on the start vector's spectral mass in that window."""
    bound = window * summary["lambda_max"]
    if summary["method"] == "exact":
        return float(np.mean(np.abs(summary["eigenvalues"]) < bound))
    return window_mass_lower_bound(torch.tensor(summary["ritz_values"]), torch.tensor(summary["ritz_weights"]),
                                   -bound, bound)


def hessian_summary(model, train, exact: bool, seed: int) -> dict:
    """Spectrum summary of R_train's Hessian (mean cross-entropy on `train`): exact float64 eigenvalues, or
    one float32 Lanczos run with a float64 Rayleigh quotient (the CPU tier)."""
    if exact:
        model64 = copy.deepcopy(model).double()
        op = HessianOperator(model64, F.cross_entropy, (train.x.double(), train.y))
        eigenvalues = torch.linalg.eigvalsh(exact_hessian(op, chunk=256)).cpu()
        return {**spectrum_summary(eigenvalues), "dtype": "float64"}
    op = RetainedGraphHessian(model, F.cross_entropy, train.x, train.y)
    rayleigh_op = RetainedGraphHessian(copy.deepcopy(model).double(), F.cross_entropy, train.x, train.y)
    summary = lanczos_summary(op, LANCZOS_STEPS, seed, rayleigh_op=rayleigh_op)
    return {**summary, "dtype": "float32 Lanczos, float64 Rayleigh quotient"}


def frobenius_finite_difference(model, x, y, seed: int, probes: int = FD_PROBES, epsilon: float = FD_EPSILON,
                                batch: int = FD_BATCH, dtype=torch.float64, compare_hvp: bool = True) -> dict:
    """‖H‖_F of R_train (mean cross-entropy over x; eval-mode BatchNorm) by the corrected Eq. (14),
    1/(4Mε²) Σ‖∇R(θ+εv)−∇R(θ−εv)‖², on a `dtype` copy of `model`, with the delta-method standard error of
    the square root. compare_hvp: also the same probes' sqrt(mean ‖Hv‖²) by autograd ("frobenius_hvp").

    For smooth nets the two agree to O(ε²); for ReLU nets a probe whose ±εv step moves a pre-activation
    across 0 adds a gradient jump / (2ε) that the autograd Hessian (ReLU'' = 0) does not see. The paper's
    quantity is Eq. (14), so that is what Fig. 3 correlates; frobenius_hvp is recorded beside it."""
    model = copy.deepcopy(model).to(dtype)
    batches = [(x[i:i + batch].to(dtype), y[i:i + batch]) for i in range(0, len(x), batch)]
    estimate = frobenius_sq_finite_difference(HessianOperator(model, F.cross_entropy, batches), probes=probes,
                                              epsilon=epsilon, seed=seed)
    fro = float(np.sqrt(max(estimate.value, 0.0)))
    out = {"frobenius": fro, "frobenius_se": estimate.standard_error / (2 * fro) if fro > 0 else float("inf"),
           "probes": probes, "epsilon": epsilon, "dtype": str(dtype).replace("torch.", ""),
           "method": "finite difference, Eq. (14) with 1/(4Mε²)"}
    if compare_hvp:
        op = HessianOperator(model, F.cross_entropy, batches)
        out["frobenius_hvp"] = float(np.sqrt(np.mean([float(op.matvec(random_start(op, seed + p)).double()
                                                             .pow(2).sum()) for p in range(probes)])))
    return out


def panel_measure(panel: str, model, train, exact: bool, seed: int, probes: int = FD_PROBES) -> dict:
    """The curvature a Fig. 3 panel correlates with test accuracy: Eq. (14) with `probes` probes for ResNet-32
    (its 464,154² Hessian is out of reach), the spectrum summary for mLeNet."""
    if panel == "cifar10-resnet32":
        return frobenius_finite_difference(model, train.x, train.y, seed, probes=probes)
    return hessian_summary(model, train, exact, seed)


_SOURCES = [Path(__file__)] + [Path(__file__).parents[2] / "probes" / f for f in
                               ("hessian.py", "lanczos.py", "frobenius.py", "spectral_density.py", "log_volume.py")]


def curvature_memo(cache_key: str, model, train, exact: bool, seed: int, panel: str = "mnist-mlenet",
                   probes: int = FD_PROBES) -> dict:
    """panel_measure memoized on disk per trained net (its cache key), method, seed, panel, probes and
    measurement source; file-locked, so parallel workers compute each entry once."""
    sources = hashlib.sha256(b"".join(p.read_bytes() for p in _SOURCES)).hexdigest()
    key = hashlib.sha256(f"{cache_key}|{exact}|{seed}|{panel}|{probes}|{sources}".encode()).hexdigest()
    path = cache_dir() / f"wze17-curvature-{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return json.loads(path.read_text())
        summary = panel_measure(panel, model, train, exact, seed, probes)
        path.write_text(json.dumps(summary))
        return summary
