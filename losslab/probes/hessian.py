"""Hessian of an empirical risk as a linear operator on the flattened parameters.

R(θ) = (1/N) Σ_b n_b · loss_b(θ), where loss_b is `loss_fn(model(x_b), y_b)` (the mean over the
n_b samples of batch b) and N = Σ_b n_b. The model is evaluated through `functional_call` at a flat
parameter copy θ, so the model itself is never modified.

Products H v, by default, are one backward pass through a retained graph of ∇loss_b(θ) (double
backward, ~2 gradient costs, built once per batch on the first product); batches whose graph would
not fit in memory use torch.func forward-over-reverse (jvp of grad, ~3 gradient costs, nothing kept).

BatchNorm and Dropout: every evaluation runs the model in eval mode (BatchNorm uses its running
statistics, Dropout is off). The Hessian is therefore that of the deterministic eval-mode network;
train-mode BatchNorm would couple the samples of a batch and make R depend on the batching.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Sequence

import numpy as np
import torch
from torch.func import functional_call, grad, jvp, vjp, vmap

Batch = tuple[torch.Tensor, torch.Tensor]
METHODS = ("auto", "retained", "forward")


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Put `model` in eval mode for the block and restore the previous training flags."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def available_memory_bytes(device: torch.device) -> int:
    """Free memory on `device`: cudaMemGetInfo for CUDA, available physical pages on the host otherwise."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class HessianOperator:
    """H = ∇²R(θ) at the model's current parameters, as flattened-parameter products.

    method: "retained" keeps every batch's double-backward graph, "forward" keeps none
    (forward-over-reverse), "auto" (default) keeps graphs while their saved tensors fit in
    `memory_budget` bytes (default: half the free memory on the device) and uses forward-over-reverse
    for the remaining batches. Device and dtype follow the model's parameters; vectors are 1-D
    tensors of length `dim`, blocks (dim, m).
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, batches: Batch | Sequence[Batch],
                 method: str = "auto", memory_budget: int | None = None):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if isinstance(batches, tuple) and len(batches) == 2 and torch.is_tensor(batches[0]):
            batches = [batches]
        self.model = model
        self.loss_fn = loss_fn
        self.method = method
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        params = [p for p in model.parameters() if p.requires_grad]
        self.shapes = [p.shape for p in params]
        self.numels = [p.numel() for p in params]
        self.device = params[0].device
        self.dtype = params[0].dtype
        self.dim = sum(self.numels)
        self.theta = torch.cat([p.detach().reshape(-1) for p in params])
        self.buffers = {n: b for n, b in model.named_buffers()}
        self.batches = [(self._as_input(x), y.to(self.device)) for x, y in batches]
        total = sum(x.shape[0] for x, _ in self.batches)
        # mean loss per batch -> overall mean: weight n_b / N
        self.weights = [x.shape[0] / total for x, _ in self.batches]
        self.memory_budget = memory_budget
        self._graphs = None  # per batch: (leaf θ, ∇loss_b(θ) with its graph) or None; built on first product
        self.graph_bytes: list[int] = []  # per batch: bytes the kept graph saves (0 where not kept)
        self._forward_over_reverse = True  # switched off for losses without forward-mode AD of their gradient

    def _as_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.to(self.dtype) if x.is_floating_point() else x

    # -- the scalar function of the flat parameters -------------------------------------------
    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = torch.split(flat, self.numels)
        return {n: t.view(s) for n, t, s in zip(self.names, pieces, self.shapes)}

    def _batch_loss(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.model, {**self._unflatten(flat), **self.buffers}, (x,))
        return self.loss_fn(out, y)

    def loss(self, flat: torch.Tensor | None = None) -> torch.Tensor:
        """R at `flat` (default: the model's parameters)."""
        flat = self.theta if flat is None else flat
        with eval_mode(self.model), torch.no_grad():
            return sum(w * self._batch_loss(flat, x, y) for w, (x, y) in zip(self.weights, self.batches))

    def gradient(self, flat: torch.Tensor | None = None) -> torch.Tensor:
        """∇R at `flat` (default: the model's parameters), flattened."""
        flat = self.theta if flat is None else flat
        g = torch.zeros_like(flat)
        with eval_mode(self.model):
            for w, (x, y) in zip(self.weights, self.batches):
                g += w * grad(self._batch_loss)(flat, x, y)
        return g

    # -- retained graphs -------------------------------------------------------------------
    def graphs(self) -> list:
        """Per batch, (θ leaf, ∇loss_b) with the double-backward graph kept, or None where not kept."""
        if self._graphs is None:
            self._graphs = self._build_graphs()
        return self._graphs

    def _build_graphs(self) -> list:
        if self.method == "forward":
            return [None] * len(self.batches)
        budget = None if self.method == "retained" else self.memory_budget
        if budget is None and self.method == "auto":
            budget = available_memory_bytes(self.device) // 2
        graphs, used, self.graph_bytes = [], 0, []
        for x, y in self.batches:
            if budget is not None and used >= budget:
                graphs.append(None)
                self.graph_bytes.append(0)
                continue
            saved = []

            def pack(t):  # count what the graph keeps (its memory), keep the tensor as is
                saved.append(t.numel() * t.element_size())
                return t

            leaf = self.theta.clone().requires_grad_(True)
            with eval_mode(self.model), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                g = torch.autograd.grad(self._batch_loss(leaf, x, y), leaf, create_graph=True)[0]
            used += sum(saved)
            keep = budget is None or used <= budget
            graphs.append((leaf, g) if keep else None)
            self.graph_bytes.append(sum(saved) if keep else 0)
        return graphs

    # -- products --------------------------------------------------------------------------
    def _hvp_batch(self, v: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """H_b v without a kept graph: forward-over-reverse, or reverse-over-reverse where jvp fails."""
        def gradient(t):
            return grad(self._batch_loss)(t, x, y)

        if self._forward_over_reverse:
            try:
                return jvp(gradient, (self.theta,), (v,))[1]
            except RuntimeError:  # e.g. F.mse_loss in torch 2.13 ("ZeroTensors are immutable")
                self._forward_over_reverse = False
        # reverse-over-reverse: vᵀH = (Hv)ᵀ since H is symmetric
        return vjp(gradient, self.theta)[1](v)[0]

    def _hvp_block(self, block: torch.Tensor, x, y) -> torch.Tensor:
        """H_b V for the rows of `block` (m, dim) without a kept graph, vmapped over the rows."""
        try:
            return vmap(self._hvp_batch, in_dims=(0, None, None))(block, x, y)
        except RuntimeError:  # some losses (e.g. F.mse_loss in torch 2.13) fail under vmap(jvp(grad))
            return torch.stack([self._hvp_batch(v, x, y) for v in block])

    def _products(self, rows: torch.Tensor) -> torch.Tensor:
        """Σ_b w_b H_b V for V given as rows (m, dim): one batched backward per kept graph."""
        acc = torch.zeros_like(rows)
        with eval_mode(self.model):
            for w, (x, y), graph in zip(self.weights, self.batches, self.graphs()):
                if graph is None:
                    acc += w * (self._hvp_batch(rows[0], x, y)[None] if len(rows) == 1
                                else self._hvp_block(rows, x, y))
                    continue
                leaf, g = graph
                batched = len(rows) > 1
                hv = torch.autograd.grad(g, leaf, rows if batched else rows[0], retain_graph=True,
                                         is_grads_batched=batched, materialize_grads=True)[0]
                acc += w * hv.reshape(rows.shape)
        return acc

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H v."""
        v = v.to(device=self.device, dtype=self.dtype)
        return self._products(v.reshape(1, -1))[0]

    __matmul__ = matvec

    def matmat(self, vectors: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """H V for V of shape (dim, m), `chunk` columns per batched product.

        Default: 8 on an accelerator (batching fills it); 1 on CPU, where a product is compute-bound and
        a batched one measured no cheaper per column (mLeNet, 512 images, float32, 1 thread: 126 ms per
        column in blocks of 8, 145 ms in blocks of 32, 113 ms one at a time).
        """
        chunk = chunk or (1 if self.device.type == "cpu" else 8)
        vectors = vectors.to(device=self.device, dtype=self.dtype)
        columns = [self._products(vectors[:, s:s + chunk].T.contiguous()).T
                   for s in range(0, vectors.shape[1], chunk)]
        return torch.cat(columns, dim=1) if columns else vectors.clone()

    def to_linear_operator(self):
        """scipy.sparse.linalg.LinearOperator: float64 numpy in and out (matvec and matmat)."""
        from scipy.sparse.linalg import LinearOperator

        def mm(v):
            v = torch.as_tensor(np.asarray(v, dtype=np.float64))
            out = self.matvec(v.reshape(-1)) if v.ndim == 1 or v.shape[1] == 1 else self.matmat(v)
            return out.detach().to("cpu", torch.float64).numpy().reshape(v.shape)

        return LinearOperator((self.dim, self.dim), matvec=mm, rmatvec=mm, matmat=mm, dtype=np.float64)


class RetainedGraphHessian(HessianOperator):
    """HessianOperator on one batch (x, y) with its double-backward graph always kept (method="retained")."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor):
        super().__init__(model, loss_fn, (x, y), method="retained")


def exact_hessian(op, chunk: int = 64, max_dim: int = 6000) -> torch.Tensor:
    """The dense Hessian (dim × dim) from H e_i for every basis vector (batched products), symmetrized.

    Meant for small models (≤ ~5k parameters); refuses above `max_dim`.
    """
    if op.dim > max_dim:
        raise ValueError(f"exact_hessian: {op.dim} parameters > max_dim={max_dim}")
    eye = torch.eye(op.dim, device=op.device, dtype=op.dtype)
    h = op.matmat(eye, chunk=chunk)
    return (h + h.T) / 2
