"""Regulatory questions: capital requirement, fairness across members, stranded members and
the policy levers, each measured on simulated paths with its Monte Carlo error.

* :func:`capital`: the capital that covers the platform's implicit liability over one year
  (with the run-off of a closure in that year) with probability 99.5%, by component;
  :func:`capital_by_size` that capital per member across plan sizes; :func:`exit_capital`,
  :func:`decompose` (in ``engine.horizon``).
* :func:`fairness`: expected shares paid against expected benefits received, by cohort
  (in ``engine.cohorts``).
* :func:`stranded`: the members still in a plan when it ends and what they lose.
* :func:`compare_levers`: the policy levers against the base run, on common random numbers.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from engine import risk
from engine.cohorts import fairness, with_incidence
from engine.errors import InputError
from engine.horizon import (
    LEVELS,
    RISK_SOURCES,
    SIZES,
    capital,
    capital_by_size,
    decompose,
    exit_capital,
    exit_capital_by_size,
    horizon_liability,
    quantile_interval,
)
from engine.horizon import (
    _capital_table as _capital_table,  # the capital table's tests import it from here
)
from engine.io import scenario_of
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import Scenario
from engine.scenario_inputs import prepare
from engine.sections import TILTS
from engine.simulate import KernelInputs, resolve, simulate

__all__ = [
    "LEVELS",
    "METRICS",
    "RISK_SOURCES",
    "SIZES",
    "capital",
    "capital_by_size",
    "compare_levers",
    "decompose",
    "exit_capital",
    "exit_capital_by_size",
    "fairness",
    "horizon_liability",
    "quantile_interval",
    "stranded",
    "stranded_summary",
    "with_incidence",
]

# --- stranded members ------------------------------------------------------------------------


def _benefit_rate(scenario: Scenario, inputs: KernelInputs) -> np.ndarray:
    """Expected benefit per member and period by risk class, for the starting age mix."""
    pool = inputs.members0.sum(axis=(0, 3)).astype(float)
    if pool.sum() == 0:
        pool = np.ones_like(pool)
    h = np.minimum(inputs.hazard, 1.0) * inputs.benefit[None, :, None] * inputs.approval[0]
    return np.asarray((pool[:, :, None] * h).sum(axis=(0, 1)) / pool.sum())


def stranded(ds: xr.Dataset) -> pd.DataFrame:
    """Per path: the members still in the plan when it ended and what they lose.

    ``lost_benefit`` is the cover they no longer have for the rest of the horizon: members
    x expected benefit per member and period x the discounted periods from the end of the
    plan to the end of the horizon. The expected benefit per member and period is the
    incidence table's for the starting age mix, by risk class, weighted by the impaired
    fraction of the members when closure was announced (a run without per-period arrays
    uses the starting fraction): it follows the adverse selection of a death spiral, not
    the ageing. With ``policy.transfer_at_closure`` they move to an insurer and lose no
    cover. ``members_loss`` is ``stranded_contributions + lost_benefit``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``path``; columns ``closure_period``, ``end_period`` (-1 if the plan
        did not end), ``stranded_members``, ``stranded_contributions``, ``lost_benefit``,
        ``members_loss``.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> ds = simulate(load_scenario("scenarios/denghuo.toml"), paths=20, years=1)
    >>> list(stranded(ds).columns)[:3]
    ['closure_period', 'end_period', 'stranded_members']
    """
    scenario = scenario_of(ds)
    inputs = prepare(scenario)
    periods = ds.sizes["period"]
    closure = np.asarray(ds["closure_period"].values)
    end = np.where(closure >= 0, closure + scenario.termination.notice_periods, periods)
    ended = end < periods
    v = inputs.discount[:periods]  # the kernel's discount factors
    after = np.concatenate([np.cumsum(v[::-1])[::-1], [0.0]])  # after[k]: sum of v from k on
    remaining = np.where(ended, after[np.minimum(end + 1, periods)], 0.0)
    rate = _benefit_rate(scenario, inputs)
    impaired = np.full(closure.size, scenario.population.impaired_share)
    if "impaired" in ds and "path" in ds["impaired"].dims and closure.size:
        at = np.clip(closure, 0, periods - 1)
        rows = np.arange(closure.size)
        members = ds["members"].values[rows, at]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = ds["impaired"].values[rows, at] / members
        impaired = np.where((closure >= 0) & (members > 0), share, impaired)
    per_member = (1 - impaired) * rate[0] + impaired * rate[1]
    count = np.asarray(ds["stranded_members"].values)
    lost = (
        0.0 * remaining if scenario.policy.transfer_at_closure else count * per_member * remaining
    )
    contributions = np.asarray(ds["stranded_contributions"].values)
    table = pd.DataFrame(
        {
            "closure_period": closure,
            "end_period": np.where(ended, end, -1),
            "stranded_members": count,
            "stranded_contributions": contributions,
            "lost_benefit": lost,
            "members_loss": contributions + lost,
        },
        index=pd.Index(ds["path"].values, name="path"),
    )
    if risk.weighted(ds):
        table.attrs["weights"] = risk.weights(ds)
    return table


def stranded_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Across paths: mean (with its standard error), quantiles (:func:`engine.risk.quantile`)
    and P(> 0) of each column of :func:`stranded` except the periods, weighted by the run's
    likelihood ratios when :func:`stranded` recorded them (``attrs["weights"]``).

    Examples
    --------
    >>> t = pd.DataFrame({"stranded_members": [0, 10], "members_loss": [0.0, 5.0]})
    >>> float(stranded_summary(t).loc["members_loss", "P(>0)"])
    0.5
    """
    rows = {}
    w = table.attrs.get("weights")
    for name in table.columns.drop(["closure_period", "end_period"], errors="ignore"):
        x = table[name].to_numpy(dtype=float)
        m = risk.mean(x, w)
        q = [risk.quantile(x, level, w) for level in (0.5, 0.9, 0.99, 0.995)]
        rows[name] = (m.estimate, m.std_error, *q, risk.prob_above(x, 0.0, w).estimate)
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["mean", "std_error", "q50", "q90", "q99", "q99.5", "P(>0)"]
    )


# --- policy levers ---------------------------------------------------------------------------

METRICS = ("p_closure", "years_open", "liability_mean", "liability_var995", "members_loss")
"""What :func:`compare_levers` reports: P(closure announced within the horizon), the mean
years until closure is announced (the horizon for paths that stay open), the mean and
VaR 99.5% of the discounted liability, the members' mean loss (stranded contributions and
lost benefits)."""


def _var(x: np.ndarray, level: float = 0.995) -> np.ndarray:
    """VaR at ``level`` (:func:`engine.risk.var`) of each row of ``x`` (last axis: paths)."""
    rows = np.asarray(x, dtype=float).reshape(-1, np.shape(x)[-1])
    out = np.array([risk.var(row, level).estimate for row in rows])
    return out.reshape(np.shape(x)[:-1])


def _lever_paths(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Per-path values of the metrics (the VaR's per-path value is the liability)."""
    liability = np.asarray(ds["liability_pv"].values, dtype=float)
    closure = np.asarray(ds["closure_period"].values)
    open_periods = np.where(closure >= 0, closure + 1, ds.sizes["period"])
    return {
        "p_closure": (closure >= 0).astype(float),
        "years_open": open_periods / PERIODS_PER_YEAR,
        "liability_mean": liability,
        "liability_var995": liability,
        "members_loss": stranded(ds)["members_loss"].to_numpy(),
    }


def _estimate(
    metric: str, x: np.ndarray, base: np.ndarray, rng: np.random.Generator, boot: int
) -> tuple[float, float, float, float]:
    """(value, its standard error, difference from the base, its paired standard error)."""
    n = x.size
    if metric != "liability_var995":
        m, d = risk.mean(x), risk.mean(x - base)
        return m.estimate, m.std_error, d.estimate, d.std_error
    var = risk.var(x, 0.995)
    rows = rng.integers(0, n, size=(boot, n))
    diffs = _var(x[rows]) - _var(base[rows])
    diff = float(_var(x) - _var(base))
    return var.estimate, var.std_error, diff, float(diffs.std(ddof=1))


def compare_levers(
    scenario: Scenario,
    levers: Mapping[str, Mapping[str, Any]],
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    years: float | None = None,
    boot: int = 200,
) -> pd.DataFrame:
    """Each policy lever against the base run, on the same random numbers.

    Every setting runs with the base's seed and paths, so path p of a lever and path p of
    the base share their random stream (common random numbers) and the difference of a
    metric is estimated from paired paths: its standard error is that of the per-path
    differences (a paired bootstrap of ``boot`` resamples for the VaR).

    Parameters
    ----------
    scenario : Scenario
        The base.
    levers : mapping
        Name -> section updates for :meth:`Scenario.replace`, e.g.
        ``{"reserve": {"policy": {"reserve": 1e9, "reserve_trigger": 3.0}}}``.
    paths, seed, years
        As in :func:`engine.simulate.simulate`.
    boot : int
        Bootstrap resamples for the VaR difference.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(lever, metric)`` (``base`` first; metrics :data:`METRICS`); columns
        ``value``, ``value_se``, ``diff`` (lever - base) and ``diff_se``.

    Raises
    ------
    ValueError
        A lever named ``base``, or updates that fail validation (every problem at once).

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> s = load_scenario("scenarios/denghuo.toml")
    >>> t = compare_levers(s, {"cap": {"policy": {"max_share": 1.0}}}, paths=20, years=1)
    >>> float(t.loc[("base", "p_closure"), "diff"])
    0.0
    """
    base = resolve(scenario, paths, seed, years)
    if base.run.tilted:
        tilts = ", ".join(f"run.{t}" for t in TILTS)
        raise InputError(f"compare_levers needs an untilted run: set {tilts} to 0")
    problems = ["lever 'base': the name is reserved for the base run"] if "base" in levers else []
    runs = {"base": base}
    for name, updates in levers.items():
        try:
            runs[name] = base.replace(**updates)
        except ValueError as exc:
            problems.append(f"lever {name!r}: {exc}")
    if problems:
        raise InputError("; ".join(problems))
    values = {name: _lever_paths(simulate(s)) for name, s in runs.items()}
    rows = {}
    for name in runs:
        rng = np.random.default_rng(int(base.run.seed or 0))
        for metric in METRICS:
            x, b = values[name][metric], values["base"][metric]
            rows[(name, metric)] = _estimate(metric, x, b, rng, boot)
    index = pd.MultiIndex.from_tuples(list(rows), names=["lever", "metric"])
    table = pd.DataFrame(
        list(rows.values()), index=index, columns=["value", "value_se", "diff", "diff_se"]
    )
    table.attrs.update(paths=base.run.paths, seed=str(base.run.seed), years=base.run.years)
    return table
