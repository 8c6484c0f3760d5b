"""Classical MDS and the cosine dissimilarity against exact answers."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from losslab.probes.mds import classical_mds, cosine_dissimilarity


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_euclidean_configuration_is_recovered_up_to_rotation(dim):
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(12, dim))
    d = squareform(pdist(x))
    y, values = classical_mds(d, k=dim)
    # the same pairwise distances = the same configuration up to rotation, reflection and translation
    np.testing.assert_allclose(squareform(pdist(y)), d, atol=1e-10)
    # a Euclidean configuration of dimension `dim`: exactly `dim` nonzero eigenvalues of B
    assert np.all(np.abs(values[dim:]) < 1e-10 * values[0])
    # orthogonal Procrustes: some orthogonal Q maps the centred y onto the centred x
    xc, yc = x - x.mean(0), y - y.mean(0)
    u, _, vt = np.linalg.svd(yc.T @ xc)
    np.testing.assert_allclose(yc @ (u @ vt), xc, atol=1e-10)


def test_known_points_have_known_coordinates():
    # 0, 3, 4 on a line (distances 3, 1, 4): centred coordinates -7/3, 2/3, 5/3 up to sign
    d = np.array([[0, 3, 4], [3, 0, 1], [4, 1, 0]], float)
    y, values = classical_mds(d, k=1)
    np.testing.assert_allclose(np.abs(y[:, 0]), [7 / 3, 2 / 3, 5 / 3], atol=1e-12)
    np.testing.assert_allclose(values[0], (49 + 4 + 25) / 9, atol=1e-12)


def test_cosine_dissimilarity_of_known_vectors():
    w = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]])
    d = cosine_dissimilarity(w)
    c = 1 - np.sqrt(0.5)
    expected = np.array([[0, 1, 2, c], [1, 0, 1, c], [2, 1, 0, 2 - c], [c, c, 2 - c, 0]])
    np.testing.assert_allclose(d, expected, atol=1e-12)


def test_non_euclidean_dissimilarity_clips_negative_eigenvalues():
    # a triangle-inequality violation (1, 1, 3) is not Euclidean: B has a negative eigenvalue
    d = np.array([[0, 1, 3], [1, 0, 1], [3, 1, 0]], float)
    y, values = classical_mds(d, k=3)
    assert values[-1] < 0
    assert np.all(np.isfinite(y)) and np.all(y[:, 2] == 0)
