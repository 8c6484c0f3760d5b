"""Benchmark (not a test): losslab.probes against PyHessian, hessian-eigenthings and curvlinops, in one run.

Task set (issue 16): top-1 and top-10 eigenvalues, Hutchinson trace with 100 probes, and the spectral
density by stochastic Lanczos quadrature, on mLeNet (3,781 parameters, seeded init) and 512 MNIST test
images, float32. Each method's operator is built inside its timed call (graphs, gradients included).

Equal accuracy: a top-k run counts at the first setting of its own schedule (losslab/PyHessian/eigsh
tolerances, hessian-eigenthings iteration counts) whose k values have max relative error <= 1e-3 against
a float64 scipy eigsh reference (tol 1e-10) of the same Hessian. Trace and density use the same
estimator with the same number of probes / Lanczos steps in every library, so equal cost settings give
equal variance; the estimates are printed side by side. Timings: min over --repeats runs, the methods
interleaved within each repeat (the machine is shared; the load average is printed).

Run in a venv that has the three peers (they are not dependencies of losslab):
    python -m venv /tmp/benchvenv --system-site-packages
    /tmp/benchvenv/bin/pip install --no-deps pyhessian hessian-eigenthings curvlinops-for-pytorch \
        tqdm einops einconv opt-einsum linear_operator backpack-for-pytorch
    LOSSLAB_DATA_DIR=... PYTHONPATH=. /tmp/benchvenv/bin/python benchmarks/hessian_bench.py [--device cuda]
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import eigsh

from losslab.data.mnist import load_mnist
from losslab.nets.small import MLeNet
from losslab.probes.hessian import HessianOperator
from losslab.probes.lanczos import top_eigenvalues
from losslab.probes.spectral_density import quadrature_nodes_weights
from losslab.probes.trace import hutchinson_trace

TARGET = 1e-3  # max relative error of the top-k values that counts as "equal accuracy"
TOLS = (3e-2, 1e-2, 3e-3, 1e-3, 1e-4)  # losslab and eigsh tolerance schedule, loosest first
PYHESSIAN_TOLS = (1e-3, 1e-4, 1e-5)
EIGENTHINGS_ITERS = (10, 20, 40, 60, 80, 120)
PROBES, DENSITY_STEPS = 100, 100


def synchronized(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference(model, x, y, device):
    """Float64 eigsh (ARPACK, tol 1e-10) on the float64 copy: top-10 'LA' and the 10 of largest magnitude."""
    op = HessianOperator(copy.deepcopy(model).double(), F.cross_entropy, (x.double(), y))
    lin = op.to_linear_operator()
    la, sa = (np.sort(eigsh(lin, k=10, which=w, tol=1e-10, v0=np.ones(op.dim))[0]) for w in ("LA", "SA"))
    both = np.concatenate([la, sa])
    return {"LA": la[::-1].copy(), "LM": both[np.argsort(-np.abs(both))][:10]}


def relative_error(values, ref, which, k):
    v = np.asarray(values, dtype=np.float64).flatten()
    v = v[np.argsort(-v if which == "LA" else -np.abs(v))][:k]
    return float(np.max(np.abs(v - ref[which][:k]) / np.abs(ref[which][:k])))


def methods(model, x, y, device):
    """{library: {task: [(setting, fn)]}}; fn() builds the library's operator and returns its output."""
    crit = torch.nn.CrossEntropyLoss()
    ours = lambda: HessianOperator(model, F.cross_entropy, (x, y))
    out = {"losslab": {}}
    for which in ("LA", "LM"):
        for k in (1, 10):
            out["losslab"][f"top-{k} {which}"] = [
                (f"tol={tol:g}", lambda tol=tol, k=k, which=which: top_eigenvalues(ours(), k, which=which, tol=tol,
                                                                                  seed=1, max_steps=300))
                for tol in TOLS]
    out["losslab"]["trace"] = [("100 probes", lambda: hutchinson_trace(ours(), probes=PROBES, seed=0)[0])]
    out["losslab"]["density"] = [("100 steps, 1 probe",
                                  lambda: quadrature_nodes_weights(ours(), steps=DENSITY_STEPS, probes=1, seed=0))]
    try:
        from pyhessian import hessian as PyHessian

        ph = lambda: PyHessian(model, crit, data=(x, y), cuda=device.type == "cuda")
        out["pyhessian"] = {  # deflated power iteration: largest-magnitude values, stops on relative change
            f"top-{k} LM": [(f"tol={tol:g}", lambda tol=tol, k=k: ph().eigenvalues(maxIter=300, tol=tol, top_n=k)[0])
                            for tol in PYHESSIAN_TOLS] for k in (1, 10)}
        out["pyhessian"]["trace"] = [("100 probes", lambda: float(np.mean(ph().trace(maxIter=PROBES, tol=0.0))))]
        out["pyhessian"]["density"] = [("100 steps, 1 probe", lambda: ph().density(iter=DENSITY_STEPS, n_v=1))]
    except ImportError as err:
        print(f"PyHessian not available: {err}")
    try:
        import hessian_eigenthings as he

        hop = lambda: he.HessianOperator(model, [(x, y)], he.supervised_loss(crit))
        out["eigenthings"] = {  # lanczos runs max_iter steps; its tol only sets the `converged` flags
            f"top-{k} {which}": [(f"max_iter={n}", lambda n=n, k=k, which=which: he.lanczos(
                hop(), k=k, which=which, max_iter=n, reorthogonalize=True, seed=0).eigenvalues)
                for n in EIGENTHINGS_ITERS if n > k] for which in ("LA", "LM") for k in (1, 10)}
        out["eigenthings"]["trace"] = [("100 probes", lambda: float(he.hutchinson(hop(), num_samples=PROBES,
                                                                                     seed=0).estimate))]
        out["eigenthings"]["density"] = [("100 steps, 1 probe", lambda: he.spectral_density(
            hop(), num_runs=1, lanczos_steps=DENSITY_STEPS, seed=0))]
    except ImportError as err:
        print(f"hessian-eigenthings not available: {err}")
    try:
        import curvlinops as cl

        cop = lambda: cl.HessianLinearOperator(model, crit, [p for p in model.parameters()], [(x, y)],
                                               check_deterministic=False)
        out["curvlinops"] = {  # its HVP is vmap(jvp(grad)); eigenvalues via scipy eigsh on to_scipy()
            f"top-{k} {which}": [(f"eigsh tol={tol:g}", lambda tol=tol, k=k, which=which: eigsh(
                cop().to_scipy(), k=k, which=which, tol=tol, v0=np.ones(sum(p.numel() for p in model.parameters())))[0])
                for tol in TOLS] for which in ("LA", "LM") for k in (1, 10)}
        out["curvlinops"]["trace"] = [("100 probes", lambda: float(cl.hutchinson_trace(cop(), PROBES)))]
        out["curvlinops"]["density"] = [("100 steps, 1 probe", lambda: cl.lanczos_approximate_spectrum(
            cop(), ncv=DENSITY_STEPS, num_repeats=1, boundaries=BOUNDARIES))]
    except ImportError as err:
        print(f"curvlinops not available: {err}")
    return out


BOUNDARIES = None  # curvlinops' density gets the reference's extreme eigenvalues (saves its own eigsh)


def main():
    global BOUNDARIES
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = MLeNet("relu").to(device)
    data = load_mnist(split="test", limit=args.samples)
    x, y = data.x.to(device), data.y.to(device)
    dim = sum(p.numel() for p in model.parameters())
    print(f"mLeNet {dim} parameters, {args.samples} MNIST test images, float32, device={device}, "
          f"threads={args.threads}, torch {torch.__version__}, load average {os.getloadavg()}")

    t = time.perf_counter()
    ref = reference(model, x, y, device)
    BOUNDARIES = (float(min(ref["LM"].min(), 0.0)), float(ref["LA"][0]))
    print(f"reference float64 eigsh: {time.perf_counter() - t:.1f}s; top-3 LA {ref['LA'][:3]}; top-3 LM {ref['LM'][:3]}")

    op = HessianOperator(model, F.cross_entropy, (x, y))
    v = torch.randn(dim, device=device)
    op.matvec(v)
    t_hvp = min(timed(lambda: op.matvec(v), device)[1] for _ in range(5))
    t_grad = min(timed(lambda: op.gradient(), device)[1] for _ in range(5))
    block = torch.randn(dim, 8, device=device)
    t_mm = min(timed(lambda: op.matmat(block), device)[1] for _ in range(3))
    print(f"one HVP {t_hvp * 1e3:.1f} ms = {t_hvp / t_grad:.2f} gradients; 8 batched HVPs {t_mm / 8 * 1e3:.1f} ms each")

    table = methods(model, x, y, device)
    tasks = ("top-1 LA", "top-1 LM", "top-10 LA", "top-10 LM", "trace", "density")
    chosen, best = {}, {}  # (lib, task) -> (setting, fn, error, printed value); -> min seconds
    for task in tasks:  # first pass: walk each schedule to its first setting at equal accuracy
        for lib in table:
            for setting, fn in table[lib].get(task, []):
                try:
                    value, seconds = timed(fn, device)
                except Exception as err:  # a peer broken on this torch: report it, don't hide it
                    print(f"{task} {lib} {setting}: {type(err).__name__}: {str(err).splitlines()[0]}")
                    break
                k = int(task.split()[0][4:]) if task.startswith("top") else 0
                err = relative_error(value, ref, task.split()[1], k) if k else float("nan")
                chosen[lib, task], best[lib, task] = (setting, fn, err, summary(task, value)), seconds
                if not err > TARGET:
                    break
    for _ in range(args.repeats - 1):  # later passes re-time the chosen settings, interleaved
        for (lib, task), (_, fn, _, _) in chosen.items():
            best[lib, task] = min(best[lib, task], timed(fn, device)[1])

    print(f"load average at end {os.getloadavg()}")
    print(f"{'task':10s} {'library':12s} {'setting':22s} {'seconds':>8s} {'max rel err':>11s}  value")
    for (lib, task), (setting, _, err, value) in chosen.items():
        print(f"{task:10s} {lib:12s} {setting:22s} {best[lib, task]:8.2f} {err:11.1e}  {value}")
    for task in tasks:
        peers = {lib: best[lib, task] for lib in table if lib != "losslab" and (lib, task) in best
                 and not chosen[lib, task][2] > TARGET}
        if ("losslab", task) in best and peers:
            fastest = min(peers, key=peers.get)
            print(f"{task:10s}: losslab {best['losslab', task]:.2f}s, fastest peer {fastest} {peers[fastest]:.2f}s, "
                  f"ratio {peers[fastest] / best['losslab', task]:.2f}x")


def timed(fn, device):
    synchronized(device)
    t = time.perf_counter()
    out = fn()
    synchronized(device)
    return out, time.perf_counter() - t


def summary(task, value):
    """What to print of a method's output: the top values, or the trace estimate."""
    if task.startswith("top"):
        return np.round(np.sort(np.asarray(value, dtype=np.float64).flatten())[::-1][:3], 5).tolist()
    if task == "trace":
        return round(float(value), 3)
    return ""


if __name__ == "__main__":
    main()
