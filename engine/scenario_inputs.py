"""A scenario's kernel inputs: the starting members, the hazards, benefits and flows of each
regime, the per-period parameter table and the fixed rules, as ``engine.kernel_inputs``
lays them out. :func:`prepare` builds them once per run; ``engine.simulate`` runs them.
"""

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from engine.expected import discount_factors
from engine.expected import hazard as annual_to_hazard
from engine.kernel_inputs import IPAR, PAR, KernelInputs, ipar_array, par_array
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import Scenario
from engine.tables import AGES, AgeMix, age_weights, incidence_by_sex

CLASSES = ("standard", "impaired")


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split the integer ``total`` in proportion to ``weights`` exactly (largest remainder).

    Examples
    --------
    >>> allocate(10, np.array([1.0, 1.0, 1.0])).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, dtype=float).ravel()
    if total == 0 or w.sum() == 0:
        return np.zeros(np.shape(weights), dtype=np.int64)
    exact = w / w.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts.reshape(np.shape(weights))


def tenures(scenario: Scenario) -> tuple[int, int]:
    """(number of tenure states, number of eligible ones): seasoned, audit window, waiting."""
    window = scenario.selection.audit_window_periods
    return 1 + window + scenario.plan.waiting_periods, 1 + window


def _mix(mix: AgeMix, male_share: float, min_age: int, max_age: int) -> np.ndarray:
    """Weights [sex, age] summing to 1 over the plan's ages (uniform if the mix has none)."""
    inside = (AGES >= min_age) & (AGES <= max_age)
    ages = age_weights(mix) * inside
    if ages.sum() == 0:
        ages = inside.astype(float)
    weights = np.array([male_share, 1 - male_share])[:, None] * ages[None, :]
    return weights / weights.sum()


def initial_members(scenario: Scenario) -> np.ndarray:
    """Members at the start as ``[tenure, sex, age, class]``, with the exact total."""
    plan, pop = scenario.plan, scenario.population
    n_ten, n_elig = tenures(scenario)
    weights = _mix(pop.age_mix, pop.male_share, plan.min_age, plan.max_age)[:, :, None] * np.array(
        [1 - pop.impaired_share, pop.impaired_share]
    )
    tenure = np.zeros(n_ten)
    waiting = n_ten - n_elig
    tenure[0] = 1 - pop.waiting_share if waiting else 1.0
    tenure[n_elig:] = pop.waiting_share / max(waiting, 1)
    return allocate(pop.members, tenure[:, None, None, None] * weights[None])


def mean_age(scenario: Scenario) -> float:
    """Mean age of the starting members (after the integer allocation).

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> round(mean_age(load_scenario("scenarios/xianghubao.toml")), 2)
    33.36
    """
    by_age = initial_members(scenario).sum(axis=(0, 1, 3))
    return float((by_age * AGES).sum() / by_age.sum()) if by_age.sum() else float("nan")


def duration_factors(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """(factor by tenure, factor by duration slot of tenure 0) of the incidence's duration
    factors: a member ``d`` periods from joining is in policy year
    ``d // PERIODS_PER_YEAR + 1``. Slots hold tenure-0 members ``entry + j`` periods from
    joining until the last factor's year."""
    n_ten, _ = tenures(scenario)
    factors = scenario.incidence.duration_factors
    if not factors:
        return np.ones(n_ten), np.ones(0)
    entry, last = n_ten - 1, len(factors) - 1
    year = np.minimum(np.arange(max(0, PERIODS_PER_YEAR * last)) // PERIODS_PER_YEAR, last)
    by_tenure = np.array([factors[last]] + [factors[year[entry - w]] for w in range(1, n_ten)])
    return by_tenure, np.array([factors[y] for y in year[entry:]], dtype=float)


def initial_durations(scenario: Scenario, members0: np.ndarray) -> np.ndarray:
    """Tenure-0 starting members by duration slot ``[slot, sex, age, class]``: the shares of
    ``population.duration_mix`` by policy year, spread evenly over the year's durations past
    the joiners' tenure (the last year's share is past the select period, not kept)."""
    slots = duration_factors(scenario)[1].size
    out = np.zeros((slots, *members0.shape[1:]), dtype=np.int64)
    mix = scenario.population.duration_mix
    if mix is None or slots == 0:
        return out
    entry = members0.shape[0] - 1
    weights = np.zeros(slots + 1)
    weights[slots] = mix[-1]
    for y, share in enumerate(mix[:-1]):
        first, stop = max(entry, PERIODS_PER_YEAR * y), PERIODS_PER_YEAR * (y + 1)
        weights[first - entry : stop - entry] += share / (stop - first)
    for s, a, c in zip(*np.nonzero(members0[0]), strict=True):
        out[:, s, a, c] = allocate(int(members0[0, s, a, c]), weights)[:slots]
    return out


def joiners_expected(scenario: Scenario) -> np.ndarray:
    """Expected joiners per period from the growth curve (before the price response)."""
    g, t = scenario.growth, np.arange(scenario.periods, dtype=float)
    if g.curve == "constant":
        return np.full(t.size, g.joiners)
    if g.curve == "decay":
        return g.joiners * 0.5 ** (t / (PERIODS_PER_YEAR * g.half_life_years))
    if g.curve == "logistic":
        adopted = g.capacity / (
            1
            + np.exp(
                -g.rate_per_year * (np.arange(t.size + 1) / PERIODS_PER_YEAR - g.midpoint_years)
            )
        )
        return np.diff(adopted)
    if g.curve == "table":
        table = np.asarray(g.table, dtype=float)
        return table[np.minimum(t.astype(int), table.size - 1)]
    return np.zeros(t.size)


GOMPERTZ = (5e-5, 0.09)
"""Annual mortality ``a * exp(b * age)`` used when ``exits.mortality`` is on."""


def period_dates(start: Any, periods: int) -> pd.DatetimeIndex:
    """Start dates of semi-monthly periods (1st and 15th of each month) from ``start`` on."""
    return pd.date_range(pd.Timestamp(start), periods=periods, freq="SMS")


def reference_share(scenario: Scenario, members0: np.ndarray, hazard: np.ndarray) -> float:
    """The exits' reference share: the starting pool's expected share a period, fees included."""
    if scenario.exits.reference_share is not None:
        return scenario.exits.reference_share
    pool = members0.sum(axis=0)
    with np.errstate(invalid="ignore"):  # empty cohorts with certain illness: 0 * inf
        claims = np.where(pool > 0, np.minimum(pool * hazard, pool), 0.0)
    cost = float((claims * scenario.plan.case_cost_by_age(scenario.tier)[:, None]).sum())
    member_fee = scenario.plan.tier_fee(scenario.tier).per_member_month / 2
    return cost / pool.sum() + member_fee if pool.sum() else 0.0


def _regime(scenario: Scenario, members0: np.ndarray, ref_share: float | None) -> KernelInputs:
    """The kernel's arrays and parameters of one scenario (one regime of a run)."""
    plan, inc, sel, ex = scenario.plan, scenario.incidence, scenario.selection, scenario.exits
    q = incidence_by_sex(inc.table)[:, :, None] * inc.multiplier
    hazard = np.ascontiguousarray(annual_to_hazard(q * np.array([1.0, inc.impaired_multiplier])))
    periods = scenario.periods
    dates = period_dates(scenario.run.start, periods)
    t = np.arange(periods)
    years = pd.DatetimeIndex(dates).year.to_numpy()
    new_year = np.ones(periods, dtype=np.bool_)
    new_year[1:] = years[1:] != years[:-1]
    n_ten, n_elig = tenures(scenario)
    approval = np.full(n_ten, scenario.claims.approval_rate)
    approval[1:n_elig] *= 1 - sel.window_rejection
    mortality = np.zeros((2, AGES.size))
    if ex.mortality:
        a, b = GOMPERTZ
        mortality[:] = annual_to_hazard(np.minimum(a * np.exp(b * AGES), 1.0))
    term = scenario.termination
    par = _par(scenario, members0, hazard, ref_share)
    ipar = _ipar(scenario, dates)
    closure_p = np.zeros(periods)
    if term.hazard_per_year > 0:
        closure_p[max(period_of(dates, term.hazard_from), 0) :] = -np.expm1(
            np.log1p(-term.hazard_per_year) / PERIODS_PER_YEAR
        )
    tenure_factor, slot_factor = duration_factors(scenario)
    launched = scenario.population.members >= scenario.policy.min_launch_members
    return KernelInputs(
        members0=members0 if launched else np.zeros_like(members0),
        hazard=hazard,
        approval=approval,
        benefit=plan.benefit_by_age(scenario.tier),
        case_cost=plan.case_cost_by_age(scenario.tier),
        base_exit=ex.base_rate / PERIODS_PER_YEAR + mortality,
        mortality=mortality,
        join_weights=_mix(
            scenario.growth.age_mix, scenario.growth.male_share, plan.min_age, plan.max_age
        ),
        join_expected=joiners_expected(scenario) * launched,
        age_up=(t + 1) % PERIODS_PER_YEAR == 0,
        new_year=new_year,
        discount=discount_factors(scenario.discount_rate, periods),
        par=par,
        ipar=ipar,
        dates=dates,
        durations0=initial_durations(scenario, members0 if launched else 0 * members0),
        tenure_factor=tenure_factor,
        slot_factor=slot_factor,
        incidence_factor=(1.0 + scenario.incidence.trend_per_year) ** (t / PERIODS_PER_YEAR),
        closure_p=closure_p,
        regime=np.zeros(periods, dtype=np.int64),
    )


def _par(
    scenario: Scenario, members0: np.ndarray, hazard: np.ndarray, ref_share: float | None
) -> np.ndarray:
    """The float parameters of one regime (engine.kernel_inputs.Params), per period."""
    plan, inc, sel, ex = scenario.plan, scenario.incidence, scenario.selection, scenario.exits
    term, ded = scenario.termination, scenario.deduction
    fee = plan.tier_fee(scenario.tier)
    prepay = plan.tier_prepayment(scenario.tier)
    return par_array(
        cap_case=plan.cap_per_case,
        cap_period=min(plan.cap_per_period, scenario.policy.max_share),
        cap_year=plan.cap_per_year,
        member_fee=fee.per_member_month * 12 / PERIODS_PER_YEAR,
        failure_rate=ded.failure_rate,
        recovery_rate=ded.recovery_rate,
        prepay=prepay,
        min_balance=plan.min_balance,
        topup=ex.topup_probability,
        ref_share=(
            reference_share(scenario, members0, hazard)
            if ex.reference_share is not None or ref_share is None
            else ref_share
        ),
        price_rate=ex.price_rate / PERIODS_PER_YEAR,
        elasticity_standard=ex.elasticity_standard,
        elasticity_impaired=ex.elasticity_impaired,
        join_elasticity=scenario.growth.price_elasticity,
        impaired_share=sel.impaired_share,
        impaired_sensitivity=sel.price_sensitivity,
        fixed_cost=scenario.platform.fixed_cost,
        cost_per_case=scenario.platform.cost_per_case,
        cost_per_joiner=scenario.platform.cost_per_joiner,
        tilt=scenario.run.tilt,
        tilt_notice=scenario.run.tilt_notice,
        reserve=scenario.policy.reserve,
        reserve_trigger=scenario.policy.reserve_trigger,
        reserve_rate=scenario.policy.reserve_rate,
        transfer_cost=scenario.policy.transfer_cost,
        incidence=1.0,
        multiplier_sd=inc.multiplier_sd_log,
        trend_sd=inc.trend_sd,
        dispersion=inc.period_dispersion,
        shock_rate=inc.shock_per_year / PERIODS_PER_YEAR,
        shock_size=inc.shock_size,
        failure_sd=ded.failure_rate_sd,
        backpay=ded.backpay_rate,
        claims_rush=term.claims_rush,
    )


def _ipar(scenario: Scenario, dates: pd.DatetimeIndex) -> np.ndarray:
    """The fixed integer rules of one regime (engine.kernel_inputs.Rules)."""
    plan, inc, ex = scenario.plan, scenario.incidence, scenario.exits
    term, ded = scenario.termination, scenario.deduction
    _, n_elig = tenures(scenario)
    return ipar_array(
        lag=scenario.claims.payment_lag,
        notice=term.notice_periods,
        max_age=plan.max_age,
        n_elig=n_elig,
        waiting_share=scenario.waiting_members_share,
        claimants_leave=scenario.claims.claimants_leave,
        min_members=scenario.min_members,
        exits_on=ex.base_rate > 0 or ex.price_rate > 0 or ex.mortality,
        mortality_on=ex.mortality,
        transfer=scenario.policy.transfer_at_closure,
        pay_notice=term.members_pay_notice,
        announce=period_of(dates, term.announce_on),
        hazard_on=term.hazard_per_year > 0,
        remove_after=ded.remove_after or 0,
        arrears_on=ded.arrears,
        duration_on=bool(inc.duration_factors),
    )


def period_of(dates: pd.DatetimeIndex, day: Any) -> int:
    """Index of the period containing ``day`` (-1 for None or a day after the horizon)."""
    if day is None:
        return -1
    t = int(np.searchsorted(dates.to_numpy(), np.datetime64(day), side="right")) - 1
    end = dates[-1] + pd.offsets.SemiMonthBegin() if len(dates) else None
    return t if end is not None and pd.Timestamp(day) < end else -1


def prepare(scenario: Scenario) -> KernelInputs:
    """Derive the kernel's arrays from a validated scenario, one regime per dated change."""
    members0 = initial_members(scenario)
    base = _regime(scenario, members0, None)
    if not scenario.events:
        return base
    order = sorted(range(len(scenario.events)), key=lambda i: (scenario.events[i].date, i))
    regime = base.regime.copy()
    join_expected = base.join_expected.copy()
    ipar = base.ipar.copy()
    later = []
    for i in order:
        start = period_of(base.dates, scenario.events[i].date)
        if start < 0:
            continue  # after the horizon
        variant = _regime(scenario.after_event(i), members0, float(base.par[PAR["ref_share"]]))
        later.append(variant)
        regime[start:] = len(later)
        join_expected[start:] = variant.join_expected[start:]
        for flag in (IPAR["exits_on"], IPAR["mortality_on"]):
            ipar[flag] |= variant.ipar[flag]
    return dataclasses.replace(
        base, regime=regime, join_expected=join_expected, ipar=ipar, later=tuple(later)
    )
