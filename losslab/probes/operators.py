"""A dense symmetric matrix dressed as an operator (known spectra, tests, exact references)."""

from __future__ import annotations

import torch


class MatrixOperator:
    """v ↦ A v for a dense symmetric A; same interface as HessianOperator (dim, device, dtype)."""

    def __init__(self, matrix: torch.Tensor):
        self.matrix = matrix
        self.dim = matrix.shape[0]
        self.device = matrix.device
        self.dtype = matrix.dtype

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matrix @ v.to(device=self.device, dtype=self.dtype)

    __matmul__ = matvec

    def matmat(self, vectors: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        return self.matrix @ vectors.to(device=self.device, dtype=self.dtype)


def matrix_with_spectrum(eigenvalues, seed: int = 0, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Q diag(λ) Qᵀ with Q a Haar-random orthogonal matrix (QR of a Gaussian, sign-fixed)."""
    lam = torch.as_tensor(eigenvalues, dtype=dtype, device=device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(lam.numel(), lam.numel(), generator=g, dtype=dtype).to(device)
    q, r = torch.linalg.qr(z)
    q = q * torch.sign(torch.diagonal(r))
    return (q * lam) @ q.T
