"""Risk measures of per-path outcomes: the one definition of each, weighted, with its error.

Every summary of the engine (``huzhu run``, ``report``, ``plot``, ``capital``, importance
sampling, streaming runs, lever comparisons) computes its measures here.

Conventions. A sample is ``n`` outcomes ``x_i`` with weights ``w_i >= 0``: the likelihood
ratios ``exp(log_weight)`` of an importance-sampled run, all 1 for plain Monte Carlo. The
weights are exact likelihood ratios (mean 1 under the sampling measure), so estimates divide
by ``n``, not by ``sum w`` (see :mod:`engine.tail`). With equal weights every estimator is
the plain Monte Carlo one.

* mean ``(1/n) sum w_i x_i``, standard error ``sd(w x) / sqrt(n)``. When the weights are
  not all equal, the weight itself, whose mean is known to be 1, is the control variate:
  ``mean(w x) - b (mean(w) - 1)``, ``b`` the least-squares slope of ``w x`` on ``w``,
  with the error of the regression's residuals ``sqrt(sum e^2 / (n - 2) / n)``. Over many
  periods the weights of a tilted run are close to log-normal and their sample mean is
  often well below 1; the control keeps that spread out of every mean (a constant
  outcome's mean is exact);
* ``P(X > t)``: the mean of ``1{x_i > t}``, as above; ``P(>0)`` is the case ``t = 0``;
* VaR at level ``l``: the smallest outcome ``x_k`` with estimated ``P(X > x_k) <= 1 - l``
  (the lower ``l``-quantile of the weighted empirical distribution; with equal weights the
  order statistic of rank ``ceil(n l)``). Its 95% interval inverts the interval
  ``l -/+ 1.96 s_F`` of the distribution function, ``s_F`` the standard error of
  ``P(X > VaR)`` (plain Monte Carlo's ``sqrt(l (1 - l) / n)`` when no path lies beyond
  VaR); its standard error is the interval's width over ``2 x 1.96``;
* TVaR at level ``l``: ``VaR + (1/n) sum w_i (x_i - VaR)^+ / (1 - l)``, the Acerbi-Tasche
  expected shortfall (the mean of the worst ``1 - l`` of the distribution, the atom at VaR
  counted in part). Its standard error is that of the mean of
  ``psi_i = (x_i - VaR)^+ / (1 - l)``, ``sd(w psi) / sqrt(n)`` (VaR minimises the
  expression, so its own error does not enter to first order). With no path beyond VaR
  the sample cannot tell the error: it is NaN.

Examples
--------
>>> x = np.arange(100.0)
>>> var(x, 0.9).estimate, tvar(x, 0.9).estimate
(89.0, 94.5)
"""

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats

from engine.errors import InputError

Z95 = float(stats.norm.ppf(0.975))
"""The normal 97.5% point: 95% intervals are ``estimate -/+ Z95 * std_error``."""


@dataclass(frozen=True)
class Estimate:
    """An estimate, its standard error and its 95% interval."""

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float

    def row(self) -> tuple[float, float, float, float]:
        """``(estimate, std_error, ci_low, ci_high)``."""
        return self.estimate, self.std_error, self.ci_low, self.ci_high


def _normal(estimate: float, se: float) -> Estimate:
    return Estimate(estimate, se, estimate - Z95 * se, estimate + Z95 * se)


def weighted(ds: xr.Dataset) -> bool:
    """Whether ``ds`` is importance-sampled: its ``log_weight`` is not constant 0."""
    if "log_weight" not in ds:
        return False
    lw = np.asarray(ds["log_weight"].values, dtype=float)
    return bool(lw.size) and bool(np.any(lw != 0))


def weights(ds: xr.Dataset) -> np.ndarray:
    """Per-path weights ``exp(log_weight)`` of ``ds`` (ones without ``log_weight``)."""
    if "log_weight" not in ds:
        return np.ones(ds.sizes["path"])
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(ds["log_weight"].values, dtype=float))


def refuse_weighted(ds: xr.Dataset, what: str) -> None:
    """Raise ``ValueError`` when ``what`` would summarise an importance-sampled ``ds``
    as if its paths were equally likely."""
    if weighted(ds):
        raise InputError(
            f"{what} cannot weight the paths of an importance-sampled run (log_weight): "
            "use a run without tilt"
        )


def _prepare(x: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    if x.size == 0:
        raise InputError("a risk measure needs at least one path, got 0")
    w = np.ones(x.size) if w is None else np.asarray(w, dtype=float).ravel()
    if w.shape != x.shape:
        raise InputError(f"weights have {w.size} values for {x.size} outcomes")
    return x, w


def _mean_se(z: np.ndarray) -> tuple[float, float]:
    n = z.size
    return float(z.mean()), float(z.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def _controlled(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Mean of ``w x`` and its error, with ``w`` (mean 1) as control when it varies."""
    y = w * x
    m, se = _mean_se(y)
    dw = w - w.mean()
    ss = float(np.dot(dw, dw))
    if x.size < 3 or not ss > 0 or not np.isfinite(ss):
        return m, se
    beta = float(np.dot(dw, y - m)) / ss
    resid = y - m - beta * dw
    return m - beta * (float(w.mean()) - 1.0), float(
        np.sqrt(np.sum(resid * resid) / (x.size - 2) / x.size)
    )


def mean(x: np.ndarray, w: np.ndarray | None = None) -> Estimate:
    """Weighted mean and its standard error (see the module's conventions).

    Examples
    --------
    >>> mean(np.array([1.0, 3.0])).row()[:2]
    (2.0, 1.0)
    >>> m = mean(np.array([5.0, 5.0, 5.0]), np.array([0.1, 0.2, 0.3]))  # w as control
    >>> round(m.estimate, 12), round(m.std_error, 12)
    (5.0, 0.0)
    """
    x, w = _prepare(x, w)
    return _normal(*_controlled(x, w))


def std(x: np.ndarray, w: np.ndarray | None = None) -> Estimate:
    """Standard deviation ``sqrt(sum w (x - mean)^2 / (n - 1))`` (``ddof=1`` for equal
    weights); its error ``sd / sqrt(2 (n - 1))`` is that of normal outcomes.

    Examples
    --------
    >>> std(np.array([1.0, 3.0])).estimate
    1.4142135623730951
    """
    x, w = _prepare(x, w)
    n = x.size
    m = float(np.mean(w * x))
    sd = float(np.sqrt(np.sum(w * (x - m) ** 2) / (n - 1))) if n > 1 else 0.0
    se = sd / np.sqrt(2 * (n - 1)) if n > 1 else float("nan")
    return _normal(sd, se)


def prob_above(x: np.ndarray, threshold: float = 0.0, w: np.ndarray | None = None) -> Estimate:
    """``P(X > threshold)``, its standard error and a 95% interval clipped to [0, 1].

    Examples
    --------
    >>> p = prob_above(np.array([0.0, 0.0, 1.0, 2.0]))  # sd of (0, 0, 1, 1) is sqrt(1/3)
    >>> p.estimate, round(p.std_error ** 2 * 12, 12)
    (0.5, 1.0)
    """
    x, w = _prepare(x, w)
    p, se = _controlled((x > threshold).astype(float), w)
    return Estimate(p, se, max(p - Z95 * se, 0.0), min(p + Z95 * se, 1.0))


def _sorted(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order, sorted outcomes and ``tail[k] = (1/n) sum_{j > k} w_j`` (summed from the top so
    tiny tail weights keep their precision)."""
    order = np.argsort(x, kind="stable")
    tail = np.append(np.cumsum(w[order][::-1])[::-1][1:], 0.0) / x.size
    return order, x[order], tail


def _index(tail: np.ndarray, level: float) -> int:
    """The first ``k`` with ``tail[k] <= 1 - level`` (at ties the last of equal values decides,
    so this is the smallest value whose estimated distribution function reaches ``level``)."""
    return int(np.argmax(tail <= (1.0 - level) * (1.0 + 1e-9)))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1), got {level!r}")


def var_index(x: np.ndarray, level: float, w: np.ndarray | None = None) -> int:
    """Position in ``x`` of the path whose outcome is the VaR at ``level``."""
    _check_level(level)
    x, w = _prepare(x, w)
    order, _, tail = _sorted(x, w)
    return int(order[_index(tail, level)])


def var_interval(
    x: np.ndarray, level: float, s_f: float, w: np.ndarray | None = None
) -> tuple[float, float]:
    """The 95% interval of VaR that inverts ``level -/+ 1.96 s_f``."""
    x, w = _prepare(x, w)
    _, xs, tail = _sorted(x, w)
    lo = float(xs[_index(tail, max(level - Z95 * s_f, 0.0))])
    hi = float(xs[_index(tail, min(level + Z95 * s_f, 1.0))])
    return lo, hi


def var(x: np.ndarray, level: float, w: np.ndarray | None = None) -> Estimate:
    """Value at risk at ``level`` (see the module's conventions).

    Examples
    --------
    >>> var(np.array([5.0, 1.0, 3.0, 2.0]), 0.5).estimate  # rank ceil(4 * 0.5) = 2
    2.0
    """
    _check_level(level)
    x, w = _prepare(x, w)
    _, xs, tail = _sorted(x, w)
    v = float(xs[_index(tail, level)])
    _, s_f = _mean_se(w * (x > v))
    if not np.any(x > v) or not np.isfinite(s_f):  # nothing beyond: plain Monte Carlo's
        s_f = float(np.sqrt(level * (1 - level) / x.size))
    lo, hi = var_interval(x, level, s_f, w)
    return Estimate(v, (hi - lo) / (2 * Z95), lo, hi)


def tvar(x: np.ndarray, level: float, w: np.ndarray | None = None) -> Estimate:
    """Tail value at risk (Acerbi-Tasche expected shortfall) at ``level``.

    Examples
    --------
    >>> tvar(np.array([5.0, 1.0, 3.0, 2.0]), 0.5).estimate  # 2 + (3 + 1) / 4 / 0.5
    4.0
    """
    _check_level(level)
    x, w = _prepare(x, w)
    v = var(x, level, w).estimate
    extra, se = _mean_se(w * np.maximum(x - v, 0.0) / (1 - level))
    if not np.any(x > v):  # no path beyond VaR: the sample cannot tell the error
        se = float("nan")
    return _normal(v + extra, se)


def quantile(x: np.ndarray, level: float, w: np.ndarray | None = None) -> float:
    """The lower ``level``-quantile of the self-normalised weighted sample (``level`` in
    [0, 1]): VaR's convention for a distribution known only up to its total weight, e.g. the
    paths of a subset. Equal weights: the order statistic of rank ``max(ceil(n level), 1)``.

    Examples
    --------
    >>> quantile(np.array([10.0, 40.0, 20.0, 30.0]), 0.5)
    20.0
    """
    x, w = _prepare(x, w)
    if not 0.0 <= level <= 1.0:
        raise InputError(f"level must lie in [0, 1], got {level!r}")
    total = float(w.sum())
    if not total > 0:
        raise InputError("the weights of a quantile must have a positive sum")
    _, xs, tail = _sorted(x, w * (x.size / total))
    return float(xs[_index(tail, level)])
