"""Regulatory questions: capital requirement, fairness across members, stranded members and
the policy levers, each measured on simulated paths with its Monte Carlo error.

* :func:`capital`: the capital that covers the platform's implicit liability over one year
  (with the run-off of a closure in that year) with probability 99.5%, by component.
* :func:`capital_by_size`: that capital per member across plan sizes (a sweep).
* :func:`fairness`: expected shares paid against expected benefits received, by cohort.
* :func:`stranded`: the members still in a plan when it ends and what they lose.
* :func:`compare_levers`: the policy levers against the base run, on common random numbers.
"""

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from engine import kernel, risk
from engine.errors import InputError
from engine.expected import hazard as annual_to_hazard
from engine.io import scenario_of
from engine.plans import PERIODS_PER_YEAR
from engine.results import COMPONENTS, summary, tail_components
from engine.scenario import Scenario, scenario_from_dict
from engine.simulate import (
    CLASSES,
    KernelInputs,
    assemble,
    chunks,
    prepare,
    reference_share,
    resolve,
    run_key,
    simulate,
)
from engine.sweep import sweep

__all__ = [
    "LEVELS",
    "SIZES",
    "capital",
    "capital_by_size",
    "compare_levers",
    "fairness",
    "horizon_liability",
    "simulate_inputs",
    "stranded",
    "stranded_summary",
    "with_incidence",
]

LEVELS = (0.99, 0.995)
"""Levels of VaR and TVaR that :func:`capital` reports."""

SIZES = tuple(int(round(x, -3)) for x in np.geomspace(1e5, 1e8, 8))
"""Plan sizes of :func:`capital_by_size`: 100,000 to 100 million members, log-spaced."""

BATCH = 16_384
"""Paths simulated at a time by :func:`capital` (memory stays flat in the paths)."""

SEXES = ("M", "F")


# --- capital ---------------------------------------------------------------------------------


def _discount(rate: float, periods: int) -> np.ndarray:
    """The kernel's discount factors: period t's flows at ``(1 + rate) ** -((t + 1) / 24)``."""
    return (1.0 + rate) ** (-(np.arange(periods) + 1) / PERIODS_PER_YEAR)


def horizon_liability(ds: xr.Dataset, periods: int) -> xr.Dataset:
    """Per-path discounted liability and components over the first ``periods`` periods,
    plus the run-off of the paths whose closure is announced within them.

    A path that announces closure in period ``c < periods`` keeps its flows up to the end
    of the notice (its run-off); other paths keep periods ``0 .. periods - 1`` only. The
    run must cover ``periods`` plus the notice period (see :func:`capital`).

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
    weight = keep * _discount(float(ds.attrs["discount_rate"]), n_periods)[None, :]

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
    if scenario.run.tilt != 0:
        raise InputError("capital needs an untilted run: set run.tilt to 0")
    years = (periods + scenario.termination.notice_periods) / PERIODS_PER_YEAR
    return scenario.replace(run={"years": years}), periods


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
    run, periods = _horizon_run(resolve(scenario, paths, seed), horizon_years)
    parts = []
    for first in range(0, run.run.paths, BATCH):
        n = min(BATCH, run.run.paths - first)
        ds = simulate(run, paths=n, first_path=first)
        parts.append(horizon_liability(ds, periods))
    per_path = xr.concat(parts, dim="path") if len(parts) > 1 else parts[0]
    return _capital_table(per_path, run.population.members, levels, horizon_years)


def _horizon_reduce(ds: xr.Dataset, periods: int) -> xr.Dataset:
    """A sweep's reduction: the per-path liability over the horizon (drops the attrs)."""
    out = horizon_liability(ds, periods)
    out.attrs = {}
    return out


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
    rows = {}
    for size in sizes:
        table = _capital_table(swept.sel(members=size), size, (level,), horizon_years)
        var, tvar = table.loc[f"VaR {label}"], table.loc[f"TVaR {label}"]
        rows[size] = (
            var["estimate"],
            var["ci_low"],
            var["ci_high"],
            var["per_member"],
            var["per_member_low"],
            var["per_member_high"],
            tvar["estimate"],
            tvar["per_member"],
            table.loc["mean", "per_member"],
            table.attrs["p_closure"],
        )
    columns = [
        "capital",
        "ci_low",
        "ci_high",
        "per_member",
        "per_member_low",
        "per_member_high",
        "tvar",
        "tvar_per_member",
        "mean_per_member",
        "p_closure",
    ]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    out.index.name = "members"
    out.attrs.update(preset=run.preset, level=level, paths=run.run.paths, seed=str(run.run.seed))
    return out


# --- fairness --------------------------------------------------------------------------------


def with_incidence(scenario: Scenario, annual: float | np.ndarray) -> KernelInputs:
    """The scenario's kernel inputs with the incidence table replaced.

    ``annual`` is the annual incidence after the calibration multiplier, a number or an
    array by age (0..105) or by ``[sex, age]``; the impaired class's multiplier still
    applies. The exits' reference share follows the new hazard unless the scenario sets it.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> inputs = with_incidence(load_scenario("scenarios/xianghubao.toml"), 0.001)
    >>> bool((inputs.hazard[:, :, 0] == inputs.hazard[0, 0, 0]).all())
    True
    """
    q = np.asarray(annual, dtype=float)
    if q.ndim > 2 or not np.all(np.isfinite(q)) or np.any(q < 0):
        raise InputError("annual incidence must be finite numbers >= 0, by age or [sex, age]")
    inputs = prepare(scenario)
    q = np.broadcast_to(q, inputs.hazard.shape[:2])
    classes = np.array([1.0, scenario.incidence.impaired_multiplier])
    hazard = np.ascontiguousarray(annual_to_hazard(q[:, :, None] * classes))
    par = inputs.par.copy()
    par[kernel.REF_SHARE] = reference_share(scenario, inputs.members0, hazard)
    return dataclasses.replace(inputs, hazard=hazard, par=par)


def simulate_inputs(scenario: Scenario, inputs: KernelInputs) -> xr.Dataset:
    """Run a resolved scenario (fixed paths and seed) on given kernel inputs, in full mode.

    The same random numbers as :func:`engine.simulate.simulate` of the scenario: with
    ``inputs = prepare(scenario)`` the result is identical.
    """
    key = run_key(scenario)
    periods = scenario.periods
    parts: list[tuple[np.ndarray, ...]] = []
    for first, stop in chunks(scenario):
        n = stop - first
        counts = np.zeros((n, periods, len(kernel.COUNT_VARS)), dtype=np.int64)
        money = np.zeros((n, periods, len(kernel.MONEY_VARS)), dtype=np.float64)
        totals = np.zeros((n, len(kernel.TOTAL_VARS)), dtype=np.float64)
        path_ints = np.zeros((n, len(kernel.PATH_INT_VARS)), dtype=np.int64)
        kernel.run_paths(key, first, *inputs.args(), counts, money, totals, path_ints)
        parts.append((counts, money, totals, path_ints))
    return assemble(scenario, parts)


def _survival(
    inputs: KernelInputs, mean_due: np.ndarray, lapse: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Deterministic membership of each starting cohort ``(tenure, sex, age, class)``.

    Follows the kernel's period step with expected values: approved claims (claimants
    leave), sharing, exits (base and mortality, and the price-driven part at the mean
    share ``mean_due``), prepay lapses at the simulated rate, the waiting period counting
    down, ageing and leaving past the plan's maximum age.

    Returns
    -------
    cohorts, share_weight, benefit_weight
        The cohorts' indices into ``members0``; ``share_weight[t, k]`` the probability that
        a member of cohort k shares in period t (if the plan shares); ``benefit_weight[t, k]``
        the expected benefit of the claims the member incurs in period t.
    """
    par, ipar = inputs.par, inputs.ipar
    cohorts = np.nonzero(inputs.members0)
    ten, sex, age, cls = (np.array(x) for x in cohorts)
    periods = mean_due.size
    alive = np.ones(ten.size)
    share_weight = np.zeros((periods, ten.size))
    benefit_weight = np.zeros((periods, ten.size))
    elasticity = np.array([par[kernel.ELASTICITY_STD], par[kernel.ELASTICITY_IMP]])[cls]
    ref = par[kernel.REF_SHARE]
    for t in range(periods):
        eligible = ten < ipar[kernel.N_ELIG]
        h = np.minimum(inputs.hazard[sex, age, cls], 1.0)
        claim = np.where(eligible, h * inputs.approval[ten], 0.0)
        benefit_weight[t] = alive * claim * inputs.benefit[age]
        if ipar[kernel.CLAIMANTS_LEAVE]:
            alive = alive * (1.0 - claim)
        sharing = eligible | bool(ipar[kernel.WAITING_SHARE])
        share_weight[t] = alive * sharing
        if ipar[kernel.EXITS_ON]:
            ratio = mean_due[t] / ref if ref > 0 else 1.0
            hazard = inputs.base_exit[sex, age] + par[kernel.PRICE_RATE] * ratio**elasticity
            alive = alive * np.exp(-hazard)
        alive = alive * np.where(sharing, 1.0 - lapse[t], 1.0)
        ten = np.maximum(ten - 1, 0)
        if inputs.age_up[t]:
            age = np.minimum(age + 1, inputs.benefit.size - 1)
            alive = np.where(age > ipar[kernel.MAX_AGE], 0.0, alive)
    return cohorts, share_weight, benefit_weight


def _ratio(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratio of column means of per-path values and its delta-method standard error."""
    n = num.shape[0]
    mean_den = den.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num.mean(axis=0) / mean_den
        resid = num - ratio * den
        se = resid.std(axis=0, ddof=1) / np.sqrt(n) / np.abs(mean_den) if n > 1 else np.nan * ratio
    return ratio, se


def _groups(
    cohorts: tuple[np.ndarray, ...], bands: Sequence[int] | None, max_age: int
) -> tuple[pd.MultiIndex, np.ndarray]:
    """Group labels (sex, age or age band, class) and each cohort's group number."""
    _, sex, age, cls = cohorts
    if bands is None:
        ages: np.ndarray = age.astype(object)
    else:
        edges = np.asarray(bands)
        if edges.size == 0 or np.any(np.diff(edges) <= 0):
            raise InputError(f"bands must be increasing lower age bounds, got {list(bands)}")
        uppers = [*(edges[1:] - 1), max_age]
        labels = np.array([f"{lo}-{hi}" for lo, hi in zip(edges, uppers, strict=True)] + [""])
        ages = labels[np.where(age >= edges[0], np.searchsorted(edges, age, side="right") - 1, -1)]
    keys = pd.MultiIndex.from_arrays(
        [np.array(SEXES)[sex], ages, np.array(CLASSES)[cls]], names=["sex", "age", "class"]
    )
    codes, index = pd.factorize(keys, sort=True)
    return pd.MultiIndex.from_tuples(index, names=keys.names), codes


def fairness(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    bands: Sequence[int] | None = None,
    annual_incidence: float | np.ndarray | None = None,
) -> pd.DataFrame:
    """Expected shares paid against expected benefits received, per cohort of the start.

    A cohort is the starting members of one sex, age (or age band, ``bands`` giving the
    lower bounds) and risk class. The plan is simulated; the mean share per sharing member
    and period and whether the plan shares or still exists come from the paths, and each
    cohort's membership follows the plan's rules deterministically (see ``_survival``).
    Per path, a member of the cohort expects

    * shares ``sum_t p_t d_t v_t``: ``p_t`` the cohort's probability of sharing in period t,
      ``d_t`` the amount due from a sharing member (share after caps and per-member fee;
      0 once sharing stops), ``v_t`` the discount factor;
    * net shares: the same with the share net of the management fee, ``share_post *
      benefits / (benefits + case fees)`` (per-member fees are all fee);
    * benefits ``sum_t b_t v_pay``: ``b_t`` the expected benefit of the claims incurred in
      period t, counted if the plan still exists then (run-off pays them after closure) and
      paid within the horizon, at ``pay = min(t + lag, end of the plan)``.

    Means over the paths estimate the expectations; their errors come from the paths, so
    the Monte Carlo error of the shares (and of closure) carries into the ratios.

    The fairness ratio is expected benefits ÷ expected net shares: a member who pays
    exactly for their own risk scores 1 whatever the fee; below 1 the cohort subsidises
    others, above 1 it is subsidised (by other members, or by the platform's backstops).

    Parameters
    ----------
    scenario : Scenario
        The plan and its assumptions.
    paths, seed
        As in :func:`engine.simulate.simulate`.
    bands : sequence of int, optional
        Lower bounds of age bands (e.g. ``(0, 20, 30, 40, 50)``); exact ages if omitted.
    annual_incidence : float or array, optional
        Replaces the incidence table (see :func:`with_incidence`), for checks.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(sex, age, class)``; columns ``members`` at the start, ``years``
        (expected discounted years of sharing membership), ``shares``, ``net_shares``,
        ``benefits`` (yuan per starting member, discounted), ``ratio`` and ``ratio_se``,
        ``cross_subsidy`` and ``cross_subsidy_se`` (benefits - net shares per year of
        membership, yuan: positive when the cohort gains), ``net_paid_per_year`` and
        ``fair_cost`` (the incidence table's expected yearly benefit at the starting age,
        ``24 h B`` times the approval rate: the actuarially fair net share).

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> s = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 1})
    >>> table = fairness(s, paths=20, bands=(0, 20, 30, 40))
    >>> bool(table.loc[("M", "20-29", "standard"), "ratio"] < 1)
    True
    """
    run = resolve(scenario, paths, seed)
    inputs = prepare(run) if annual_incidence is None else with_incidence(run, annual_incidence)
    ds = simulate_inputs(run, inputs)
    sharing = ds["sharing"].values
    member_fee = inputs.par[kernel.MEMBER_FEE]
    share = ds["share_post"].values
    benefits = ds["benefits"].values
    due = np.where(sharing > 0, share + member_fee, 0.0)
    case_fees = ds["fees"].values - member_fee * sharing
    with np.errstate(divide="ignore", invalid="ignore"):
        net = np.where(benefits > 0, share * benefits / (benefits + case_fees), 0.0)
        mean_due = np.nan_to_num(due.sum(axis=0) / (sharing > 0).sum(axis=0))
        lapse = np.nan_to_num(ds["lapses"].values.sum(axis=0) / sharing.sum(axis=0))
    cohorts, share_weight, benefit_weight = _survival(inputs, mean_due, lapse)
    index, codes = _groups(cohorts, bands, run.plan.max_age)
    counts = inputs.members0[cohorts].astype(float)
    group = np.zeros((codes.size, len(index)))
    group[np.arange(codes.size), codes] = counts
    members = group.sum(axis=0)
    group /= np.where(members > 0, members, 1.0)
    share_weight, benefit_weight = share_weight @ group, benefit_weight @ group

    periods = ds.sizes["period"]
    t = np.arange(periods)
    v = inputs.discount
    closure = ds["closure_period"].values
    end = np.where(closure >= 0, closure + run.termination.notice_periods, periods)
    pay = np.minimum(t[None, :] + run.claims.payment_lag, end[:, None])
    counted = (t[None, :] <= end[:, None]) & (pay < periods)
    paid_v = np.where(counted, v[np.minimum(pay, periods - 1)], 0.0)
    shares = (due * v) @ share_weight
    net_shares = (net * v) @ share_weight
    years = ((sharing > 0) * v) @ share_weight / PERIODS_PER_YEAR
    received = paid_v @ benefit_weight
    ratio, ratio_se = _ratio(received, net_shares)
    subsidy, subsidy_se = _ratio(received - net_shares, years)
    paid_per_year, _ = _ratio(net_shares, years)
    h = np.minimum(inputs.hazard[cohorts[1:]], 1.0)
    fair = PERIODS_PER_YEAR * h * inputs.benefit[cohorts[2]] * inputs.approval[0] @ group
    table = pd.DataFrame(
        {
            "members": members,
            "years": years.mean(axis=0),
            "shares": shares.mean(axis=0),
            "net_shares": net_shares.mean(axis=0),
            "benefits": received.mean(axis=0),
            "ratio": ratio,
            "ratio_se": ratio_se,
            "cross_subsidy": subsidy,
            "cross_subsidy_se": subsidy_se,
            "net_paid_per_year": paid_per_year,
            "fair_cost": fair,
        },
        index=index,
    )
    table.attrs.update(paths=run.run.paths, seed=str(run.run.seed), years=run.run.years)
    return table


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
    v = _discount(scenario.discount_rate, periods)
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
    if base.run.tilt != 0:
        raise InputError("compare_levers needs an untilted run: set run.tilt to 0")
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
