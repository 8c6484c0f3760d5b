"""Benchmark (not a test): losslab.probes vs PyHessian and hessian-eigenthings on one model and batch.

Run in a throwaway venv that has the two packages:
    python -m venv /tmp/benchvenv --system-site-packages
    /tmp/benchvenv/bin/pip install pyhessian hessian-eigenthings
    PYTHONPATH=. /tmp/benchvenv/bin/python benchmarks/hessian_bench.py [--threads 1]
Prints wall times, relative errors against a tightly converged reference, and the ratios.
"""

import argparse
import time

import torch
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
    print(f"model: {op.dim} parameters, {args.samples} samples 28x28, float32, threads={args.threads}")

    ref, t_ref = timed(lambda: top_eigenvalues(op, 10, tol=1e-6, max_steps=300, seed=123))
    print(f"reference top-10 (Lanczos tol 1e-6): {t_ref:.2f}s  top-1 = {ref[0]:.6f}")

    def rel(values, k):
        v = torch.sort(torch.as_tensor(values, dtype=torch.float64), descending=True).values[:k]
        return ((v - ref[:k]).abs() / ref[:k].abs()).max().item()

    rows = {}
    v = torch.randn(op.dim)
    op.matvec(v), op.gradient()
    _, t_hvp = timed(lambda: [op.matvec(v) for _ in range(20)])
    _, t_grad = timed(lambda: [op.gradient() for _ in range(20)])
    print(f"one HVP {t_hvp / 20 * 1e3:.2f} ms, one gradient {t_grad / 20 * 1e3:.2f} ms, ratio {t_hvp / t_grad:.2f}")

    for k in (1, 10):
        lam, t = timed(lambda: top_eigenvalues(op, k, tol=1e-3, seed=1))
        rows[f"losslab top-{k}"] = (t, rel(lam, k))
    _, t = timed(lambda: hutchinson_trace(op, probes=100, seed=0, chunk=25))
    rows["losslab trace(100)"] = (t, float("nan"))
    _, t = timed(lambda: quadrature_nodes_weights(op, steps=100, probes=1, seed=0))
    rows["losslab density(100 steps, 1 probe)"] = (t, float("nan"))

    try:
        from pyhessian import hessian as PyHessian
        ph = PyHessian(model, crit, data=(x, y), cuda=False)
        for k in (1, 10):
            for tol in (1e-3, 1e-4, 1e-5):
                (lam, _), t = timed(lambda: ph.eigenvalues(maxIter=300, tol=tol, top_n=k))
                rows[f"pyhessian top-{k} tol={tol:g}"] = (t, rel(lam, k))
                if rel(lam, k) <= 1e-3:
                    break
        _, t = timed(lambda: ph.trace(maxIter=100, tol=0.0))
        rows["pyhessian trace(100)"] = (t, float("nan"))
        _, t = timed(lambda: ph.density(iter=100, n_v=1))
        rows["pyhessian density(100 steps, 1 probe)"] = (t, float("nan"))
    except Exception as err:  # report, don't hide
        print(f"PyHessian failed: {type(err).__name__}: {err}")

    try:
        import hessian_eigenthings as he
        hop = he.HessianOperator(model, [(x, y)], he.supervised_loss(crit))
        for k in (1, 10):
            res, t = timed(lambda: he.lanczos(hop, k=k, which="LA", tol=1e-4, seed=0))
            rows[f"eigenthings top-{k}"] = (t, rel(res.eigenvalues, k))
    except Exception as err:
        print(f"hessian-eigenthings failed: {type(err).__name__}: {err}")

    print(f"{'method':45s} {'seconds':>9s} {'max rel err':>12s}")
    for name, (t, err) in rows.items():
        print(f"{name:45s} {t:9.2f} {err:12.2e}")
    for task in ("top-1", "top-10", "trace(100)", "density(100 steps, 1 probe)"):
        ours = rows.get(f"losslab {task}")
        for lib in ("pyhessian", "eigenthings"):
            theirs = [v for n, v in rows.items() if n.startswith(f"{lib} {task}")
                      and (task.startswith("top") is False or v[1] <= 1e-3)]
            if ours and theirs:
                print(f"speed-up vs {lib} on {task} (at rel err <= 1e-3 where it applies): "
                      f"{theirs[0][0] / ours[0]:.1f}x")


if __name__ == "__main__":
    main()
