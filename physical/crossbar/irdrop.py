"""Wire resistance in a crossbar array (IR drop).

Geometry (one array, rows i = 0..n-1 are word lines driven at the left end, columns j = 0..m-1 are bit lines held
at virtual ground below the last row): the cell G_ij joins word-line node (i, j) to bit-line node (i, j); word-line
segments of resistance r_word join the driver to (i, 0) and (i, j) to (i, j + 1); bit-line segments of r_bit join
(i, j) to (i + 1, j) and (n - 1, j) to the ground. Row 0 is the farthest from the ground.

- :func:`effective_conductance`: the exact nodal solve. The network is linear, so the bit-line currents are
  I = V G_eff with an effective (n x m) matrix: computed once per programmed state by one sparse LU with n
  right-hand sides, then every MVM is a plain product (small and medium tiles).
- :func:`attenuation`: aihwkit's cheap input-dependent attenuation (its cubic in a = r G_max n sum g x is the
  series of the continuum solution 1 - tanh(b)/b, b^2 = a), with the positional weight 1 - (i/n)^2 of the
  continuum bit line so that row 0 loses most.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba.extending import register_jitable
from scipy.sparse.linalg import splu


def effective_conductance(G: np.ndarray, r_word: float, r_bit: float) -> np.ndarray:
    """The (n x m) matrix with I_j = sum_i V_i G_eff[i, j] for conductances ``G`` (S) and wire segments of
    ``r_word`` and ``r_bit`` ohm (r_word = 0: ideal word lines; r_bit must be > 0 when r_word is)."""
    G = np.asarray(G, np.float64)
    n, m = G.shape
    if r_bit <= 0:
        if r_word > 0:
            raise ValueError("an exact IR-drop solve with ideal bit lines and resistive word lines is not supported")
        return G.copy()
    cells = np.arange(n * m).reshape(n, m)
    bit = cells  # unknowns 0..nm-1: bit-line nodes; then word-line nodes when r_word > 0
    word = cells + n * m if r_word > 0 else None
    size = n * m * (2 if r_word > 0 else 1)
    rows, cols, vals = [], [], []
    rhs_rows, rhs_cols, rhs_vals = [], [], []

    def edge(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> None:
        """Conductance g between unknown nodes a and b (arrays)."""
        a, b, g = (np.ravel(v) for v in np.broadcast_arrays(a, b, g))
        rows.extend((a, b, a, b))
        cols.extend((a, b, b, a))
        vals.extend((g, g, -g, -g))

    def to_fixed(a: np.ndarray, g: np.ndarray, source: np.ndarray | None) -> None:
        """Conductance g from unknown nodes a to a fixed node: input row ``source`` (1 V in its column of the
        right-hand side) or the ground (source None)."""
        a, g, s = (np.ravel(v) for v in np.broadcast_arrays(a, g, -1 if source is None else source))
        rows.append(a)
        cols.append(a)
        vals.append(g)
        if source is not None:
            rhs_rows.append(a)
            rhs_cols.append(s)
            rhs_vals.append(g)

    g_bit = 1 / r_bit
    edge(bit[:-1], bit[1:], np.full((n - 1, m), g_bit))
    to_fixed(bit[-1], np.full(m, g_bit), None)
    row_index = np.broadcast_to(np.arange(n)[:, None], (n, m))
    if word is None:
        to_fixed(bit, G, row_index)
    else:
        g_word = 1 / r_word
        edge(word, bit, G)
        edge(word[:, :-1], word[:, 1:], np.full((n, m - 1), g_word))
        to_fixed(word[:, 0], np.full(n, g_word), np.arange(n))
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
    B = sp.csc_matrix((np.concatenate(rhs_vals), (np.concatenate(rhs_rows), np.concatenate(rhs_cols))),
                      shape=(size, n)).toarray()
    v = splu(A).solve(B)  # node voltages per unit input on each row: (size x n)
    return (v[bit[-1]] * g_bit).T


@register_jitable
def attenuation(a):
    """First-order IR drop: the fraction c(a) = a (0.5 - 0.2 a + 0.05 a^2) by which a bit line's position-weighted
    signal sum_i x_i g_i (1 - (i/n)^2) falls, with a = r_bit G_max n sum_i |x_i| g_i (NumPy, torch or Numba)."""
    return a * (0.5 - 0.2 * a + 0.05 * a * a)
