"""Labelled results: the Dataset of a run, its risk measures with Monte Carlo errors, export."""

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from engine import risk
from engine.plans import PERIODS_PER_YEAR
from engine.streaming import PERIOD_VARS as STREAM_VARS
from engine.streaming import QUANTILE_VARS, Summary
from engine.variables import (
    COUNT,
    COUNT_VARS,
    MONEY_VARS,
    PATH_INT_VARS,
    PERIOD_VARS,
    TABLE,
    TOTAL_VARS,
)
from engine.variables import (
    VARIABLES as TABLE_BY_NAME,
)

if TYPE_CHECKING:
    from engine.scenario import Scenario

VARIABLES: dict[str, tuple[str, str]] = {v.name: (v.units, v.description) for v in TABLE}
"""Every output variable: (units, description), from the table of engine.variables."""

LEVELS = (0.9, 0.99, 0.995)
"""Default VaR/TVaR levels of ``summary``."""


def engine_version() -> str:
    """The engine's version (``engine.__version__``), recorded in every result."""
    from engine import __version__

    return __version__


def _variable(name: str, dims: tuple[str, ...], values: np.ndarray) -> xr.Variable:
    units, description = VARIABLES[name]
    return xr.Variable(
        dims, values, {"units": units, "description": description, "long_name": description}
    )


def _path_data(totals: np.ndarray, path_ints: np.ndarray) -> dict[str, xr.Variable]:
    data = {name: _variable(name, ("path",), totals[:, i]) for i, name in enumerate(TOTAL_VARS)}
    for i, name in enumerate(PATH_INT_VARS):
        data[name] = _variable(name, ("path",), path_ints[:, i])
    return data


def _labelled(
    scenario: "Scenario",
    data: dict[str, xr.Variable],
    dates: pd.DatetimeIndex,
    paths: int,
    first_path: int,
    mode: str,
    coords: dict[str, tuple[str, np.ndarray, dict[str, str]]] | None = None,
) -> xr.Dataset:
    all_coords = {
        "path": ("path", np.arange(first_path, first_path + paths), {"long_name": "path"}),
        "period": ("period", dates.to_numpy(), {"long_name": "start of the semi-monthly period"}),
        **(coords or {}),
    }
    attrs = {
        "title": f"huzhu simulation: {scenario.name}",
        "scenario": scenario.model_dump_json(),
        "seed": str(scenario.run.seed),
        **({"spawn_key": str(list(scenario.run.spawn_key))} if scenario.run.spawn_key else {}),
        "first_path": first_path,
        "chunk_size": scenario.run.chunk_size,
        "mode": mode,
        "random_contract": "path p draws from a stream seeded by (seed, p) only",
        "discount_rate": scenario.discount_rate,
        "engine": "huzhu",
        "engine_version": engine_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return xr.Dataset(data, coords=all_coords, attrs=attrs)


def build_dataset(
    scenario: "Scenario",
    dates: pd.DatetimeIndex,
    counts: np.ndarray,
    money: np.ndarray,
    totals: np.ndarray,
    path_ints: np.ndarray,
    *,
    first_path: int = 0,
) -> xr.Dataset:
    """Label the kernel's outputs: dims ``path`` and ``period`` (dates), attrs for provenance."""
    data = _path_data(totals, path_ints)
    for name in PERIOD_VARS:
        var = TABLE_BY_NAME[name]
        source = var.same_as or name
        if var.kind == COUNT:
            values = counts[:, :, COUNT_VARS.index(source)]
        else:
            values = money[:, :, MONEY_VARS.index(source)]
        data[name] = _variable(name, var.dims, values.copy() if var.same_as else values)
    return _labelled(scenario, data, dates, counts.shape[0], first_path, "full")


def build_stream_dataset(
    scenario: "Scenario",
    dates: pd.DatetimeIndex,
    stats: Summary,
    quantiles: np.ndarray,
    levels: tuple[float, ...],
    totals: np.ndarray,
    path_ints: np.ndarray,
    *,
    first_path: int = 0,
) -> xr.Dataset:
    """Label a streaming run: per-period variables get dims ``statistic`` (mean, std and the
    quantile levels; NaN where a variable's quantiles are not tracked) and ``period``."""
    names = ["mean", "std", *(f"q{100 * q:g}" for q in levels)]
    data = _path_data(totals, path_ints)
    std = np.sqrt(stats.m2 / max(stats.n - 1, 1))
    for name in PERIOD_VARS:
        source = TABLE_BY_NAME[name].same_as or name
        i = STREAM_VARS.index(source)
        rows = np.full((len(names), len(dates)), np.nan)
        rows[0], rows[1] = stats.mean[:, i], std[:, i]
        if source in QUANTILE_VARS:
            rows[2:] = quantiles[:, :, QUANTILE_VARS.index(source)]
        data[name] = _variable(name, ("statistic", "period"), rows)
    coords = {"statistic": ("statistic", np.array(names), {"long_name": "statistic over paths"})}
    return _labelled(scenario, data, dates, totals.shape[0], first_path, "streaming", coords)


HEADLINE = ("liability_pv", "backstop_pv", "shortfall_pv", "runoff_pv", "share_total")
"""The per-path totals a run's summary and report show first."""


def summary(
    ds: xr.Dataset,
    variables: tuple[str, ...] = HEADLINE,
    levels: tuple[float, ...] = LEVELS,
) -> pd.DataFrame:
    """Risk measures of per-path totals with Monte Carlo errors (:mod:`engine.risk`).

    Parameters
    ----------
    ds : xarray.Dataset
        A run's result (:func:`engine.simulate.simulate`, or a file from ``open_result``).
    variables : tuple of str, optional
        Per-path totals to summarise (names from ``engine.variables``).
    levels : tuple of float, optional
        Levels of VaR and TVaR, each in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Rows (variable, statistic): mean, std, P(>0), VaR and TVaR at each level; columns
        ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (95%; normal for means, standard
        deviations, probabilities and TVaR, the inverted distribution function for VaR). An
        importance-sampled run is weighted by its likelihood ratios ``exp(log_weight)``.

    Examples
    --------
    >>> table = summary(ds)
    >>> bool(table.loc[("liability_pv", "TVaR 99.5%"), "estimate"]
    ...      >= table.loc[("liability_pv", "VaR 99.5%"), "estimate"])
    True
    """
    w = risk.weights(ds)
    rows: dict[tuple[str, str], tuple[float, float, float, float]] = {}
    for name in variables:
        x = np.asarray(ds[name].values, dtype=float)
        rows[(name, "mean")] = risk.mean(x, w).row()
        rows[(name, "std")] = risk.std(x, w).row()
        rows[(name, "P(>0)")] = risk.prob_above(x, 0.0, w).row()
        for level in levels:
            label = f"{100 * level:g}%"
            rows[(name, f"VaR {label}")] = risk.var(x, level, w).row()
            rows[(name, f"TVaR {label}")] = risk.tvar(x, level, w).row()
    index = pd.MultiIndex.from_tuples(list(rows), names=["variable", "statistic"])
    return pd.DataFrame(
        list(rows.values()), index=index, columns=["estimate", "std_error", "ci_low", "ci_high"]
    )


COMPONENTS = ("backstop_pv", "shortfall_pv", "runoff_pv", "reserve_pv")
"""The liability's components; they add up to ``liability_pv``."""


def closure_summary(ds: xr.Dataset) -> pd.DataFrame:
    """P(closure announced by the end of each year), with its standard error, and the
    distribution of the time to closure (quantiles over the paths that close).

    Parameters
    ----------
    ds : xarray.Dataset
        A run's result, with ``closure_period`` per path (-1: never announced).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``year`` from 1: ``probability`` and ``std_error``. Year ``y`` covers
        periods ``n (y - 1) .. n y - 1`` (``n = PERIODS_PER_YEAR``): a closure announced in
        period ``n y`` counts from year ``y + 1`` on. Paths are weighted by
        ``exp(log_weight)``. ``attrs`` holds ``closed_paths`` and
        ``closure_period_quantiles`` (10%, 50%, 90% of the announcement period over the
        paths that close; NaN if none does).

    Examples
    --------
    >>> float(closure_summary(ds).loc[1, "probability"])
    0.0
    """
    closure = np.asarray(ds["closure_period"].values)
    w = risk.weights(ds)
    years = int(np.ceil(ds.sizes["period"] / PERIODS_PER_YEAR))
    rows = {}
    for year in range(1, years + 1):
        closed_by = (closure >= 0) & (closure < PERIODS_PER_YEAR * year)
        p = risk.prob_above(closed_by.astype(float), 0.0, w)
        rows[year] = (p.estimate, p.std_error)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["probability", "std_error"])
    table.index.name = "year"
    closing = closure >= 0
    levels = (0.1, 0.5, 0.9)
    if closing.any() and w[closing].sum() > 0:
        quantiles = [risk.quantile(closure[closing], q, w[closing]) for q in levels]
    else:
        quantiles = [np.nan] * 3
    table.attrs["closed_paths"] = int(closing.sum())
    table.attrs["closure_period_quantiles"] = dict(
        zip(("10%", "50%", "90%"), quantiles, strict=True)
    )
    return table


def tail_components(ds: xr.Dataset, level: float = 0.995) -> pd.DataFrame:
    """The liability's components at VaR and TVaR of ``liability_pv`` (weighted paths).

    Parameters
    ----------
    ds : xarray.Dataset
        A run's result.
    level : float, optional
        The level of VaR and TVaR, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per component and one for ``liability_pv``; columns ``VaR l`` and
        ``TVaR l``. TVaR column: the Acerbi-Tasche allocation, ``E[C 1{X > VaR}] + E[C | X =
        VaR] (1 - l - P(X > VaR))`` over ``1 - l``; the components add up to TVaR. VaR
        column: the mix of the paths within ``max(1, n/1000)`` ranks of VaR, scaled to add
        up to VaR. The ``liability_pv`` row is VaR and TVaR exactly as in :func:`summary`.

    Examples
    --------
    >>> table = tail_components(ds)
    >>> parts = table.drop(index="liability_pv")
    >>> bool(abs(parts["TVaR 99.5%"].sum() - table.loc["liability_pv", "TVaR 99.5%"]) < 1e-6
    ...      * max(1.0, table.loc["liability_pv", "TVaR 99.5%"]))
    True
    """
    total = np.asarray(ds["liability_pv"].values, dtype=float)
    w = risk.weights(ds)
    n = total.size
    var = risk.var(total, level, w).estimate
    order = np.argsort(total, kind="stable")
    k = int(np.searchsorted(total[order], var, side="left"))
    width = max(1, n // 1000)
    near = order[max(k - width, 0) : k + width + 1]
    above, at = total > var, total == var
    atom = (1 - level) - float(np.sum(w * above)) / n
    rows = {}
    for name in (*COMPONENTS, "liability_pv"):
        c = np.asarray(ds[name].values, dtype=float)
        mix = _ratio(np.sum(w[near] * c[near]), np.sum(w[near] * total[near]))
        at_var = _ratio(np.sum(w[at] * c[at]), np.sum(w[at])) if at.any() else mix * var
        tvar = (float(np.sum(w * c * above)) / n + at_var * atom) / (1 - level)
        rows[name] = (mix * var, tvar)
    label = f"{100 * level:g}%"
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"VaR {label}", f"TVaR {label}"])


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else 0.0
