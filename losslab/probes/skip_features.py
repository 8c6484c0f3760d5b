"""Networks with skip connections from hidden neurons to the output (Nguyen, Mukkamala, Hein 2019).

Paper's notation (Sec. 2), kept here: N = number of training samples, M = number of hidden neurons
p_1..p_M wired directly to the m output units (M >= N), U = all weights and biases of the hidden
units, V in R^{M x m} = the output weights. The feature matrix (Eq. 1) is

    Phi(U) in R^{N x M},  Phi[i, j] = f_{p_j}(x_i),        network output G = Phi(U) V  (N x m).

Hidden units are layered (fully connected or convolutional, stride 1, no padding), every unit is
f_j(x) = sigma(b_j + sum_k f_k(x) u_kj); the skip neurons may come from any hidden layer.
U is one flat float vector so that torch.func can take exact Hessians in U and V together.

Assumption 3.1 (what Lemma 3.2 needs): analytic strictly increasing activations (sigmoid, softplus);
sigmoid is bounded with limit 0 at -inf; softplus additionally needs, from every skip neuron, a
backward path to the first hidden layer through non-skip neurons; for convolutions, the input
patches of different samples are distinct (true for distinct generic inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    # softplus with beta = 1 (paper Eq. 3 with beta = 1): log(1 + e^t)
    "softplus": F.softplus,
}


@dataclass(frozen=True)
class SkipNet:
    """A layered skip network.

    kind: "fc" (input shape (d,), widths = neurons per layer) or "conv" (input shape (C, H, W),
    widths = channels per layer, square kernels of side `kernel`).
    skip: for each hidden layer, the indices (into that layer's flattened outputs) of its skip
    neurons; their concatenation in layer order is p_1..p_M.
    """

    kind: str
    input_shape: tuple[int, ...]
    widths: tuple[int, ...]
    skip: tuple[tuple[int, ...], ...]
    activation: str = "sigmoid"
    kernel: int = 2

    def weight_shapes(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(weight shape, bias shape) of each hidden layer."""
        shapes, fan_in = [], self.input_shape[0]
        for width in self.widths:
            if self.kind == "fc":
                shapes.append(((fan_in, width), (width,)))
            else:
                shapes.append(((width, fan_in, self.kernel, self.kernel), (width,)))
            fan_in = width
        return shapes

    def num_params(self) -> int:
        """Length of the flat vector U."""
        return sum(math.prod(w) + math.prod(b) for w, b in self.weight_shapes())

    @property
    def num_skip(self) -> int:
        """M, the number of hidden neurons wired to the output."""
        return sum(len(s) for s in self.skip)

    def layer_sizes(self) -> list[int]:
        """Number of neurons (flattened outputs) per hidden layer."""
        if self.kind == "fc":
            return list(self.widths)
        sizes, side_h, side_w = [], self.input_shape[1], self.input_shape[2]
        for width in self.widths:
            side_h, side_w = side_h - self.kernel + 1, side_w - self.kernel + 1
            sizes.append(width * side_h * side_w)
        return sizes

    def init_params(self, generator: torch.Generator, scale: float = 1.0,
                    dtype=torch.float64) -> torch.Tensor:
        """Random U: Gaussian weights with std scale/sqrt(fan_in), Gaussian biases with std scale."""
        parts = []
        for w_shape, b_shape in self.weight_shapes():
            fan_in = math.prod(w_shape[1:]) if self.kind == "conv" else w_shape[0]
            parts.append(torch.randn(math.prod(w_shape), generator=generator, dtype=dtype)
                         * scale / math.sqrt(fan_in))
            parts.append(torch.randn(math.prod(b_shape), generator=generator, dtype=dtype) * scale)
        return torch.cat(parts)

    def hidden_outputs(self, U: torch.Tensor, X: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every hidden layer, each flattened to (N, neurons of that layer)."""
        sigma, outputs, h, offset = ACTIVATIONS[self.activation], [], X, 0
        for w_shape, b_shape in self.weight_shapes():
            w = U[offset:offset + math.prod(w_shape)].reshape(w_shape)
            offset += math.prod(w_shape)
            b = U[offset:offset + math.prod(b_shape)]
            offset += math.prod(b_shape)
            h = sigma(h @ w + b) if self.kind == "fc" else sigma(F.conv2d(h, w, b))
            outputs.append(h.reshape(h.shape[0], -1))
        return outputs

    def feature_matrix(self, U: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """Phi(U) (paper Eq. 1): rows = training samples x_i, columns = skip neurons p_1..p_M."""
        columns = [out[:, list(idx)] for out, idx in zip(self.hidden_outputs(U, X), self.skip) if idx]
        return torch.cat(columns, dim=1)

    def output(self, U: torch.Tensor, V: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """G = Phi(U) V, the network output (N x m); the output units have no bias, as in the paper."""
        return self.feature_matrix(U, X) @ V


def cross_entropy(G: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 2: (1/N) sum_i -log(exp(G_{i,y_i}) / sum_k exp(G_ik)). The loss of Theorem 3.3."""
    return F.cross_entropy(G, labels, reduction="mean")


def square_loss(G: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """(1/(2N)) ||G - Y||_F^2; zero exactly when Phi(U) V = Y (Theorem 3.3.1's linear system)."""
    return 0.5 * ((G - Y) ** 2).sum() / G.shape[0]


def one_hot(labels: torch.Tensor, classes: int, dtype=torch.float64) -> torch.Tensor:
    """The zero-one target matrix Y in R^{N x m}."""
    return F.one_hot(labels, classes).to(dtype)


def numerical_rank(A: torch.Tensor) -> tuple[int, torch.Tensor, float]:
    """(rank, singular values, tolerance) with numpy.linalg.matrix_rank's rule:
    tol = sigma_max * max(rows, cols) * eps(dtype); rank = #{sigma > tol}."""
    s = torch.linalg.svdvals(A)
    tol = float(s.max()) * max(A.shape) * torch.finfo(A.dtype).eps if s.numel() else 0.0
    return int((s > tol).sum()), s, tol


def training_error(G: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose arg-max output is not the label."""
    return float((G.argmax(dim=1) != labels).double().mean())


def random_skip_net(rng, num_samples: int, kind: str, activation: str, depth: int,
                    widths: list[int], input_shape: tuple[int, ...], kernel: int = 2) -> SkipNet:
    """A SkipNet with M = num_samples skip neurons drawn at random from all hidden layers.

    rng: a random.Random. Every layer keeps at least one non-skip neuron (for conv: one non-skip
    channel), which gives softplus the backward path of Assumption 3.1 through non-skip neurons.
    """
    net = SkipNet(kind, tuple(input_shape), tuple(widths[:depth]), ((),) * depth, activation, kernel)
    sizes = net.layer_sizes()
    per_channel = [size // w for size, w in zip(sizes, net.widths)]
    # candidate neurons: everything except channel/neuron 0 of each layer (kept as the non-skip path)
    candidates = [(layer, idx) for layer, size in enumerate(sizes)
                  for idx in range(per_channel[layer], size)]
    if len(candidates) < num_samples:
        raise ValueError(f"only {len(candidates)} candidate skip neurons for N = {num_samples}")
    chosen = sorted(rng.sample(candidates, num_samples))
    skip = tuple(tuple(idx for layer, idx in chosen if layer == l) for l in range(depth))
    return SkipNet(kind, tuple(input_shape), net.widths, skip, activation, kernel)


def cross_entropy_hessian_in_V(Phi: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """nabla^2_V of the mean cross-entropy (Eq. 2) at G = Phi V, V (M x m) flattened row-major:
    (1/N) sum_i A_i kron phi_i phi_i^T, A_i = diag(p_i) - p_i p_i^T with its diagonal p_k sum_{j != k} p_j, so a
    saturated softmax (p_y rounding to 1) keeps A_i PSD instead of cancelling 1 - p_y to 0."""
    p = torch.softmax(Phi @ V, dim=1)
    m = p.shape[1]
    others = (p[:, None, :] * (1 - torch.eye(m, dtype=p.dtype))).sum(-1)  # sum_{j != k} p_j, without 1 - p_k
    A = -p[:, :, None] * p[:, None, :]
    A.diagonal(dim1=1, dim2=2).copy_(p * others)
    H = torch.einsum("ik,il,iab->kalb", Phi, Phi, A) / len(Phi)
    return H.reshape(V.numel(), V.numel())
