"""Tests for engine.exact: exact compound Poisson distributions on a lattice."""

import math

import numpy as np
import pytest
from scipy import fft, stats

from engine.exact import (
    LatticeDistribution,
    _fft_pmf,
    _poisson_upper,
    compound_poisson,
    per_case_cap_backstop,
    per_period_cap_backstop,
)

SMALL = (3.0, [1, 2, 5], [0.5, 0.3, 0.2])
BIG = (7000.0, [324000, 108000], [0.85, 0.15])


def direct_pmf(lam, amounts, probs):
    """sum_n Poisson(n) * (n-fold convolution of the severity), integer amounts."""
    sev = np.zeros(max(amounts) + 1)
    for a, p in zip(amounts, probs, strict=True):
        sev[a] += p
    n_max = 0
    while stats.poisson.sf(n_max, lam) >= 1e-18:
        n_max += 1
    out = np.zeros(n_max * (sev.size - 1) + 1)
    conv = np.ones(1)
    for n in range(n_max + 1):
        out[: conv.size] += stats.poisson.pmf(n, lam) * conv
        conv = np.convolve(conv, sev)
    return out


def pad(x, n):
    return np.concatenate([x, np.zeros(n - x.size)])


def moments(lam, amounts, probs):
    a, p = np.asarray(amounts, float), np.asarray(probs, float)
    return lam * np.dot(a, p), lam * np.dot(a * a, p)


@pytest.mark.parametrize("method", ["fft", "panjer"])
def test_small_case_matches_direct_convolution(method):
    dist = compound_poisson(*SMALL, method=method)
    ref = direct_pmf(*SMALL)
    n = max(ref.size, dist.pmf.size)
    assert dist.unit == 1.0
    assert np.max(np.abs(pad(dist.pmf, n) - pad(ref, n))) < 1e-12
    assert abs(dist.pmf.sum() - 1.0) < 1e-12
    assert dist.pmf[0] == pytest.approx(math.exp(-3.0), rel=1e-12)


@pytest.mark.parametrize(
    "case",
    [(40.0, [100, 250, 1000, 3000], [0.4, 0.3, 0.2, 0.1]), BIG],
    ids=["moderate", "lam7000"],
)
def test_fft_and_panjer_agree(case):
    a = compound_poisson(*case, method="fft")
    b = compound_poisson(*case, method="panjer")
    assert a.unit == b.unit and a.pmf.size == b.pmf.size
    assert np.max(np.abs(a.pmf - b.pmf)) < 1e-10
    for d in (a, b):
        assert abs(d.pmf.sum() - 1.0) < 1e-12
        assert np.all(d.pmf >= 0)


def test_large_lambda_has_no_underflow_problem():
    mean, var = moments(*BIG)
    for method in ("fft", "panjer"):
        d = compound_poisson(*BIG, method=method)
        assert d.unit == 108000.0
        assert abs(d.pmf.sum() - 1.0) < 1e-12
        assert d.pmf[0] == 0.0  # exp(-7000) is not representable, and that is fine
        assert d.mean() == pytest.approx(mean, rel=1e-9)
        assert d.std() == pytest.approx(math.sqrt(var), rel=1e-9)


@pytest.mark.parametrize("lam", [1e-9, 0.01, 5.0, 7000.0])
@pytest.mark.parametrize("method", ["fft", "panjer"])
@pytest.mark.parametrize(
    "sev", [([1, 2, 5], [0.5, 0.3, 0.2]), ([324000, 108000], [0.85, 0.15])], ids=["small", "big"]
)
def test_mean_and_variance(lam, method, sev):
    mean, var = moments(lam, *sev)
    d = compound_poisson(lam, *sev, method=method)
    assert d.mean() == pytest.approx(mean, rel=1e-9)
    assert d.std() ** 2 == pytest.approx(var, rel=1e-9)


def test_grid_growth_leaves_pmf_unchanged():
    lam, amounts, probs = 50.0, [1, 3, 7], [0.6, 0.3, 0.1]
    f = np.zeros(8)
    f[[1, 3, 7]] = probs
    length = _poisson_upper(lam, 1e-16) * 7 + 1
    size = fft.next_fast_len(2 * length, real=True)
    base = _fft_pmf(f, lam, length, size)
    for bigger in (2 * size, 8 * size):
        assert np.max(np.abs(_fft_pmf(f, lam, length, bigger) - base)) < 1e-12
    # through the public API: a smaller tail_eps gives a longer grid, same pmf
    d1 = compound_poisson(lam, amounts, probs)
    d2 = compound_poisson(lam, amounts, probs, tail_eps=1e-40)
    assert d2.pmf.size > d1.pmf.size
    assert np.max(np.abs(d2.pmf[: d1.pmf.size] - d1.pmf)) < 1e-12
    assert d2.pmf[d1.pmf.size :].sum() < 1e-13  # FFT round-off only
    # the grid's tail bound holds: the exact (Panjer) mass beyond the default grid
    p1 = compound_poisson(lam, amounts, probs, method="panjer")
    p2 = compound_poisson(lam, amounts, probs, method="panjer", tail_eps=1e-40)
    assert p2.pmf[p1.pmf.size :].sum() < 1e-16


def test_tail_bound_and_zero_lambda():
    n = _poisson_upper(7000.0, 1e-16)
    assert stats.poisson.sf(n, 7000.0) < 1e-16 <= stats.poisson.sf(n - 1, 7000.0)
    d = compound_poisson(0.0, [10, 20], [0.5, 0.5])
    assert d.pmf.tolist() == [1.0] and d.mean() == 0.0 and d.quantile(0.99) == 0.0


def test_quantile_tvar_sf_hand_checkable():
    lam = 1e-3  # S = 0 w.p. e^-lam, S = 100 w.p. ~lam, S = 200 w.p. ~lam^2/2
    d = compound_poisson(lam, [100], [1.0])
    p0, p1 = math.exp(-lam), lam * math.exp(-lam)
    assert d.unit == 100.0
    assert d.sf(0.0) == pytest.approx(1 - p0, rel=1e-12)
    assert d.sf(-1.0) == 1.0
    assert d.sf(99.9) == pytest.approx(1 - p0, rel=1e-12)
    assert d.sf(100.0) == pytest.approx(1 - p0 - p1, rel=1e-9)
    assert d.quantile(0.5) == 0.0
    assert d.quantile(p0 * (1 - 1e-12)) == 0.0
    assert d.quantile(p0 * (1 + 1e-12)) == 100.0
    assert d.quantile(0.9995) == 100.0
    assert d.quantile(1 - 1e-8) == 200.0
    assert d.cdf()[0] == pytest.approx(p0, rel=1e-12)
    # Acerbi ES at level 0.5: VaR = 0, ES = E[S] / (1 - 0.5)
    assert d.tvar(0.5) == pytest.approx(d.mean() / 0.5, rel=1e-12)
    # at 0.9995 VaR=100; ES = 100 + sum_{s>100}(s-100)p(s) / 0.0005
    tail = sum((k - 1) * 100 * d.pmf[k] for k in range(2, d.pmf.size))
    assert d.tvar(0.9995) == pytest.approx(100 + tail / 0.0005, rel=1e-12)
    for level in (0.0, 0.5, 0.9, 0.9995, 0.999999):
        assert d.tvar(level) >= d.quantile(level)


def test_tvar_equals_integral_of_quantiles():
    d = compound_poisson(*SMALL)
    level = 0.95
    us = level + (1 - level) * (np.arange(200000) + 0.5) / 200000
    idx = np.searchsorted(d.cdf(), us, side="left")
    assert d.tvar(level) == pytest.approx(np.mean(idx * d.unit), rel=1e-4)
    assert d.tvar(level) >= d.quantile(level)
    assert d.quantile(level) == min(
        s for s, c in zip(d.support, d.cdf(), strict=True) if c >= level
    )


def test_lattice_distribution_basics():
    d = LatticeDistribution(unit=2.0, pmf=np.array([0.25, 0.5, 0.25]))
    assert d.support.tolist() == [0.0, 2.0, 4.0]
    assert d.mean() == 2.0 and d.std() == pytest.approx(math.sqrt(2.0))
    assert d.expect(lambda s: s**2) == pytest.approx(6.0)
    assert d.sf(2.0) == 0.25 and d.quantile(1.0) == 4.0
    with pytest.raises(ValueError, match="level"):
        d.tvar(1.0)
    with pytest.raises(ValueError, match="unit"):
        LatticeDistribution(unit=0.0, pmf=np.ones(1))


def test_unit_default_and_explicit():
    assert compound_poisson(1.0, [0.1, 0.25], [0.5, 0.5]).unit == pytest.approx(0.05)
    d = compound_poisson(1.0, [324000, 108000], [0.85, 0.15], unit=54000)
    assert d.unit == 54000.0
    ref = compound_poisson(1.0, [324000, 108000], [0.85, 0.15])
    assert d.mean() == pytest.approx(ref.mean(), rel=1e-12)
    assert np.allclose(d.pmf[::2][: ref.pmf.size], ref.pmf, atol=1e-14)


def test_per_period_cap_backstop():
    lam, amounts, probs = 5.0, [100, 200, 500], [0.5, 0.3, 0.2]
    d = compound_poisson(lam, amounts, probs)
    for cap, members in [(1.0, 300), (2.5, 400), (0.0, 10)]:
        limit = cap * members
        brute = sum(max(s - limit, 0.0) * p for s, p in zip(d.support, d.pmf, strict=True))
        got = per_period_cap_backstop(lam, amounts, probs, cap, members)
        assert got == pytest.approx(brute, rel=1e-12)
    # no cap beyond anything: E[S]
    assert per_period_cap_backstop(lam, amounts, probs, 0.0, 0) == pytest.approx(d.mean())
    # cap*members at or above the largest amount in the grid: nothing to back stop
    assert per_period_cap_backstop(lam, amounts, probs, d.support[-1], 1) == 0.0


def test_per_case_cap_backstop_closed_form():
    lam, amounts, probs = 7000.0, [324000, 108000], [0.85, 0.15]
    got = per_case_cap_backstop(lam, amounts, probs, cap=1.0, members=200000)
    assert got == pytest.approx(7000 * 0.85 * 124000)
    assert per_case_cap_backstop(lam, amounts, probs, cap=2.0, members=200000) == 0.0
    # per-case excess never exceeds the per-period cap's
    assert per_case_cap_backstop(5.0, [100, 200], [0.5, 0.5], 1.0, 150) <= (
        per_period_cap_backstop(5.0, [100, 200], [0.5, 0.5], 1.0, 150) + 1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": -1.0}, "lam"),
        ({"lam": float("nan")}, "lam"),
        ({"lam": float("inf")}, "lam"),
        ({"amounts": [1.0, -2.0]}, "amounts"),
        ({"amounts": [1.0, float("inf")]}, "amounts"),
        ({"amounts": [1.0, 0.0]}, "amounts"),
        ({"probs": [1.2, -0.2]}, "probs"),
        ({"probs": [0.5, 0.4]}, "probs"),
        ({"probs": [0.5, 0.3, 0.2]}, "same length"),
        ({"method": "montecarlo"}, "method"),
        ({"tail_eps": 0.0}, "tail_eps"),
        ({"unit": 0.3}, "unit"),
        ({"unit": -1.0}, "unit"),
        ({"amounts": [1.0, 1 / 3]}, "unit"),
        ({"amounts": [324000.0, 108001.0], "lam": 7000.0}, "grid"),
    ],
)
def test_bad_inputs(kwargs, match):
    args = {"lam": 2.0, "amounts": [1.0, 2.0], "probs": [0.5, 0.5]} | kwargs
    with pytest.raises(ValueError, match=match):
        compound_poisson(**args)


def test_bad_cap_inputs():
    with pytest.raises(ValueError, match="cap"):
        per_period_cap_backstop(1.0, [1], [1.0], -1.0, 10)
    with pytest.raises(ValueError, match="members"):
        per_case_cap_backstop(1.0, [1], [1.0], 1.0, 2.5)
    with pytest.raises(ValueError, match="lam"):
        per_case_cap_backstop(-1.0, [1], [1.0], 1.0, 2)
