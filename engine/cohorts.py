"""Fairness across members: expected shares paid against expected benefits received by the
cohorts of the starting members, measured on simulated paths with its Monte Carlo error.

A cohort is the starting members of one sex, age (or age band) and risk class. The plan is
simulated; the mean share per sharing member and period and whether the plan shares or
still exists come from the paths, and each cohort's membership follows the plan's rules
deterministically (``_survival``). Per path, a member of the cohort expects

* shares ``sum_t p_t d_t v_t``: ``p_t`` the cohort's probability of sharing in period t,
  ``d_t`` the amount due from a sharing member (share after caps and per-member fee; 0 once
  sharing stops), ``v_t`` the discount factor;
* net shares: the same with the share net of the management fee, ``share_post * benefits /
  (benefits + case fees)`` (per-member fees are all fee);
* benefits ``sum_t b_t v_pay``: ``b_t`` the expected benefit of the claims incurred in
  period t, counted if the plan still exists then (run-off pays them after closure) and paid
  within the horizon, at ``pay = min(t + lag, end of the plan)``.

Means over the paths estimate the expectations; their errors come from the paths, so the
Monte Carlo error of the shares (and of closure) carries into the ratios.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from engine import kernel_inputs as P
from engine.errors import InputError
from engine.expected import SEXES
from engine.expected import hazard as annual_to_hazard
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import Scenario
from engine.scenario_inputs import CLASSES, prepare, reference_share
from engine.simulate import KernelInputs, assemble, chunks, resolve, run_chunk

__all__ = ["fairness", "with_incidence"]

Cohorts = tuple[np.ndarray, ...]
"""The starting cohorts as indices ``(tenure, sex, age, class)`` into ``members0``."""


def with_incidence(scenario: Scenario, annual: float | np.ndarray) -> KernelInputs:
    """The scenario's kernel inputs with the incidence table replaced.

    ``annual`` is the annual incidence after the calibration multiplier, a number or an
    array by age (0..105) or by ``[sex, age]``; the impaired class's multiplier still
    applies. It holds in every regime (the dated changes keep their other arrays). The
    exits' reference share follows the new hazard unless the scenario (or a dated change)
    sets it.

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
    before = inputs.par[P.REF_SHARE]
    after = reference_share(scenario, inputs.members0, hazard)

    def replaced(regime: KernelInputs) -> KernelInputs:
        par = regime.par.copy()
        if par[P.REF_SHARE] == before:  # a regime that follows the start's share
            par[P.REF_SHARE] = after
        return dataclasses.replace(regime, hazard=hazard, par=par, later=())

    later = tuple(replaced(regime) for regime in inputs.later)
    return dataclasses.replace(replaced(inputs), later=later)


def _survival(
    inputs: KernelInputs, mean_due: np.ndarray, lapse: np.ndarray
) -> tuple[Cohorts, np.ndarray, np.ndarray]:
    """Deterministic membership of each starting cohort ``(tenure, sex, age, class)``.

    Why it exists: the kernel follows the pool, not its cohorts, so no simulated output
    says how likely a starting member of one cohort is still to share in period t, or what
    claims that member incurs; :func:`fairness` needs both. This follows the kernel's
    period step with expected values, on the kernel's own inputs: period t's row of the
    parameter table (``inputs.table()``, with the incidence trend) and the arrays of its
    regime (dated changes), the duration factor of the tenure (tenure 0 at the ultimate
    factor) and the mean of the period's shocks. In each period: approved claims
    (claimants leave), sharing, exits (base and mortality, and the price-driven part at the
    mean share ``mean_due``), prepay lapses at the simulated rate ``lapse``, the waiting
    period counting down, ageing and leaving past the plan's maximum age.

    Returns
    -------
    cohorts, share_weight, benefit_weight
        The cohorts' indices into ``members0``; ``share_weight[t, k]`` the probability that
        a member of cohort k shares in period t (if the plan shares); ``benefit_weight[t, k]``
        the expected benefit of the claims the member incurs in period t.
    """
    table, regime, ipar = inputs.table(), inputs.regime, inputs.ipar
    hazard, approval, benefit, base_exit = (
        inputs.stacked(name) for name in ("hazard", "approval", "benefit", "base_exit")
    )
    cohorts = np.nonzero(inputs.members0)
    ten, sex, age, cls = (np.array(x) for x in cohorts)
    periods = mean_due.size
    alive = np.ones(ten.size)
    share_weight = np.zeros((periods, ten.size))
    benefit_weight = np.zeros((periods, ten.size))
    for t in range(periods):
        p, r = table[t], regime[t]
        eligible = ten < ipar[P.N_ELIG]
        shocks = 1.0 + p[P.SHOCK_RATE] * p[P.SHOCK_SIZE]
        h = hazard[r, sex, age, cls]
        with np.errstate(invalid="ignore"):  # certain illness (h = inf) at a factor of 0
            rate = np.minimum(h * (p[P.INCIDENCE] * shocks * inputs.tenure_factor[ten]), 1.0)
        claim = np.where(eligible, np.where(np.isinf(h), 1.0, rate) * approval[r, ten], 0.0)
        benefit_weight[t] = alive * claim * benefit[r, age]
        if ipar[P.CLAIMANTS_LEAVE]:
            alive = alive * (1.0 - claim)
        sharing = eligible | bool(ipar[P.WAITING_SHARE])
        share_weight[t] = alive * sharing
        if ipar[P.EXITS_ON]:
            ref = p[P.REF_SHARE]
            ratio = mean_due[t] / ref if ref > 0 else 1.0
            elasticity = np.array([p[P.ELASTICITY_STANDARD], p[P.ELASTICITY_IMPAIRED]])[cls]
            exit_rate = base_exit[r, sex, age] + p[P.PRICE_RATE] * ratio**elasticity
            alive = alive * np.exp(-exit_rate)
        alive = alive * np.where(sharing, 1.0 - lapse[t], 1.0)
        ten = np.maximum(ten - 1, 0)
        if inputs.age_up[t]:
            age = np.minimum(age + 1, benefit.shape[1] - 1)
            alive = np.where(age > ipar[P.MAX_AGE], 0.0, alive)
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
    cohorts: Cohorts, bands: Sequence[int] | None, max_age: int
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


def _path_shares(ds: xr.Dataset, member_fee: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per path and period: the amount due from a sharing member (0 once sharing stops) and
    its part net of the management fee; across paths, the mean amount due and lapse rate."""
    sharing = ds["sharing"].values
    share = ds["share_post"].values
    benefits = ds["benefits"].values
    due = np.where(sharing > 0, share + member_fee, 0.0)
    case_fees = ds["fees"].values - member_fee * sharing
    with np.errstate(divide="ignore", invalid="ignore"):
        net = np.where(benefits > 0, share * benefits / (benefits + case_fees), 0.0)
        mean_due = np.nan_to_num(due.sum(axis=0) / (sharing > 0).sum(axis=0))
        lapse = np.nan_to_num(ds["lapses"].values.sum(axis=0) / sharing.sum(axis=0))
    return due, net, mean_due, lapse


def _group_matrix(
    inputs: KernelInputs, cohorts: Cohorts, codes: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """The starting members of each group, and the matrix [cohort, group] that averages
    cohorts into groups by their starting members."""
    counts = inputs.members0[cohorts].astype(float)
    group = np.zeros((codes.size, groups))
    group[np.arange(codes.size), codes] = counts
    members = group.sum(axis=0)
    group /= np.where(members > 0, members, 1.0)
    return members, group


def _paid_discount(ds: xr.Dataset, run: Scenario, v: np.ndarray) -> np.ndarray:
    """Per path and period of incurral: the discount factor at payment of a claim, 0 if it
    is not paid within the horizon or was incurred after the plan ended."""
    periods = ds.sizes["period"]
    t = np.arange(periods)
    closure = ds["closure_period"].values
    end = np.where(closure >= 0, closure + run.termination.notice_periods, periods)
    pay = np.minimum(t[None, :] + run.claims.payment_lag, end[:, None])
    counted = (t[None, :] <= end[:, None]) & (pay < periods)
    return np.where(counted, v[np.minimum(pay, periods - 1)], 0.0)


def fairness(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    bands: Sequence[int] | None = None,
    annual_incidence: float | np.ndarray | None = None,
) -> pd.DataFrame:
    """Expected shares paid against expected benefits received, per cohort of the start.

    Shares, net shares and benefits per starting member of each cohort (sex, age or age
    band, risk class), estimated as the module describes. The fairness ratio is expected
    benefits ÷ expected net shares: a member who pays exactly for their own risk scores 1
    whatever the fee; below 1 the cohort subsidises others, above 1 it is subsidised (by
    other members, or by the platform's backstops).

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
        ``PERIODS_PER_YEAR h B`` times the approval rate: the actuarially fair net share).

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
    ds = assemble(run, [run_chunk(run, first, stop, inputs) for first, stop in chunks(run)])
    due, net, mean_due, lapse = _path_shares(ds, inputs.table()[:, P.MEMBER_FEE])
    cohorts, share_weight, benefit_weight = _survival(inputs, mean_due, lapse)
    index, codes = _groups(cohorts, bands, run.plan.max_age)
    members, group = _group_matrix(inputs, cohorts, codes, len(index))
    share_weight, benefit_weight = share_weight @ group, benefit_weight @ group
    v = inputs.discount
    shares = (due * v) @ share_weight
    net_shares = (net * v) @ share_weight
    years = ((ds["sharing"].values > 0) * v) @ share_weight / PERIODS_PER_YEAR
    received = _paid_discount(ds, run, v) @ benefit_weight
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
