"""LP17 recipe helpers against exact answers."""

import numpy as np

from fixtures.recipes import relu_polyfit


def test_relu_polyfit_degree_two_matches_legendre_projection():
    """L2 projection of ReLU on [-r, r] onto degree 2: 3r/32 + z/2 + 15 z^2/(32 r)."""
    for r in (1.0, 3.0):
        assert np.allclose(relu_polyfit(2, r), (3 * r / 32, 0.5, 15 / (32 * r)), atol=2e-6)
