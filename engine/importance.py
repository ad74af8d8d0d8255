"""Estimates from importance-weighted runs: weights, tail measures and control variates.

A run with ``run.tilt = theta`` draws every cohort's claim count with mean
``lam * exp(theta * c_a)``, ``c_a`` the cost of one case at the claimant's age, and records
each path's log likelihood ratio ``log_weight = log(dP/dQ)``. Estimates under the real model
weight path ``i`` by ``w_i = exp(log_weight_i)``. This module turns such a run into risk
measures with their standard errors (:func:`tail_estimates`), judges the weights
(:class:`TailWarning`) and adjusts means with control variates (:func:`control_variate`);
:mod:`engine.tail` chooses the tilt.

The weights are exact likelihood ratios, ``E_Q[w] = 1``, so expectations use the plain
importance-sampling estimator ``(1/n) sum_i w_i h(x_i)`` with standard error
``sd(w h) / sqrt(n)``. It is not self-normalised on purpose: a tilt aimed at a deep tail
makes the weights of the body paths spread widely (their own effective sample size
``(sum w)^2 / sum w^2`` can be a handful of paths) while the tail estimate, which only
involves the tail paths, stays precise; dividing by ``sum w`` would add that spread to
every error. Without a tilt ``w_i = 1`` and all estimators are the plain Monte Carlo ones.

**Estimators** (:func:`tail_estimates`). Over ``n`` paths:

* mean ``(1/n) sum w_i x_i``, standard error ``sd(w x) / sqrt(n)``;
* ``P(X > t) = (1/n) sum w_i 1{x_i > t}``, standard error ``sd(w 1{x > t}) / sqrt(n)``;
* VaR at ``level``: the smallest ``x_k`` with estimated ``P(X > x_k) <= 1 - level``
  (Glynn's importance-sampling quantile). Its 95% interval inverts the interval
  ``level -/+ 1.96 s_F`` of the distribution function, ``s_F`` the standard error of
  ``P(X > VaR)``; the standard error is the interval's width over 2 x 1.96, i.e. the
  delta method ``s_F / f(VaR)`` with the density estimated over that interval, which
  stays valid on a lattice (0 when the interval is one lattice point);
* TVaR ``= VaR + (1/n) sum w_i (x_i - VaR)^+ / (1 - level)``, the Acerbi form of
  ``engine.exact.LatticeDistribution.tvar``. VaR minimises this expression, so to first
  order its error is that of the mean of ``psi_i = (x_i - VaR)^+ / (1 - level)``:
  ``sd(w psi) / sqrt(n)``.

**Control variates** (:func:`control_variate`). With likelihood ratios ``w_i`` the
response is ``y*_i = w_i y_i`` and the controls ``w_i c_ij``, whose means under the
tilt are the known means ``mu_j`` under the real model; a tilted run adds ``w_i``
itself (mean 1). With ``C`` those controls and ``mu`` their means, ``beta`` is the
least-squares slope of ``y*`` on ``C`` (with intercept) and, over ``n`` paths and
``k`` control columns:

* ``cv_mean = mean(y*) - beta . (mean(C) - mu)``;
* ``cv_std_error = sqrt(sum e_i^2 / (n - k - 1) / n)``, ``e`` the regression's
  residuals;
* ``std_error = sd(y*) / sqrt(n)``, the error without controls;
* ``variance_reduction = std_error^2 / cv_std_error^2``.
"""

import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from engine import risk
from engine.errors import InputError
from engine.sections import TILTS

__all__ = [
    "TailWarning",
    "control_variate",
    "importance_weights",
    "path_values",
    "tail_estimates",
]

MIN_ESS_SHARE = 0.01
"""A tail's weights degenerate below this many effective paths per path in the tail..."""

MAX_WEIGHT_SHARE = 0.1
"""...or when one path holds more than this share of them (see :class:`TailWarning`)."""

MIN_TAIL_PATHS = 1
"""...or when fewer paths than this lie beyond it (the tilt does not reach the tail)."""

MIN_ESS_ALL = 0.15
"""All the weights of a run are unhealthy below this many effective paths per path."""


DERIVED = {
    "period_cost": (
        "yuan",
        "cost of the cases shared in the period, per-case fees included, before caps "
        "(share_pre x sharing)",
    ),
}
"""Variables computed from a Dataset's own: (units, description)."""

KNOWN_MEANS = {"cost_martingale": 0.0, "notice_martingale": 0.0}
"""Controls whose expectation under the real model is known exactly."""

COLUMNS = ["estimate", "std_error", "ci_low", "ci_high", "plain_std_error", "effective_paths"]
"""Columns of :func:`tail_estimates`."""

_Z95 = risk.Z95


class TailWarning(UserWarning):
    """The importance weights have degenerated: a few paths carry an estimate.

    Judged on the weights of the ``m`` paths an estimate rests on: for ``P(>t)`` those
    beyond ``t``, for VaR and TVaR those beyond VaR (for :func:`control_variate` those with
    a non-zero value). They degenerate when their effective sample size
    ``(sum w)^2 / sum w^2`` is below 1% of ``m``, or when one path holds more than 10% of
    their total and over 5 times an equal share ``1/m``, or (in a tilted run) when no path
    lies beyond (:data:`MIN_TAIL_PATHS`). The estimate and its standard
    error are then unreliable: lower the tilt or target a less extreme level. Plain runs
    (equal weights) never degenerate.

    :func:`simulate_tail`, which chooses its own tilt, also judges all the weights (row
    ``mean weight``): their mean must be 1 in expectation, and their effective sample size
    says how far estimates that rest on every path (the mean, ``P(>t)`` at low ``t``) can
    be trusted. They are unhealthy when the mean weight is more than 3 standard errors
    from 1 or their effective sample size is below 15% of the paths (:data:`MIN_ESS_ALL`).
    A tilt chosen by hand for a deep threshold (:func:`choose_tilt`) spreads the body's
    weights on purpose, so :func:`tail_estimates` does not judge them.
    """


def path_values(ds: xr.Dataset, variable: str) -> np.ndarray:
    """Per-path values of ``variable``; per-period variables are summed over the periods.

    ``variable`` is a variable of ``ds`` or ``"period_cost"`` (:data:`DERIVED`). For a
    one-period run a per-period variable's sum is that period's value.

    Examples
    --------
    >>> ds = xr.Dataset({"backstop": (("path", "period"), [[1.0, 2.0], [0.0, 4.0]])})
    >>> path_values(ds, "backstop").tolist()
    [3.0, 4.0]
    """
    if variable == "period_cost":
        da = ds["share_pre"] * ds["sharing"]
    elif variable in ds.data_vars:
        da = ds[variable]
    else:
        valid = sorted({str(name) for name in ds.data_vars} | set(DERIVED))
        raise InputError(f"variable must be one of {valid}, got {variable!r}")
    if "period" in da.dims:
        da = da.sum("period")
    if da.dims != ("path",):
        raise InputError(f"variable {variable!r} has dims {da.dims}; expected path (and period)")
    return np.asarray(da.values, dtype=float)


def importance_weights(ds: xr.Dataset) -> np.ndarray:
    """Likelihood ratios ``w = exp(log_weight)``, mean 1 under the tilt (1 without one).

    Examples
    --------
    >>> ds = xr.Dataset({"log_weight": ("path", np.log([0.5, 1.5]))})
    >>> importance_weights(ds).tolist()
    [0.5, 1.5]
    """
    with np.errstate(over="ignore"):
        return np.exp(_log_weights(ds))


def _log_weights(ds: xr.Dataset) -> np.ndarray:
    if "log_weight" not in ds:
        return np.zeros(ds.sizes["path"])
    return np.asarray(ds["log_weight"].values, dtype=float)


def _effective_paths(z: np.ndarray) -> tuple[float, float]:
    """``(sum |z|)^2 / sum z^2`` and the largest share ``max |z| / sum |z|`` (0, 1 if none)."""
    a = np.abs(z)
    total = float(a.sum())
    if not total > 0 or not np.isfinite(total):
        return 0.0, 1.0
    return total**2 / float(np.sum(a * a)), float(a.max()) / total


def _degenerate(log_w: np.ndarray) -> bool:
    """Whether the weights ``exp(log_w)`` of an estimate's paths degenerate (TailWarning)."""
    m = log_w.size
    if m == 0 or np.ptp(log_w) == 0:
        return False
    ess, top = _effective_paths(np.exp(log_w - log_w.max()))
    return ess < MIN_ESS_SHARE * m or (top > MAX_WEIGHT_SHARE and top * m > 5)


def _mean_se(z: np.ndarray) -> tuple[float, float]:
    """Mean of ``z`` and its standard error ``sd(z) / sqrt(n)``."""
    n = z.size
    return float(z.mean()), float(z.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def _row(estimate: float, se: float, plain: float, z: np.ndarray) -> list[float]:
    """A row of :data:`COLUMNS` with a normal 95% interval."""
    ess, _ = _effective_paths(z)
    return [estimate, se, estimate - _Z95 * se, estimate + _Z95 * se, plain, ess]


def _var_tvar(x: np.ndarray, w: np.ndarray, level: float) -> tuple[list[float], list[float]]:
    """Rows for VaR and TVaR at ``level`` (:func:`engine.risk.var`, :func:`engine.risk.tvar`)
    with the errors plain Monte Carlo would have."""
    n = x.size
    v, t = risk.var(x, level, w), risk.tvar(x, level, w)
    lo_plain, hi_plain = risk.var_interval(x, level, np.sqrt(level * (1 - level) / n), w)
    var_plain = (hi_plain - lo_plain) / (2 * _Z95)
    var_row = [*v.row(), var_plain, _effective_paths(w * (x > v.estimate))[0]]
    psi = np.maximum(x - v.estimate, 0.0) / (1 - level)
    mean_psi = float(np.mean(w * psi))
    psi_sd = np.sqrt(np.mean(w * (psi - mean_psi) ** 2))
    return var_row, [*t.row(), float(psi_sd / np.sqrt(n)), _effective_paths(w * psi)[0]]


def _estimate_rows(
    x: np.ndarray, w: np.ndarray, thresholds: Sequence[float], levels: Sequence[float]
) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """The rows of :func:`tail_estimates` and the paths each tail estimate rests on."""
    n = x.size
    rows: dict[str, list[float]] = {}
    tails: dict[str, np.ndarray] = {}
    mean, se = risk.mean(x, w).row()[:2]
    sd_p = np.sqrt(np.mean(w * (x - mean) ** 2))
    rows["mean"] = _row(mean, se, float(sd_p / np.sqrt(n)), w * x)
    for t in thresholds:
        z = w * (x > t)
        p, se = risk.prob_above(x, t, w).row()[:2]
        rows[f"P(>{t:g})"] = _row(p, se, float(np.sqrt(max(p * (1 - p), 0.0) / n)), z)
        tails[f"P(>{t:g})"] = x > t
    for level in levels:
        label = f"{100 * level:g}%"
        rows[f"VaR {label}"], rows[f"TVaR {label}"] = _var_tvar(x, w, level)
        tails[f"VaR/TVaR {label}"] = x > rows[f"VaR {label}"][0]
    w_mean, w_se = _mean_se(w)
    rows["mean weight"] = _row(w_mean, w_se, float("nan"), w)
    return rows, tails


def tail_estimates(
    ds: xr.Dataset,
    variable: str = "liability_pv",
    *,
    thresholds: Sequence[float] = (),
    levels: Sequence[float] = (0.995,),
) -> pd.DataFrame:
    """Mean, tail probabilities, VaR and TVaR of a per-path variable under the real model.

    Paths are weighted by their likelihood ratios ``w_i`` (:func:`importance_weights`), so
    the same call serves plain and importance-sampled runs; the estimators and their errors
    are those of the module docstring.

    Parameters
    ----------
    ds : xarray.Dataset
        A run (:func:`engine.simulate.simulate`), tilted or not.
    variable : str
        A per-path variable, a per-period one (summed over the periods) or
        ``"period_cost"`` (see :func:`path_values`).
    thresholds : sequence of float
        ``t`` for the rows ``P(>t)``.
    levels : sequence of float
        Levels in (0, 1) for the rows ``VaR l%`` and ``TVaR l%``.

    Returns
    -------
    pandas.DataFrame
        Rows ``mean``, ``P(>t)``, ``VaR l%``, ``TVaR l%`` and ``mean weight`` (the weights'
        mean, 1 within its error when the tilt is sound, and their effective sample size
        ``(sum w)^2 / sum w^2``), indexed by ``statistic``; columns :data:`COLUMNS`:
        ``estimate``, ``std_error``, ``ci_low`` and ``ci_high`` (95%), ``plain_std_error``
        (the error plain Monte Carlo with as many paths would have, estimated from the
        same sample: ``sqrt(p (1 - p) / n)`` for a probability, ``sd_P / sqrt(n)`` for a
        mean, the same interval inversion with ``s_F = sqrt(l (1 - l) / n)`` for VaR,
        ``sd_P(psi) / sqrt(n)`` for TVaR) and ``effective_paths`` of the estimate (see
        :class:`TailWarning`). ``attrs``: ``paths``, the tilts (``TILTS``), ``degenerate``.

    Warns
    -----
    TailWarning
        When a tail estimate of a tilted run rests on too few paths.

    Examples
    --------
    >>> ds = xr.Dataset({"liability_pv": ("path", np.arange(100.0))})
    >>> t = tail_estimates(ds, thresholds=(89.5,), levels=(0.9,))
    >>> t.loc[["P(>89.5)", "VaR 90%", "TVaR 90%"], "estimate"].round(9).tolist()
    [0.1, 89.0, 94.5]
    """
    for level in levels:
        if not 0.0 < level < 1.0:
            raise InputError(f"levels must lie in (0, 1), got {level!r}")
    x = path_values(ds, variable)
    log_w = _log_weights(ds)
    rows, tails = _estimate_rows(x, importance_weights(ds), thresholds, levels)
    n = x.size
    table = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)
    table.index.name = "statistic"
    bad = _degenerate_tails(log_w, tails)
    table.attrs.update(paths=n, degenerate=bool(bad), **_tilts_of(ds))
    if bad:
        warnings.warn(
            f"{variable}: importance weights degenerate for {', '.join(bad)} "
            f"(effective paths of all {n} weights: {rows['mean weight'][-1]:.1f}); "
            "lower the tilt or target a less extreme level",
            TailWarning,
            stacklevel=2,
        )
    return table


def _degenerate_tails(log_w: np.ndarray, tails: dict[str, np.ndarray]) -> list[str]:
    """The labels of ``tails`` (label -> paths) whose weights degenerate (TailWarning)."""
    tilted = np.ptp(log_w) > 0
    return [
        label
        for label, mask in tails.items()
        if _degenerate(log_w[mask]) or (tilted and mask.sum() < MIN_TAIL_PATHS)
    ]


def _warn_unhealthy(w_mean: float, w_se: float, ess: float, n: int) -> None:
    """TailWarning when all the weights of a tilt chosen for a level are unhealthy."""
    if not w_se > 0:  # equal weights
        return
    problems = []
    if abs(w_mean - 1.0) > 3 * w_se:
        problems.append(f"mean weight {w_mean:.3f} ± {w_se:.3f}, which must be 1")
    if ess < MIN_ESS_ALL * n:
        problems.append(f"{ess:.0f} effective paths of {n}")
    if problems:
        warnings.warn(
            f"importance weights unhealthy ({'; '.join(problems)}): estimates that "
            "rest on every path (mean, P(>t) at low t) are unreliable; lower the tilt",
            TailWarning,
            stacklevel=3,
        )


def _tilts_of(ds: xr.Dataset) -> dict[str, float]:
    """The run's tilts, from the scenario recorded in the attrs (0 when absent)."""
    run = json.loads(ds.attrs.get("scenario") or "{}").get("run", {})
    return {name: float(run.get(name, 0.0)) for name in TILTS}


def _control_means(controls: Sequence[str] | Mapping[str, float]) -> dict[str, float]:
    """``name -> known mean`` of :func:`control_variate`'s controls."""
    if isinstance(controls, Mapping):
        means = {str(k): float(v) for k, v in controls.items()}
    else:
        unknown = [c for c in controls if c not in KNOWN_MEANS]
        if unknown:
            raise InputError(
                f"controls {unknown} have no known mean (known: {sorted(KNOWN_MEANS)}); "
                "pass a mapping name -> mean"
            )
        means = {c: KNOWN_MEANS[c] for c in controls}
    if not means:
        raise InputError("controls must name at least one variable")
    return means


def _regression(y: np.ndarray, c: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Slopes ``beta`` of ``y`` on the controls ``c`` (known means ``mu``), the adjusted mean
    and its standard error (:func:`control_variate`)."""
    n, k = c.shape
    c_mean = c.mean(axis=0)
    beta = np.linalg.lstsq(c - c_mean, y - y.mean(), rcond=None)[0]
    resid = y - y.mean() - (c - c_mean) @ beta
    cv_se = float(np.sqrt(np.sum(resid * resid) / (n - k - 1) / n))
    return beta, float(y.mean()) - float(np.dot(beta, c_mean - mu)), cv_se


def control_variate(
    ds: xr.Dataset,
    variable: str,
    controls: Sequence[str] | Mapping[str, float] = ("cost_martingale",),
) -> pd.DataFrame:
    """Mean of ``variable`` adjusted by controls with known means (regression estimator).

    With likelihood ratios ``w_i`` (:func:`importance_weights`; 1 without a tilt), by
    least squares on the controls (module docstring).

    Parameters
    ----------
    ds : xarray.Dataset
        A run, tilted or not.
    variable : str
        As for :func:`tail_estimates`, e.g. ``"liability_pv"``, ``"backstop_pv"``,
        ``"period_cost"``.
    controls : sequence of str or mapping of str to float
        Variables with known means: names from :data:`KNOWN_MEANS` (``cost_martingale``,
        whose mean is exactly 0 under the real model, also with membership flows), or a
        mapping ``name -> mean``. Per-period variables are summed over the periods.

    Returns
    -------
    pandas.DataFrame
        One row, indexed by ``variable``: ``mean`` and ``std_error`` (without controls),
        ``cv_mean``, ``cv_std_error``, ``variance_reduction``, ``effective_paths`` (of the
        contributions ``w y``, see :class:`TailWarning`) and ``beta[name]`` for each
        named control.

    Warns
    -----
    TailWarning
        When the contributions ``w y`` of a tilted run rest on too few paths.

    Examples
    --------
    >>> c = np.array([-1.0, 1.0, -1.0, 1.0])
    >>> ds = xr.Dataset({"y": ("path", 10 + 2 * c + [0.1, 0, -0.1, 0]), "c": ("path", c)})
    >>> t = control_variate(ds, "y", {"c": 0.0})
    >>> round(float(t.loc["y", "cv_mean"]), 9), round(float(t.loc["y", "beta[c]"]), 9)
    (10.0, 2.0)
    """
    means = _control_means(controls)
    log_w = _log_weights(ds)
    w = importance_weights(ds)
    x = path_values(ds, variable)
    y = w * x
    c = np.column_stack([w * path_values(ds, name) for name in means])
    mu = np.array(list(means.values()))
    if np.ptp(log_w) > 0:
        c, mu = np.column_stack([c, w]), np.append(mu, 1.0)
    n, k = c.shape
    if n <= k + 1:
        raise InputError(f"need more than {k + 1} paths for {k} control columns, got {n}")
    mean, se = _mean_se(y)
    beta, cv_mean, cv_se = _regression(y, c, mu)
    ess, _ = _effective_paths(y)
    if _degenerate(log_w[x != 0]):
        warnings.warn(
            f"{variable}: importance weights degenerate, the mean rests on {ess:.1f} "
            f"effective paths of {n}; lower the tilt",
            TailWarning,
            stacklevel=2,
        )
    row = {
        "mean": mean,
        "std_error": se,
        "cv_mean": cv_mean,
        "cv_std_error": cv_se,
        "variance_reduction": se**2 / cv_se**2 if cv_se > 0 else (np.inf if se > 0 else np.nan),
        "effective_paths": ess,
        **{f"beta[{name}]": float(b) for name, b in zip(means, beta, strict=False)},
    }
    return pd.DataFrame([row], index=pd.Index([variable], name="variable"))
