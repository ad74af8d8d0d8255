"""Maximum likelihood shared by the calibrations: estimates with intervals, the Poisson and
negative-binomial fit of a log-linear mean, profile likelihood intervals, the dispersion test.

The mean of count ``c_t`` is ``exp(offset_t + theta + beta x_t)``; ``theta`` is the log of a
rate, ``beta`` an optional trend in ``x`` (years), and the negative binomial (NB2) has
variance ``mu + alpha mu^2``. An interval holds the values whose profile deviance
``2 (nll(value) - nll_hat)`` stays below the chi-square quantile with 1 degree of freedom.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from engine.errors import InputError

DISPERSION_ALPHA = 0.05
"""Significance level of the Pearson over-dispersion test."""


@dataclass(frozen=True)
class Estimate:
    """A fitted value with its confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"

    def line(self, label: str, level: float, spec: str = ".4f") -> str:
        """A report's line: the label in 25 columns, the value and its interval.

        Examples
        --------
        >>> Estimate(0.5, 0.4, 0.6).line("multiplier", 0.95)
        'multiplier               0.5000   95% interval 0.4000 - 0.6000'
        """
        return (
            f"{label:<25}{self.value:{spec}}   {level:.0%} interval "
            f"{self.low:{spec}} - {self.high:{spec}}"
        )


def _nll(c: np.ndarray, eta: np.ndarray, r: float) -> float:
    """Negative log-likelihood without the constant sum(log c!), at linear predictor ``eta``.

    Poisson when ``r`` is inf, else negative binomial with size ``r`` (alpha = 1 / r).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mu = np.exp(eta)
        if math.isinf(r):
            value = float(np.sum(mu - c * eta))
        else:
            # log Gamma(c + r) - log Gamma(r), accurate for large r
            cp = np.maximum(c, 1.0)
            ratio = np.where(c > 0, special.gammaln(cp) - special.betaln(cp, r), 0.0)
            value = -float(np.sum(ratio - r * np.log1p(mu / r) + c * (eta - np.log(r + mu))))
    return value if math.isfinite(value) else math.inf


def _newton(
    c: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    r: float,
    params: list[float | None],
    start: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Minimise ``_nll`` over theta and beta where ``params`` holds None.

    The mean is ``exp(offset + theta + beta x)``. The likelihood is concave in (theta,
    beta) at a fixed ``r``, so Newton's method with step halving converges.
    """
    free = [i for i, v in enumerate(params) if v is None]
    p = np.array([start[i] if v is None else v for i, v in enumerate(params)], dtype=float)

    def value(p: np.ndarray) -> float:
        return _nll(c, offset + p[0] + p[1] * x, r)

    current = value(p)
    for _ in range(200):
        if not free:
            break
        with np.errstate(over="ignore"):
            mu = np.exp(offset + p[0] + p[1] * x)
        if math.isinf(r):
            d, w = mu - c, mu
        else:  # r (mu - c) / (r + mu) and r mu (r + c) / (r + mu)^2, without overflow
            share = 1.0 / (1.0 + r / mu)  # mu / (r + mu), 1 when mu overflows
            d = r * (share - c / (r + mu))
            w = (r + c) * share * (r / (r + mu))
        cols = [np.ones_like(x), x]
        g = np.array([(cols[i] * d).sum() for i in free])
        h = np.array([[(cols[i] * cols[j] * w).sum() for j in free] for i in free])
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(h)) or not h[0, 0] > 0:
            break  # the likelihood is flat or out of range here: keep the best point so far
        if len(free) == 1:
            step = g / h[0]
        else:
            det = h[0, 0] * h[1, 1] - h[0, 1] ** 2
            if not det > 0:
                raise InputError("trend: the periods have no spread in time to fit it from")
            step = (
                np.array([h[1, 1] * g[0] - h[0, 1] * g[1], h[0, 0] * g[1] - h[0, 1] * g[0]]) / det
            )
        t = 1.0
        while t > 1e-12:
            trial = p.copy()
            trial[free] -= t * step
            new = value(trial)
            if new <= current:
                break
            t /= 2
        else:
            break
        p, current = trial, new
        if np.abs(t * step).max() < 1e-11:
            break
    return current, p


_GAMMA_BOUNDS = (-20.0, 5.0)


def _fit(
    c: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    *,
    trend: bool,
    nb: bool,
    start: np.ndarray,
    fixed: dict[int, float] | None = None,
) -> tuple[float, np.ndarray]:
    """Maximum likelihood over the free parameters (theta, beta, log alpha).

    beta is 0 without ``trend``, log alpha unused without ``nb``; ``fixed`` holds theta
    (0) or beta (1) at a value. Returns the minimum of ``_nll`` and the parameters.
    """
    fixed = fixed or {}
    params = [fixed.get(0), fixed.get(1, None if trend else 0.0)]

    def at(gamma: float) -> tuple[float, np.ndarray]:
        r = math.exp(-gamma) if nb else math.inf
        return _newton(c, offset, x, r, params, start)

    if not nb:
        value, p = at(0.0)
        return value, np.array([p[0], p[1], start[2]])
    res = optimize.minimize_scalar(
        lambda g: at(g)[0], bounds=_GAMMA_BOUNDS, method="bounded", options={"xatol": 1e-7}
    )
    value, p = at(float(res.x))
    return value, np.array([p[0], p[1], float(res.x)])


def profile_interval(
    profile: Callable[[float], float], theta_hat: float, nll_hat: float, crit: float, step: float
) -> tuple[float, float]:
    """Profile likelihood interval in theta: where 2 (nll(theta) - nll_hat) = crit."""

    def excess(t: float) -> float:
        return 2 * (profile(t) - nll_hat) - crit

    bounds = []
    for sign in (-1.0, 1.0):
        inner, outer = theta_hat, theta_hat + sign * step
        for _ in range(60):
            if excess(outer) > 0:
                break
            inner, outer = outer, theta_hat + 2 * (outer - theta_hat)
        else:
            bounds.append(sign * math.inf)
            continue
        bounds.append(float(optimize.brentq(excess, inner, outer, xtol=1e-10, rtol=1e-12)))
    return bounds[0], bounds[1]


def profile_fit(
    c: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    *,
    trend: bool,
    nb: bool,
    level: float,
    which: int = 0,
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The maximum likelihood parameters, the minimum, and the profile likelihood interval
    of parameter ``which`` (0: theta, 1: beta)."""
    crit = float(stats.chi2.ppf(level, 1))
    total = float(c.sum())
    if total == 0:
        # no cases: theta -> -inf; with neither trend nor dispersion the bound is explicit
        upper = math.log(crit / 2 / float(np.exp(offset).sum()))
        return np.array([-math.inf, 0.0, _GAMMA_BOUNDS[0]]), 0.0, (-math.inf, upper)
    start = np.array([math.log(total / float(np.exp(offset).sum())), 0.0, math.log(0.01)])
    nll_hat, params = _fit(c, offset, x, trend=trend, nb=nb, start=start)

    def profile(value: float) -> float:
        return _fit(c, offset, x, trend=trend, nb=nb, start=params, fixed={which: value})[0]

    step = 1 / math.sqrt(total) / (1.0 if which == 0 else max(float(x.std()), 1e-3))
    bounds = profile_interval(profile, float(params[which]), nll_hat, crit, step)
    return params, nll_hat, bounds


@dataclass(frozen=True)
class Dispersion:
    """Pearson's test of the Poisson model: ``X2 = sum (c - mu)^2 / mu`` on ``df`` degrees
    of freedom, its upper-tail p-value and whether it is below ``DISPERSION_ALPHA``."""

    pearson: float
    df: int
    p_value: float
    overdispersed: bool

    @property
    def ratio(self) -> float:
        """``X2 / df`` (NaN without degrees of freedom)."""
        return self.pearson / self.df if self.df > 0 else math.nan


def dispersion_test(c: np.ndarray, mu: np.ndarray, parameters: int) -> Dispersion:
    """Pearson's over-dispersion test of counts ``c`` against fitted means ``mu``.

    Examples
    --------
    >>> t = dispersion_test(np.array([9.0, 11.0]), np.array([10.0, 10.0]), 1)
    >>> t.pearson, t.df, t.overdispersed
    (0.2, 1, False)
    """
    pearson = float(((c - mu) ** 2 / mu).sum())
    df = int(c.size) - parameters
    p_value = float(stats.chi2.sf(pearson, df)) if df > 0 else math.nan
    return Dispersion(pearson, df, p_value, bool(df > 0 and p_value < DISPERSION_ALPHA))
