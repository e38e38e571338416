import numpy as np
import pytest

from biosim.engine.connectors import AllToAll, FixedIndegree, FixedOutdegree, FixedProbability, FromArrays, OneToOne
from biosim.streams import stream


def check_csr(indptr, indices, n_pre, n_post):
    assert indptr.shape == (n_pre + 1,) and indptr[0] == 0 and indptr[-1] == indices.size
    assert indices.dtype == np.int32 and indptr.dtype == np.int64
    assert np.all(np.diff(indptr) >= 0)
    assert indices.size == 0 or (indices.min() >= 0 and indices.max() < n_post)
    for i in range(n_pre):
        row = indices[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(row) > 0), "targets of a row are sorted and distinct"


def test_fixed_probability_statistics():
    rng = stream(1, "connect")
    n_pre, n_post, p = 2000, 1500, 0.05
    indptr, indices, order = FixedProbability(p=p).connect(n_pre, n_post, False, rng)
    check_csr(indptr, indices, n_pre, n_post)
    expected, sd = n_pre * n_post * p, np.sqrt(n_pre * n_post * p * (1 - p))
    assert abs(indices.size - expected) < 5 * sd
    in_degree = np.bincount(indices, minlength=n_post)  # targets are uniform: in-degree ~ Binomial(n_pre, p)
    assert abs(in_degree.var() - n_pre * p * (1 - p)) < 0.15 * n_pre * p
    assert order is None


def test_no_autapses_when_asked():
    rng = stream(2, "connect")
    indptr, indices, _ = FixedProbability(p=0.5, autapses=False).connect(300, 300, True, rng)
    pre = np.repeat(np.arange(300), np.diff(indptr))
    assert not np.any(pre == indices)
    indptr, indices, _ = FixedIndegree(k=299, autapses=False).connect(300, 300, True, rng)
    pre = np.repeat(np.arange(300), np.diff(indptr))
    assert not np.any(pre == indices) and indices.size == 300 * 299


def test_fixed_indegree_and_outdegree_are_exact():
    rng = stream(3, "connect")
    indptr, indices, _ = FixedIndegree(k=40).connect(500, 300, False, rng)
    check_csr(indptr, indices, 500, 300)
    assert np.all(np.bincount(indices, minlength=300) == 40)
    indptr, indices, _ = FixedOutdegree(k=25).connect(200, 100, False, rng)
    check_csr(indptr, indices, 200, 100)
    assert np.all(np.diff(indptr) == 25)


def test_deterministic_given_seed():
    a = FixedProbability(p=0.1).connect(300, 300, True, stream(7, "connect"))
    b = FixedProbability(p=0.1).connect(300, 300, True, stream(7, "connect"))
    c = FixedProbability(p=0.1).connect(300, 300, True, stream(8, "connect"))
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[0], c[0])


def test_all_to_all_one_to_one():
    rng = stream(0, "connect")
    indptr, indices, _ = AllToAll().connect(3, 4, False, rng)
    check_csr(indptr, indices, 3, 4)
    assert indices.size == 12
    indptr, indices, _ = AllToAll(autapses=False).connect(4, 4, True, rng)
    check_csr(indptr, indices, 4, 4)
    assert indices.size == 12
    indptr, indices, _ = OneToOne().connect(5, 5, False, rng)
    assert np.array_equal(indices, np.arange(5))
    with pytest.raises(ValueError, match="equal sizes"):
        OneToOne().check(5, 6, same=False)


def test_from_arrays_keeps_pair_order_mapping():
    pre, post = [2, 0, 2, 1], [1, 3, 0, 2]
    indptr, indices, order = FromArrays(pre=pre, post=post).connect(3, 4, False, stream(0, "connect"))
    check_csr(indptr, indices, 3, 4)
    pairs = [(i, int(indices[s])) for i in range(3) for s in range(indptr[i], indptr[i + 1])]
    assert pairs == [(0, 3), (1, 2), (2, 0), (2, 1)]
    assert [(pre[k], post[k]) for k in order] == pairs
    with pytest.raises(ValueError, match="out of range"):
        FromArrays(pre=[5], post=[0]).check(3, 4, same=False)
