import numpy as np
import scipy.sparse as sp

from saescope.linalg import unit_csr, unit_rows


def test_unit_rows_scales_rows_keeps_zero_rows_and_centres():
    A = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 1.0]])
    U = unit_rows(A)
    assert U.dtype == np.float32
    np.testing.assert_allclose(U[0], [0.6, 0.8], rtol=1e-6)
    assert not U[1].any()
    np.testing.assert_allclose(np.linalg.norm(U[2]), 1.0, rtol=1e-6)
    C = unit_rows(A, mean=np.array([1.0, 1.0]))
    assert not C[2].any()  # the row equal to the mean becomes zero, not NaN
    np.testing.assert_allclose(C[0], np.array([2.0, 3.0]) / np.sqrt(13), rtol=1e-6)
    S = unit_rows(sp.csr_matrix(A))
    np.testing.assert_allclose(S, U, rtol=1e-6)
    assert A[0, 0] == 3.0  # the input is not modified


def test_unit_csr_matches_dense():
    A = sp.random(20, 7, density=0.3, random_state=0, format="csr")
    np.testing.assert_allclose(unit_csr(A).toarray(), unit_rows(A.toarray()), rtol=1e-5, atol=1e-7)
