"""Exact one-period cost distributions that the simulation is checked against.

For a static pool the total cost of one period is ``S = X_1 + ... + X_N`` with
``N ~ Poisson(lam)`` and iid discrete severities ``X_i`` (benefit amounts).  The
amounts sit on a lattice ``k * unit``, so ``S`` does too and its distribution can
be computed exactly, up to a tail of probability below ``tail_eps`` that lies
beyond the grid, either by FFT with exponential tilting or by Panjer recursion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import fft, special

from engine.errors import InputError

if TYPE_CHECKING:
    from engine.scenario import Scenario

__all__ = [
    "LatticeDistribution",
    "compound_poisson",
    "per_case_cap_backstop",
    "per_period_cap_backstop",
]

FloatArray = npt.NDArray[np.float64]

_MAX_GRID = 2**26  # most lattice points we are willing to allocate
_REL_TOL = 1e-9  # tolerance for "an amount is an integer multiple of the unit"
_RESCALE = 1e250  # Panjer: rescale the running values once they pass this


@dataclass(frozen=True)
class LatticeDistribution:
    """A distribution on the lattice ``0, unit, 2*unit, ...``.

    Parameters
    ----------
    unit : float
        Lattice step in yuan; point ``k`` stands for the amount ``k * unit``.
    pmf : numpy.ndarray
        ``pmf[k] = P(S = k * unit)``; non-negative, sums to 1.

    Examples
    --------
    >>> d = LatticeDistribution(unit=10.0, pmf=np.array([0.5, 0.5]))
    >>> d.mean(), d.quantile(0.5), d.sf(0.0)
    (5.0, 0.0, 0.5)
    """

    unit: float
    pmf: FloatArray

    def __post_init__(self) -> None:
        pmf = np.array(self.pmf, dtype=np.float64)
        if pmf.ndim != 1 or pmf.size == 0:
            raise InputError(f"pmf must be a non-empty 1-D array, got shape {pmf.shape}")
        if not (math.isfinite(self.unit) and self.unit > 0):
            raise InputError(f"unit must be positive and finite, got {self.unit!r}")
        pmf.flags.writeable = False
        object.__setattr__(self, "unit", float(self.unit))
        object.__setattr__(self, "pmf", pmf)

    @property
    def support(self) -> FloatArray:
        """Amounts ``k * unit`` of the lattice points, in yuan."""
        return np.arange(self.pmf.size, dtype=np.float64) * self.unit

    def mean(self) -> float:
        """Expected value ``E[S]``.

        Examples
        --------
        >>> LatticeDistribution(1.0, np.array([0.25, 0.75])).mean()
        0.75
        """
        return float(np.dot(self.support, self.pmf))

    def std(self) -> float:
        """Standard deviation of ``S`` (computed about the mean).

        Examples
        --------
        >>> LatticeDistribution(2.0, np.array([0.5, 0.5])).std()
        1.0
        """
        dev = self.support - self.mean()
        return math.sqrt(float(np.dot(dev * dev, self.pmf)))

    def cdf(self) -> FloatArray:
        """``P(S <= k * unit)`` for every lattice point, capped at 1.

        Examples
        --------
        >>> LatticeDistribution(1.0, np.array([0.25, 0.75])).cdf()
        array([0.25, 1.  ])
        """
        return np.minimum(np.cumsum(self.pmf), 1.0)

    def sf(self, x: float) -> float:
        """Survival function ``P(S > x)``.

        Summed from the upper tail, so small tail probabilities keep their
        relative precision.  A point within ``1e-9`` units of ``x`` counts as
        equal to ``x``.

        Examples
        --------
        >>> LatticeDistribution(1.0, np.array([0.25, 0.5, 0.25])).sf(1.0)
        0.25
        """
        x = float(x)
        if math.isnan(x):
            raise InputError(f"x must not be NaN, got {x!r}")
        if x < 0:
            return 1.0
        first = math.floor(x / self.unit + _REL_TOL) + 1
        return float(self.pmf[first:].sum())

    def _var_index(self, level: float) -> int:
        """Index of the smallest lattice point with ``cdf >= level``."""
        k = int(np.searchsorted(self.cdf(), level, side="left"))
        if k >= self.pmf.size:  # level above the summed mass by round-off
            k = int(np.flatnonzero(self.pmf)[-1])
        return k

    def quantile(self, level: float) -> float:
        """Value at risk: the smallest lattice amount ``s`` with ``P(S <= s) >= level``.

        Parameters
        ----------
        level : float
            Probability level in ``[0, 1]``.

        Examples
        --------
        >>> LatticeDistribution(1.0, np.array([0.25, 0.5, 0.25])).quantile(0.75)
        1.0
        """
        _check_level(level, upper_open=False)
        return self._var_index(level) * self.unit

    def tvar(self, level: float) -> float:
        """Expected shortfall in the Acerbi form ``(1/(1-level)) * int_level^1 VaR_u du``.

        On a lattice this is exactly
        ``VaR + sum_{s > VaR} (s - VaR) * P(S = s) / (1 - level)``, which is
        always ``>= VaR``.  It equals ``E[S | S >= VaR]`` when ``P(S <= VaR) = level``
        exactly, and otherwise lies between ``E[S | S > VaR]`` and ``E[S | S >= VaR]``
        (the atom at VaR gets only the weight that lies above ``level``).

        Parameters
        ----------
        level : float
            Probability level in ``[0, 1)``.

        Examples
        --------
        >>> LatticeDistribution(1.0, np.array([0.5, 0.25, 0.25])).tvar(0.5)
        1.5
        """
        _check_level(level, upper_open=True)
        k = self._var_index(level)
        var = k * self.unit
        excess = (np.arange(1, self.pmf.size - k, dtype=np.float64)) * self.unit
        return var + float(np.dot(excess, self.pmf[k + 1 :])) / (1.0 - level)

    def expect(self, fn: Callable[[FloatArray], npt.ArrayLike]) -> float:
        """``E[fn(S)]`` for a vectorised ``fn`` of the amounts.

        Examples
        --------
        >>> LatticeDistribution(1.0, np.array([0.5, 0.5])).expect(lambda s: s**2)
        0.5
        """
        values = np.asarray(fn(self.support), dtype=np.float64)
        return float(np.dot(values, self.pmf))


def _check_level(level: float, *, upper_open: bool) -> None:
    ok = 0.0 <= level < 1.0 if upper_open else 0.0 <= level <= 1.0
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise InputError(f"level must lie in {bound}, got {level!r}")


def _validate(lam: float, amounts: npt.ArrayLike, probs: npt.ArrayLike) -> tuple[FloatArray, ...]:
    """Check the inputs; return the amounts and the probabilities (renormalised)."""
    if not (isinstance(lam, (int, float, np.integer, np.floating)) and math.isfinite(lam)):
        raise InputError(f"lam must be a finite number >= 0, got {lam!r}")
    if lam < 0:
        raise InputError(f"lam must be a finite number >= 0, got {lam!r}")
    a = np.atleast_1d(np.asarray(amounts, dtype=np.float64))
    p = np.atleast_1d(np.asarray(probs, dtype=np.float64))
    if a.ndim != 1 or p.ndim != 1 or a.size != p.size or a.size == 0:
        raise InputError(
            f"amounts and probs must be non-empty 1-D of the same length, "
            f"got shapes {a.shape} and {p.shape}"
        )
    if not (np.all(np.isfinite(a)) and np.all(a > 0)):
        raise InputError(f"amounts must be positive and finite, got {a.tolist()}")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0)):
        raise InputError(f"probs must be finite and non-negative, got {p.tolist()}")
    total = float(p.sum())
    if abs(total - 1.0) > 1e-9:
        raise InputError(f"probs must sum to 1 within 1e-9, got sum {total!r}")
    return a, p / total


def _common_unit(amounts: FloatArray) -> float:
    """Largest unit of which every amount is an integer multiple (a float gcd).

    Amounts are scaled by ``10**d`` for the smallest ``d`` in ``0..9`` that makes
    them all integers (within ``1e-9`` relative), and the integer gcd is scaled back.
    """
    for digits in range(10):
        scaled = amounts * 10.0**digits
        ints = np.rint(scaled)
        if np.all(np.abs(scaled - ints) <= _REL_TOL * scaled):
            g = 0
            for value in ints:
                g = math.gcd(g, int(value))
            return g / 10.0**digits
    raise InputError(
        f"amounts have no common unit with at most 9 decimals, got {amounts.tolist()}; "
        "pass unit= explicitly"
    )


def _severity(
    amounts: FloatArray, probs: FloatArray, unit: float | None
) -> tuple[float, FloatArray]:
    """Severity pmf on the lattice: ``f[k] = P(X = k * unit)``, with ``f[0] = 0``."""
    if unit is None:
        unit = _common_unit(amounts)
    unit = float(unit)
    if not (math.isfinite(unit) and unit > 0):
        raise InputError(f"unit must be positive and finite, got {unit!r}")
    ratio = amounts / unit
    ks = np.rint(ratio)
    if np.any(ks < 1) or np.any(np.abs(ratio - ks) > _REL_TOL * ratio):
        raise InputError(f"unit={unit!r} does not divide every amount {amounts.tolist()}")
    if ks.max() >= _MAX_GRID:
        raise InputError(
            f"unit={unit!r} is too fine: the largest amount needs {ks.max():.0f} points"
        )
    f = np.zeros(int(ks.max()) + 1)
    np.add.at(f, ks.astype(np.int64), probs)
    return unit, f


def _poisson_upper(lam: float, eps: float) -> int:
    """Smallest ``n`` with ``P(N > n) < eps`` for ``N ~ Poisson(lam)``."""
    if lam == 0:
        return 0
    hi = math.ceil(lam + 10.0 * math.sqrt(lam) + 10.0)
    while special.pdtrc(hi, lam) >= eps:
        hi *= 2
    lo = -1  # P(N > -1) = 1 >= eps
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if special.pdtrc(mid, lam) < eps:
            hi = mid
        else:
            lo = mid
    return hi


def _chernoff_length(f: FloatArray, lam: float, eps: float) -> int:
    """A length ``L`` with ``P(S >= L) <= eps`` from the Chernoff bound.

    ``P(S >= s) <= exp(-t s + lam (E[e^{tX}] - 1))`` for every ``t > 0``; the bound is
    solved for ``s`` on a geometric grid of ``t`` and the smallest ``s`` kept (any ``t``
    gives a valid bound, so a coarse grid of ``t`` only costs a little length).
    """
    k = np.flatnonzero(f)
    ts = np.geomspace(1e-10, 700.0 / k[-1], 400)
    with np.errstate(over="ignore", invalid="ignore"):
        cgf = lam * (np.expm1(np.outer(ts, k)) @ f[k])
        s = (cgf - math.log(eps)) / ts
    return max(math.ceil(float(np.nanmin(s))), 1)


def _fft_pmf(f: FloatArray, lam: float, length: int, size: int) -> FloatArray:
    """Compound Poisson pmf on ``length`` points from a tilted FFT of ``size`` points.

    The severity is multiplied by ``exp(-theta k)``, the transform ``exp(lam (phi - 1))``
    inverted (as ``1 + expm1(...)`` when that is smaller), and the result multiplied by
    ``exp(theta k)``.  Mass at ``k + j*size`` that wraps onto ``k`` keeps only the
    weight ``exp(-theta j size)``.  Round-off of the inverse FFT is relative to the
    largest tilted value, near the mean ``mu``, so un-tilting scales it by
    ``exp(theta (k - mu))``: small below the mean, and at most 10 on the kept points
    for ``theta = ln(10) / (length - 1 - mu)``, which is the choice (capped at
    ``500 / length`` so ``exp(theta k)`` cannot overflow).  With ``size >= 2 length``
    the wrapped weight is then ``<= 1e-2`` times a mass already below ``tail_eps``.
    """
    k = np.arange(f.size)
    mu = lam * float(np.dot(k, f))
    theta = min(math.log(10.0) / max(length - 1 - mu, 1.0), 500.0 / length)
    phi = fft.rfft(f * np.exp(-theta * k), n=size)
    z = lam * (phi - 1.0)
    # Inverse-FFT round-off scales with the largest coefficient.  For small lam,
    # exp(z) is close to 1 everywhere, so invert expm1(z) instead and add the atom
    # that the 1 stands for exactly; for large lam exp(z) is the smaller one.
    grow, shrink = np.exp(z), np.expm1(z)
    atom = bool(np.max(np.abs(shrink)) < np.max(np.abs(grow)))
    g = fft.irfft(shrink if atom else grow, n=size)[:length]
    g[0] += 1.0 if atom else 0.0
    out: FloatArray = g * np.exp(theta * np.arange(length))
    return out


def _panjer_pmf(f: FloatArray, lam: float, length: int) -> FloatArray:
    """Compound Poisson pmf by Panjer recursion (``a = 0``, ``b = lam``).

    ``g[k] = (lam / k) * sum_j j f[j] g[k - j]`` is linear in ``g[0]``, so instead of
    ``g[0] = exp(-lam)`` (which underflows for ``lam > ~745``) the recursion starts
    at 1 and, whenever a value passes 1e250, the whole prefix is multiplied by
    1e-250.  Values pushed below the smallest double are then more than 1e-300
    times smaller than the running maximum, so dropping them costs nothing.  The
    result is normalised by its sum at the end (the grid holds all but ``tail_eps``).
    """
    idx = np.flatnonzero(f)
    weights = lam * idx * f[idx]
    h = np.zeros(length)
    h[0] = 1.0
    kmax = int(idx[-1])
    for k in range(1, length):
        if k >= kmax:
            acc = float(np.dot(weights, h[k - idx]))
        else:
            m = int(np.searchsorted(idx, k, side="right"))
            acc = float(np.dot(weights[:m], h[k - idx[:m]]))
        h[k] = acc / k
        if h[k] > _RESCALE:
            h[: k + 1] /= _RESCALE
    return h


def compound_poisson(
    lam: float,
    amounts: npt.ArrayLike,
    probs: npt.ArrayLike,
    *,
    unit: float | None = None,
    method: str = "fft",
    tail_eps: float = 1e-16,
) -> LatticeDistribution:
    """Exact distribution of ``S = X_1 + ... + X_N``, ``N ~ Poisson(lam)``, iid ``X``.

    Parameters
    ----------
    lam : float
        Expected number of claims, ``>= 0``.
    amounts : array_like
        Positive benefit amounts (yuan) that a claim can take.
    probs : array_like
        Their probabilities; must sum to 1 within 1e-9.
    unit : float, optional
        Lattice step; default the (float) gcd of ``amounts``.
    method : {"fft", "panjer"}
        ``"fft"``: exponentially tilted FFT of ``M >= 2 L`` points (a fast size) with
        ``theta = ln(10) / (L - 1 - mu)`` per lattice step, ``mu`` the mean in steps
        (capped at ``500 / L``): un-tilting magnifies round-off by at most 10 on the
        grid, and any wrapped mass (already below ``tail_eps``) keeps a weight
        ``exp(-theta M) <= 1e-2``.  ``"panjer"``: Panjer recursion started at 1
        instead of ``exp(-lam)`` with periodic rescaling by 1e-250, so ``exp(-lam)``
        (which underflows for ``lam > ~745``) is never needed; normalised at the end.
    tail_eps : float
        Bound on ``P(S beyond the grid) / P(S > 0)``, hence also on the absolute tail.
        With ``eps = tail_eps * (1 - exp(-lam))`` the grid length ``L`` is the smaller
        of ``n * max_amount/unit + 1``, ``n`` the smallest count with ``P(N > n) < eps``,
        and a Chernoff bound giving ``P(S >= L) <= eps``.

    Returns
    -------
    LatticeDistribution
        ``pmf`` of length ``L``, tiny negative round-off clipped to 0, summing to 1.

    Examples
    --------
    >>> d = compound_poisson(2.0, [1, 2], [0.5, 0.5])
    >>> round(d.mean(), 9), round(d.sf(0.0), 9) == round(1 - math.exp(-2), 9)
    (3.0, True)
    """
    a, p = _validate(lam, amounts, probs)
    if method not in ("fft", "panjer"):
        raise InputError(f"method must be 'fft' or 'panjer', got {method!r}")
    if not (0.0 < tail_eps < 1.0):
        raise InputError(f"tail_eps must lie in (0, 1), got {tail_eps!r}")
    lam = float(lam)
    step, f = _severity(a, p, unit)
    if lam == 0.0:
        return LatticeDistribution(unit=step, pmf=np.ones(1))
    # relative to P(S > 0), so that moments keep their relative accuracy for tiny lam
    eps = max(tail_eps * -math.expm1(-lam), 1e-300)
    length = min(_poisson_upper(lam, eps) * (f.size - 1) + 1, _chernoff_length(f, lam, eps))
    if length > _MAX_GRID:
        raise InputError(
            f"the grid needs {length} points (> 2**26) with unit={step!r}; choose a coarser unit"
        )
    if method == "fft":
        pmf = _fft_pmf(f, lam, length, fft.next_fast_len(2 * length, real=True))
    else:
        pmf = _panjer_pmf(f, lam, length)
    pmf = np.clip(pmf, 0.0, None)
    return LatticeDistribution(unit=step, pmf=pmf / pmf.sum())


def _check_cap(cap: float, members: int) -> float:
    if not (math.isfinite(cap) and cap >= 0):
        raise InputError(f"cap must be finite and >= 0, got {cap!r}")
    if isinstance(members, bool) or int(members) != members or members < 0:
        raise InputError(f"members must be a non-negative integer, got {members!r}")
    return float(cap) * int(members)


def per_period_cap_backstop(
    lam: float,
    amounts: npt.ArrayLike,
    probs: npt.ArrayLike,
    cap: float,
    members: int,
    *,
    unit: float | None = None,
) -> float:
    """Platform's expected backstop ``E[(S - cap*members)^+]`` under a per-period cap.

    ``cap * members`` is the most the members pay in total in the period; the
    platform covers the rest of the period's cost ``S`` (computed by FFT).

    Examples
    --------
    >>> round(per_period_cap_backstop(1.0, [10], [1.0], cap=1.0, members=5), 6)
    6.839397
    """
    limit = _check_cap(cap, members)
    dist = compound_poisson(lam, amounts, probs, unit=unit)
    return dist.expect(lambda s: np.maximum(s - limit, 0.0))


def per_case_cap_backstop(
    lam: float, amounts: npt.ArrayLike, probs: npt.ArrayLike, cap: float, members: int
) -> float:
    """Platform's expected backstop under a per-claim cap: ``lam * E[(X - cap*members)^+]``.

    Each claim is paid by members up to ``cap * members``; the platform pays the
    excess of each claim, so by Wald's identity the expectation is closed form.

    Examples
    --------
    >>> per_case_cap_backstop(2.0, [10, 30], [0.5, 0.5], cap=1.0, members=20)
    10.0
    """
    a, p = _validate(lam, amounts, probs)
    limit = _check_cap(cap, members)
    return float(lam) * float(np.dot(np.maximum(a - limit, 0.0), p))


def pool_severity(scenario: Scenario) -> tuple[float, np.ndarray, np.ndarray]:
    """The compound-Poisson parameters of a scenario's first-period claim cost.

    Returns ``(lam, amounts, probs)``: the Poisson mean of the starting pool's claims and the
    distribution of one case's cost (benefit and fees). For a static pool (claimants stay,
    no lag, one period) ``compound_poisson(*pool_severity(s))`` is the period's exact cost.

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 10**6}})
    >>> lam, amounts, probs = pool_severity(s)
    >>> amounts.tolist()
    [108000.0, 324000.0]
    """
    from engine.scenario_inputs import prepare

    inputs = prepare(scenario)
    with np.errstate(invalid="ignore"):  # empty cohorts with certain illness: 0 * inf
        claims = np.where(inputs.members0[0] > 0, inputs.members0[0] * inputs.hazard, 0.0)
    by_age = claims.sum(axis=(0, 2))
    amounts = np.unique(inputs.case_cost[by_age > 0])
    lam = np.array([by_age[inputs.case_cost == a].sum() for a in amounts])
    return float(lam.sum()), amounts, lam / lam.sum()


def mixed_claims_pmf(lam: float, sd_log: float, dispersion: float, kmax: int) -> FloatArray:
    """P(N = k), k = 0 .. kmax, of one period's claims of a static pool with Poisson mean
    ``lam`` times a mean-one lognormal factor ``exp(s Z - s**2 / 2)`` (``sd_log`` s) and a
    gamma factor with mean 1 and variance ``dispersion``.

    Given the lognormal factor the claims are negative binomial (Poisson when the
    dispersion is 0); the lognormal is integrated by 96-point Gauss-Hermite quadrature.

    >>> p = mixed_claims_pmf(2.0, 0.0, 0.0, 3)
    >>> bool(np.allclose(p, [math.exp(-2) * 2**k / math.factorial(k) for k in range(4)]))
    True
    """
    if lam <= 0 or sd_log < 0 or dispersion < 0 or kmax < 0:
        raise ValueError(
            f"mixed_claims_pmf: lam {lam} must be > 0, sd_log {sd_log} and dispersion "
            f"{dispersion} >= 0, kmax {kmax} >= 0"
        )
    z, w = np.polynomial.hermite_e.hermegauss(96) if sd_log > 0 else (np.zeros(1), np.ones(1))
    w = w / w.sum()
    mu = lam * np.exp(sd_log * z - 0.5 * sd_log * sd_log)[:, None]
    k = np.arange(kmax + 1)[None, :]
    if dispersion == 0:
        logp = k * np.log(mu) - mu - special.gammaln(k + 1)
    else:
        r = 1.0 / dispersion
        logp = (
            special.gammaln(k + r)
            - special.gammaln(r)
            - special.gammaln(k + 1)
            + r * np.log(r / (r + mu))
            + k * np.log(mu / (r + mu))
        )
    return np.asarray(w @ np.exp(logp), dtype=np.float64)


def mixed_mean_variance(lam: float, sd_log: float, dispersion: float, periods: int) -> float:
    """Exact variance of the mean over ``periods`` periods of a static pool's claims, the
    Poisson mean ``lam`` times one mean-one lognormal factor (``sd_log``) per path and an
    independent gamma factor (mean 1, variance ``dispersion``) per period:
    ``lam / T + lam**2 (e**(s**2) - 1) + lam**2 e**(s**2) dispersion / T``.

    >>> mixed_mean_variance(10.0, 0.0, 0.0, 5)
    2.0
    """
    g = math.exp(sd_log * sd_log)
    return lam / periods + lam * lam * (g - 1.0) + lam * lam * g * dispersion / periods
