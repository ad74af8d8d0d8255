"""The platform's capital over a horizon, measured on simulated paths with its Monte Carlo
error.

* :func:`horizon_liability`: per path, the discounted liability of a horizon's periods plus
  the run-off of a closure announced within them.
* :func:`capital`: the capital that covers that liability with probability 99.5%, by
  component; :func:`capital_by_size` the same per member across plan sizes (a sweep).
* :func:`exit_capital`: the capital for an orderly exit (the largest exit cost of the
  horizon); :func:`exit_capital_by_size` across plan sizes.
* :func:`decompose`: the liability's variance and VaR split by risk source.
"""

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from engine import risk
from engine.errors import InputError
from engine.io import scenario_of
from engine.plans import PERIODS_PER_YEAR
from engine.results import COMPONENTS, summary, tail_components
from engine.scenario import Scenario, scenario_from_dict
from engine.scenario_inputs import prepare
from engine.sections import TILTS
from engine.simulate import resolve, simulate
from engine.sweep import sweep

__all__ = [
    "LEVELS",
    "RISK_SOURCES",
    "SIZES",
    "capital",
    "capital_by_size",
    "decompose",
    "exit_capital",
    "exit_capital_by_size",
    "horizon_liability",
    "quantile_interval",
]

LEVELS = (0.99, 0.995)
"""Levels of VaR and TVaR that :func:`capital` reports."""

SIZES = tuple(int(round(x, -3)) for x in np.geomspace(1e5, 1e8, 8))
"""Plan sizes of :func:`capital_by_size`: 100,000 to 100 million members, log-spaced."""

BATCH = 16_384
"""Paths simulated at a time by :func:`capital` (memory stays flat in the paths)."""


def horizon_liability(ds: xr.Dataset, periods: int) -> xr.Dataset:
    """Per-path discounted liability and components over the first ``periods`` periods,
    plus the run-off of the paths whose closure is announced within them.

    A path that announces closure in period ``c < periods`` keeps its flows up to the end
    of the notice (its run-off); other paths keep periods ``0 .. periods - 1`` only. The
    run must cover ``periods`` plus the notice period (see :func:`capital`). Flows are
    discounted by the kernel's own factors (``prepare(scenario).discount``).

    Returns
    -------
    xarray.Dataset
        ``liability_pv`` and ``backstop_pv``, ``shortfall_pv`` (net of recoveries),
        ``runoff_pv``, ``reserve_pv`` (they add up to ``liability_pv``) and
        ``closure_period`` (``-1`` unless announced within ``periods``), dim ``path``.
    """
    if ds.attrs.get("mode") != "full":
        raise InputError("horizon_liability needs a run in mode 'full' (path x period arrays)")
    n_periods = ds.sizes["period"]
    if not 1 <= periods <= n_periods:
        raise InputError(f"periods must be in 1..{n_periods}, got {periods}")
    closure = np.asarray(ds["closure_period"].values)
    t = np.arange(n_periods)
    early = (closure >= 0) & (closure < periods)
    keep = (t[None, :] < periods) | early[:, None]
    weight = keep * prepare(scenario_of(ds)).discount[None, :n_periods]

    def pv(x: np.ndarray) -> np.ndarray:
        return np.asarray((np.asarray(x, dtype=float) * weight).sum(axis=1))

    flows = {
        "liability_pv": pv(ds["liability"].values),
        "backstop_pv": pv(ds["backstop"].values),
        "shortfall_pv": pv(ds["shortfall"].values - ds["recovered"].values),
        "runoff_pv": pv(ds["runoff"].values),
        "reserve_pv": pv(ds["reserve_draw"].values),
    }
    data = {name: xr.Variable("path", values, ds[name].attrs) for name, values in flows.items()}
    data["closure_period"] = xr.Variable(
        "path", np.where(early, closure, -1), ds["closure_period"].attrs
    )
    if "log_weight" in ds:
        data["log_weight"] = ds["log_weight"].variable
    return xr.Dataset(data, coords={"path": ds["path"].values}, attrs=dict(ds.attrs))


def _horizon_run(scenario: Scenario, horizon_years: float) -> tuple[Scenario, int]:
    """The scenario over the horizon plus the notice period, and the horizon in periods."""
    periods = round(horizon_years * PERIODS_PER_YEAR)
    if periods < 1:
        raise InputError(f"horizon_years must cover at least one period, got {horizon_years}")
    if scenario.run.tilted:
        tilts = ", ".join(f"run.{t}" for t in TILTS)
        raise InputError(f"capital needs an untilted run: set {tilts} to 0")
    years = (periods + scenario.termination.notice_periods) / PERIODS_PER_YEAR
    return scenario.replace(run={"years": years}), periods


def _per_path_runs(scenario: Scenario, horizon_years: float) -> tuple[xr.Dataset, np.ndarray]:
    """Per path: the horizon's liability (:func:`horizon_liability`) and the largest exit
    cost of the horizon's periods, over the scenario's paths in batches of ``BATCH``."""
    run, periods = _horizon_run(scenario, horizon_years)
    parts, exits = [], []
    for first in range(0, run.run.paths, BATCH):
        ds = simulate(run, paths=min(BATCH, run.run.paths - first), first_path=first)
        parts.append(horizon_liability(ds, periods))
        exits.append(ds["exit_cost"].values[:, :periods].max(axis=1))
    per_path = xr.concat(parts, dim="path") if len(parts) > 1 else parts[0]
    return per_path, np.concatenate(exits)


def _capital_table(
    per_path: xr.Dataset, members: int, levels: Sequence[float], horizon_years: float
) -> pd.DataFrame:
    """Mean, VaR and TVaR of ``liability_pv`` with their errors, per member, by component."""
    measures = summary(per_path, ("liability_pv",), tuple(levels)).loc["liability_pv"]
    rows = {}
    w = risk.weights(per_path)
    means = {name: risk.mean(per_path[name].values, w).estimate for name in COMPONENTS}
    rows["mean"] = (*measures.loc["mean"], *means.values())
    for level in levels:
        tails = tail_components(per_path, level)
        label = f"{100 * level:g}%"
        for kind in ("VaR", "TVaR"):
            stat = f"{kind} {label}"
            rows[stat] = (*measures.loc[stat], *tails.loc[list(COMPONENTS), stat])
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["estimate", "std_error", "ci_low", "ci_high", *COMPONENTS]
    )
    table.index.name = "statistic"
    scale = 1.0 / members if members else np.nan
    table["per_member"] = table["estimate"] * scale
    table["per_member_low"] = table["ci_low"] * scale
    table["per_member_high"] = table["ci_high"] * scale
    closure = np.asarray(per_path["closure_period"].values)
    table.attrs.update(
        members=members,
        paths=int(per_path.sizes["path"]),
        seed=per_path.attrs.get("seed", ""),
        horizon_years=horizon_years,
        p_closure=risk.prob_above(closure >= 0, 0.0, w).estimate,
    )
    return table


def capital(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    horizon_years: float = 1.0,
    levels: Sequence[float] = LEVELS,
) -> pd.DataFrame:
    """The capital a platform needs for its implicit liability over a horizon.

    The liability is the discounted total of cap backstops, failed deductions (net of
    recoveries), reserve draws and, for a plan that announces closure within the horizon,
    the run-off to the end of its notice period: the run covers the horizon plus the
    notice period and :func:`horizon_liability` keeps what belongs to the horizon. The
    capital requirement is VaR 99.5% (the liability exceeds it with probability 0.5%);
    TVaR is reported beside it.

    Parameters
    ----------
    scenario : Scenario
        The plan; ``paths`` and ``seed`` default to its ``[run]`` values.
    paths, seed
        As in :func:`engine.simulate.simulate`. Paths run in batches of ``BATCH``.
    horizon_years : float
        The horizon, one year by default (rounded to whole periods).
    levels : sequence of float
        VaR and TVaR levels.

    Returns
    -------
    pandas.DataFrame
        Rows ``mean``, ``VaR 99%``, ``TVaR 99%``, ``VaR 99.5%``, ``TVaR 99.5%``; columns
        ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (95%: normal for the mean and
        TVaR, which uses the delta method, the inverted distribution function for VaR; see
        :func:`engine.results.summary`), the components at the tail (conditional means,
        :func:`engine.results.tail_components`; means on the ``mean`` row) and
        ``per_member``, ``per_member_low``, ``per_member_high`` (divided by the starting
        members). Attrs: ``members``, ``paths``, ``seed``, ``horizon_years``,
        ``p_closure`` (closure announced within the horizon).

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> table = capital(load_scenario("scenarios/xianghubao.toml"), paths=50)
    >>> bool(table.loc["TVaR 99.5%", "estimate"] >= table.loc["VaR 99.5%", "estimate"])
    True
    """
    per_path, _ = _per_path_runs(resolve(scenario, paths, seed), horizon_years)
    return _capital_table(per_path, scenario.population.members, levels, horizon_years)


def _horizon_reduce(ds: xr.Dataset, periods: int) -> xr.Dataset:
    """A sweep's reduction: the per-path liability over the horizon (drops the attrs)."""
    out = horizon_liability(ds, periods)
    out.attrs = {}
    return out


def _size_row(table: pd.DataFrame, label: str) -> dict[str, float]:
    """One row of :func:`capital_by_size` from a size's :func:`capital` table."""
    var, tvar = table.loc[f"VaR {label}"], table.loc[f"TVaR {label}"]
    return {
        "capital": var["estimate"],
        "ci_low": var["ci_low"],
        "ci_high": var["ci_high"],
        "per_member": var["per_member"],
        "per_member_low": var["per_member_low"],
        "per_member_high": var["per_member_high"],
        "tvar": tvar["estimate"],
        "tvar_per_member": tvar["per_member"],
        "mean_per_member": table.loc["mean", "per_member"],
        "p_closure": table.attrs["p_closure"],
    }


def capital_by_size(
    preset: str | Scenario,
    sizes: Sequence[int] = SIZES,
    *,
    paths: int = 1000,
    seed: int | np.random.SeedSequence | None = None,
    horizon_years: float = 1.0,
    level: float = 0.995,
) -> pd.DataFrame:
    """Required capital (VaR at ``level`` over the horizon) per member across plan sizes.

    One sweep over ``population.members`` with common random numbers. A preset name runs
    the preset with the default assumptions; a scenario runs with its assumptions and the
    size replaced. Sizes below the plan's minimum close at once: their capital is the
    run-off of the cases already in the pipeline.

    Parameters
    ----------
    preset : str or Scenario
        A preset name (see ``huzhu plans``) or a scenario.
    sizes : sequence of int
        Starting members; default :data:`SIZES`.
    paths, seed
        Paths per size and the seed of every size.
    horizon_years, level
        As in :func:`capital`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``members``; columns ``capital``, ``ci_low``, ``ci_high`` (yuan),
        ``per_member``, ``per_member_low``, ``per_member_high`` (yuan per member),
        ``tvar`` and ``tvar_per_member``, ``mean_per_member``, ``p_closure``.

    Examples
    --------
    >>> curve = capital_by_size("kangai", sizes=[100_000, 1_000_000], paths=50)
    >>> list(curve.index)
    [100000, 1000000]
    """
    if isinstance(preset, str):
        preset = scenario_from_dict(
            {"plan": {"preset": preset}, "population": {"members": int(sizes[0])}}
        )
    run, periods = _horizon_run(resolve(preset, paths, seed), horizon_years)
    sizes = [int(x) for x in sizes]
    swept = sweep(
        run,
        {"population.members": sizes},
        paths=run.run.paths,
        seed=run.run.seed,
        reduce=functools.partial(_horizon_reduce, periods=periods),
    )
    label = f"{100 * level:g}%"
    tables = {s: _capital_table(swept.sel(members=s), s, (level,), horizon_years) for s in sizes}
    rows = {size: _size_row(table, label) for size, table in tables.items()}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "members"
    out.attrs.update(preset=run.preset, level=level, paths=run.run.paths, seed=str(run.run.seed))
    return out


def quantile_interval(x: np.ndarray, level: float, coverage: float = 0.95) -> tuple[float, ...]:
    """The ``level`` quantile of ``x`` and its distribution-free interval: order statistics
    ``x_(l) <= Q <= x_(u)`` with ``l, u`` the binomial(n, level) quantiles of
    ``(1 -+ coverage) / 2`` (a rank past the sample gives an infinite bound).

    >>> quantile_interval(np.arange(1.0, 1001.0), 0.5)
    (500.0, 469.0, 532.0)
    """
    from scipy import stats

    s = np.sort(np.asarray(x, dtype=np.float64))
    n = s.size
    lo, hi = stats.binom.ppf([(1 - coverage) / 2, (1 + coverage) / 2], n, level)
    low = float(s[int(lo) - 1]) if lo >= 1 else -np.inf
    high = float(s[int(hi)]) if hi < n else np.inf
    return risk.var(s, level).estimate, low, high


def exit_capital(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    horizon_years: float = 1.0,
    level: float = 0.995,
) -> pd.Series:
    """The capital for an orderly exit (准出): the ``level`` quantile over paths of the
    largest ``exit_cost`` (the expected cost of a closure announced in that period under
    the scenario's wind-down rules) within the horizon, with its 95% order-statistic
    interval (:func:`quantile_interval`), in total and per starting member.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> exit_capital(load_scenario("scenarios/xianghubao.toml"), paths=200)  # doctest: +SKIP
    """
    _, largest = _per_path_runs(resolve(scenario, paths, seed), horizon_years)
    est, low, high = quantile_interval(largest, level)
    members = scenario.population.members
    scale = 1.0 / members if members else np.nan
    return pd.Series(
        {
            "estimate": est,
            "ci_low": low,
            "ci_high": high,
            "per_member": est * scale,
            "per_member_low": low * scale,
            "per_member_high": high * scale,
            "mean_largest": float(largest.mean()),
            "level": level,
            "paths": largest.size,
        }
    )


def exit_capital_by_size(
    scenario: Scenario,
    sizes: Sequence[int] = SIZES,
    *,
    paths: int = 1000,
    seed: int | np.random.SeedSequence | None = None,
    horizon_years: float = 1.0,
    level: float = 0.995,
) -> pd.DataFrame:
    """:func:`exit_capital` across plan sizes on the same seed (common random numbers),
    indexed by ``members``. Closure below the plan's minimum is left to the hazard and the
    date (``termination.min_members`` = 0) so that every size stays open to be measured.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> s = load_scenario("scenarios/kangai.toml")
    >>> list(exit_capital_by_size(s, [100_000, 200_000], paths=20, seed=1).index)
    [100000, 200000]
    """
    rows = {
        int(size): exit_capital(
            scenario.replace(population={"members": int(size)}, termination={"min_members": 0}),
            paths=paths,
            seed=seed,
            horizon_years=horizon_years,
            level=level,
        )
        for size in sizes
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "members"
    return out


RISK_SOURCES = {
    "parameter": {"incidence": {"multiplier_sd_log": 0.0, "trend_sd": 0.0}},
    "shock": {"incidence": {"period_dispersion": 0.0, "shock_per_year": 0.0}},
    "closure": {"termination": {"hazard_per_year": 0.0}},
}
"""The settings that switch each risk source off (process risk, Poisson, always stays)."""


def decompose(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    horizon_years: float = 1.0,
    level: float = 0.995,
) -> pd.DataFrame:
    """The liability's variance and VaR split into process (Poisson), parameter, shock and
    closure risk: the sources are added in that order on common random numbers (every run
    shares the seed, each source its own sub-streams), and each part is the change it makes.
    The variance parts add up to the full model's variance; a source that is off in the
    scenario adds exactly nothing.

    Returns
    -------
    pandas.DataFrame
        Rows ``process``, ``parameter``, ``shock``, ``closure`` (cumulative: the row's model
        has its source and those above); columns ``mean``, ``sd``, ``VaR``, ``TVaR`` of the
        horizon's ``liability_pv`` and ``variance_part``, ``VaR_part``. ``attrs["samples"]``
        holds the per-path liabilities of each row (for the exceedance curve).
    """
    base = resolve(scenario, paths, seed)
    rows, samples, prev_var, prev_var_q = {}, {}, 0.0, 0.0
    names = list(RISK_SOURCES)
    for i, name in enumerate(["process", *names]):
        variant = base
        for off in names[i:]:
            variant = variant.replace(**RISK_SOURCES[off])
        per_path, _ = _per_path_runs(variant, horizon_years)
        x = np.asarray(per_path["liability_pv"].values, dtype=np.float64)
        var_q = risk.var(x, level).estimate
        variance = float(x.var(ddof=1))
        rows[name] = {
            "mean": float(x.mean()),
            "sd": variance**0.5,
            "VaR": var_q,
            "TVaR": risk.tvar(x, level).estimate,
            "variance_part": variance - prev_var,
            "VaR_part": var_q - prev_var_q,
        }
        samples[name] = x
        prev_var, prev_var_q = variance, var_q
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "source added"
    table.attrs.update(samples=samples, level=level, paths=base.run.paths)
    return table
