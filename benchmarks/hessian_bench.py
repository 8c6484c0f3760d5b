"""Benchmark (not a test): losslab.probes vs PyHessian and hessian-eigenthings on one model and batch.

Run in a throwaway venv that has the two packages:
    python -m venv /tmp/benchvenv --system-site-packages
    /tmp/benchvenv/bin/pip install pyhessian hessian-eigenthings
    PYTHONPATH=. /tmp/benchvenv/bin/python benchmarks/hessian_bench.py [--threads 1]
Prints wall times, relative errors against an independent reference (scipy eigsh, tol 1e-10, on\nthe same HVP), the HVP/gradient cost ratio, and the speed-ups at relative error <= 1e-3.
"""

import argparse
import os
import time

import numpy as np

import torch
from scipy.sparse.linalg import eigsh
from torch import nn

from losslab.probes.hessian import HessianOperator
from losslab.probes.lanczos import top_eigenvalues
from losslab.probes.spectral_density import quadrature_nodes_weights
from losslab.probes.trace import hutchinson_trace


def mlenet_size_convnet():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(6, 15, 5), nn.Tanh(),
                         nn.MaxPool2d(2), nn.Conv2d(15, 10, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = mlenet_size_convnet()
    x, y = torch.randn(args.samples, 1, 28, 28), torch.randint(0, 10, (args.samples,))
    crit = nn.CrossEntropyLoss()
    op = HessianOperator(model, nn.functional.cross_entropy, (x, y))
    print(f"model: {op.dim} parameters, {args.samples} samples 28x28, float32, threads={args.threads}, "
          f"load average at start {os.getloadavg()}")

    # independent reference: ARPACK (scipy eigsh) on the same HVP, float64 Lanczos, tol 1e-10
    lin = op.to_linear_operator()
    (la, sa), t_ref = timed(lambda: [np.sort(eigsh(lin, k=10, which=w, tol=1e-10, v0=np.ones(op.dim))[0])
                                     for w in ("LA", "SA")])
    ref = {"LA": torch.tensor(la[::-1].copy())}
    both = np.concatenate([la, sa])
    ref["LM"] = torch.tensor(both[np.argsort(-np.abs(both))][:10])
    print(f"reference (scipy eigsh LA and SA, tol 1e-10): {t_ref:.1f}s; top-3 LA {ref['LA'][:3].tolist()}; "
          f"top-3 LM {ref['LM'][:3].tolist()}")

    def rel(values, k, which):
        """max relative error of the k values against the reference set, both sorted by the same key."""
        v = torch.as_tensor(np.asarray(values, dtype=np.float64)).flatten()
        key = (lambda t: -t) if which == "LA" else (lambda t: -t.abs())
        v = v[torch.argsort(key(v))][:k]
        want = ref[which][:k]
        return ((v - want).abs() / want.abs()).max().item()

    rows = {}
    v = torch.randn(op.dim)
    op.matvec(v), op.gradient()
    _, t_hvp = timed(lambda: [op.matvec(v) for _ in range(20)])
    _, t_grad = timed(lambda: [op.gradient() for _ in range(20)])
    print(f"one HVP {t_hvp / 20 * 1e3:.2f} ms, one gradient {t_grad / 20 * 1e3:.2f} ms, ratio {t_hvp / t_grad:.2f}")

    for which in ("LA", "LM"):
        for k in (1, 10):
            lam, t = timed(lambda: top_eigenvalues(op, k, which=which, tol=1e-3, seed=1))
            rows[f"losslab top-{k} {which} tol=1e-3"] = (t, rel(lam, k, which))
    _, t = timed(lambda: hutchinson_trace(op, probes=100, seed=0, chunk=25))
    rows["losslab trace(100)"] = (t, float("nan"))
    _, t = timed(lambda: quadrature_nodes_weights(op, steps=100, probes=1, seed=0))
    rows["losslab density(100 steps, 1 probe)"] = (t, float("nan"))

    try:  # PyHessian: deflated power iteration = largest-MAGNITUDE eigenvalues (LM); stops on relative change
        from pyhessian import hessian as PyHessian
        ph = PyHessian(model, crit, data=(x, y), cuda=False)
        for k in (1, 10):
            for tol in (1e-3, 1e-4, 1e-5):
                (lam, _), t = timed(lambda: ph.eigenvalues(maxIter=300, tol=tol, top_n=k))
                rows[f"pyhessian top-{k} LM tol={tol:g}"] = (t, rel(lam, k, "LM"))
                if rel(lam, k, "LM") <= 1e-3:
                    break
        _, t = timed(lambda: ph.trace(maxIter=100, tol=0.0))
        rows["pyhessian trace(100)"] = (t, float("nan"))
        _, t = timed(lambda: ph.density(iter=100, n_v=1))
        rows["pyhessian density(100 steps, 1 probe)"] = (t, float("nan"))
    except Exception as err:  # report, don't hide
        print(f"PyHessian failed: {type(err).__name__}: {err}")

    try:  # hessian-eigenthings 1.0.0a5: lanczos runs a FIXED max_iter (default 2k) steps; tol only sets
        # the `converged` flags (|β s| < tol |θ|). So: its default, then the smallest max_iter of a
        # doubling schedule whose flags are all True (time of that single run).
        import hessian_eigenthings as he
        hop = he.HessianOperator(model, [(x, y)], he.supervised_loss(crit))
        for which in ("LA", "LM"):
            for k in (1, 10):
                res, t = timed(lambda: he.lanczos(hop, k=k, which=which, tol=1e-3, seed=0))
                rows[f"eigenthings top-{k} {which} default max_iter={res.iterations}"] = (
                    t, rel(res.eigenvalues, k, which))
                for max_iter in (5, 10, 20, 40, 80, 160):
                    if max_iter < k:
                        continue
                    res, t = timed(lambda: he.lanczos(hop, k=k, which=which, tol=1e-3, max_iter=max_iter,
                                                      reorthogonalize=True, seed=0))
                    if bool(res.converged.all()):
                        rows[f"eigenthings top-{k} {which} max_iter={max_iter} (converged)"] = (
                            t, rel(res.eigenvalues, k, which))
                        break
    except Exception as err:
        print(f"hessian-eigenthings failed: {type(err).__name__}: {err}")

    print(f"load average at end {os.getloadavg()}")
    print(f"{'method':50s} {'seconds':>9s} {'max rel err':>12s}")
    for name, (t, err) in rows.items():
        print(f"{name:50s} {t:9.2f} {err:12.2e}")
    for task, ours_key in (("top-1", "losslab top-1 LM"), ("top-10", "losslab top-10 LM"),
                           ("top-1", "losslab top-1 LA"), ("top-10", "losslab top-10 LA"),
                           ("trace(100)", "losslab trace(100)"),
                           ("density(100 steps, 1 probe)", "losslab density(100 steps, 1 probe)")):
        which = ours_key.split()[-1] if task.startswith("top") else ""
        ours = [v for n, v in rows.items() if n.startswith(ours_key)]
        for lib in ("pyhessian", "eigenthings"):
            theirs = [v for n, v in rows.items() if n.startswith(f"{lib} {task} {which}".strip())
                      and (not task.startswith("top") or v[1] <= 1e-3)]
            if ours and theirs:
                print(f"speed-up vs {lib} on {task} {which} (each at rel err <= 1e-3 where it applies): "
                      f"{theirs[0][0] / ours[0][0]:.1f}x")


if __name__ == "__main__":
    main()
