"""Members by the period they joined, and the exposure to claims that follows.

Members are followed on the engine's grid of semi-monthly periods by the period they
joined. ``n[t, s]``, the members at the start of period t who joined in period s, comes
from the joiners and the exits of a ``Membership``: joiners of period s are counted from
period s + 1 on, and each period's exits take the same fraction of every cohort (as the
kernel's flows step does). A cohort's ages are its joiners' age/sex/class mix, shifted by
one year on each of the engine's anniversaries (every 24 periods from the start) and
without those past the plan's maximum age. Members claim from ``W`` periods after joining
(the waiting period, ``plan.waiting_periods``: 6 for 90 days). ``exposure`` gathers the
eligible members of every period by policy year ``j = (t - s) // 24`` and by (sex, age,
class) cell, which is all that ``engine.calibrate_annual`` needs to compute expected cases.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import Scenario
from engine.scenario_inputs import initial_members, joiners_expected, prepare
from engine.tables import AGES, age_weights, incidence_by_sex

SEASONED = 10**6
"""Periods since joining given to members present at the start and past their waiting."""


# --------------------------------------------------------------------------- membership


@dataclass(frozen=True)
class Membership:
    """Members by period: who joined when, and the fraction leaving each period.

    Attributes
    ----------
    start : pandas.Timestamp
        Date of period 0 (a 1st or 15th); periods follow semi-monthly.
    joiners : numpy.ndarray
        New members of each period (they enter the waiting period).
    exit_rate : numpy.ndarray
        Fraction of the members at the start of each period who leave in it.
    seasoned : float
        Members at the start past their waiting period (at the ultimate duration).
    waiting : numpy.ndarray
        Members at the start with 1, 2, ... periods of waiting left.
    keep_total : bool
        True when the counts are a published path: members who age out are replaced, so
        that every cohort keeps its count; False follows the engine (they leave).
    """

    start: pd.Timestamp
    joiners: np.ndarray
    exit_rate: np.ndarray
    seasoned: float = 0.0
    waiting: np.ndarray = field(default_factory=lambda: np.zeros(0))
    keep_total: bool = False

    @property
    def periods(self) -> int:
        """Length of the history in periods."""
        return int(self.joiners.size)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """Start dates of the periods."""
        return pd.date_range(self.start, periods=self.periods, freq="SMS")

    def members(self) -> np.ndarray:
        """Members at the end of each period, ageing aside.

        Examples
        --------
        >>> m = Membership(pd.Timestamp("2020-01-01"), np.array([10.0, 0, 0]),
        ...                np.array([0.0, 0.5, 0]), seasoned=4.0)
        >>> m.members().tolist()
        [14.0, 7.0, 7.0]
        """
        total, out = self.seasoned + float(self.waiting.sum()), []
        for joined, rate in zip(self.joiners, self.exit_rate, strict=True):
            total = total * (1 - rate) + joined
            out.append(total)
        return np.array(out)


def _grid_start(date: pd.Timestamp) -> pd.Timestamp:
    """The 1st or 15th of the month on or before ``date``."""
    return pd.Timestamp(date.year, date.month, 15 if date.day >= 15 else 1)


def membership_from_path(
    dates: "pd.Index | Sequence[str]",
    members: "pd.Series | np.ndarray | Sequence[float]",
    until: str | pd.Timestamp,
) -> Membership:
    """A membership history through published counts, linear between the dates given.

    The grid starts on the 1st or 15th on or before the first date; members before the
    first date are those of the first date, taken as seasoned, and after the last date
    those of the last. Rises are joiners, falls are exits.

    Examples
    --------
    >>> m = membership_from_path(["2020-01-01", "2020-02-01"], [0, 100], until="2020-03-01")
    >>> m.periods, m.members().round(1).tolist()
    (4, [45.2, 100.0, 100.0, 100.0])
    """
    when = pd.DatetimeIndex(pd.to_datetime(pd.Index(dates)))
    values = np.asarray(members, dtype=float)
    if when.size == 0 or when.size != values.size or (values < 0).any():
        raise InputError(
            f"membership: give one count >= 0 for each date, at least one; got {values.size} "
            f"count(s) for {when.size} date(s), smallest {values.min(initial=0):g}"
        )
    if not when.is_monotonic_increasing or when.has_duplicates:
        raise InputError(
            f"membership: the dates must be increasing, got {[str(d.date()) for d in when]}"
        )
    start = _grid_start(when[0])
    ends = pd.date_range(start, pd.Timestamp(until), freq="SMS")[1:]
    if ends.size == 0:
        raise InputError(f"membership: {until} is not after the first date {when[0].date()}")
    days = lambda d: (d - start).days.to_numpy(dtype=float)  # noqa: E731
    path = np.interp(days(ends), days(when), values)
    before = np.concatenate([[values[0]], path[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        exit_rate = np.where(before > 0, np.maximum(before - path, 0) / before, 0.0)
    return Membership(
        start, np.maximum(path - before, 0.0), exit_rate, seasoned=values[0], keep_total=True
    )


def membership_from_scenario(scenario: Scenario) -> Membership:
    """The expected membership of a scenario: its starting members, its growth curve's
    joiners (before any price response) and its base exit rate (claimants aside).

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 0},
    ...     "growth": {"curve": "constant", "joiners": 1000}, "run": {"years": 1}})
    >>> m = membership_from_scenario(s)
    >>> m.periods, float(m.members()[-1])
    (24, 24000.0)
    """
    start = prepare(scenario).dates[0]
    by_tenure = initial_members(scenario).sum(axis=(1, 2, 3)).astype(float)
    launched = scenario.population.members >= scenario.policy.min_launch_members
    joiners = joiners_expected(scenario) * launched
    rate = -math.expm1(-scenario.exits.base_rate / PERIODS_PER_YEAR)
    n_elig = by_tenure.size - scenario.plan.waiting_periods
    return Membership(
        start,
        joiners,
        np.full(joiners.size, rate),
        seasoned=float(by_tenure[:n_elig].sum()) * launched,
        waiting=by_tenure[n_elig:] * launched,
    )


def band_mix(bands: Mapping[str, float], male_share: float = 0.5) -> np.ndarray:
    """An age/sex mix ``[sex, age]`` from shares of age bands (``tables.age_weights``, the
    shares scaled to sum to 1), each spread evenly over its ages.

    Examples
    --------
    >>> mix = band_mix({"20-29": 0.5, "30-39": 0.5})
    >>> round(float((mix.sum(axis=0) * AGES).sum()), 2), float(mix[0].sum())
    (29.5, 0.5)
    """
    total = sum(bands.values())
    if not (math.isfinite(total) and total > 0):
        raise InputError(f"age bands: the shares sum to {total:g}, not a positive number")
    try:
        ages = age_weights({band: share / total for band, share in bands.items()})
    except InputError as exc:
        raise InputError(f"age bands: {exc}") from None
    return np.array([male_share, 1 - male_share])[:, None] * ages


@dataclass(frozen=True)
class Exposure:
    """Eligible members by period, policy year and cell, and what the fit needs with them.

    ``weights[t, j, cell]`` are eligible members at the start of period t in policy year j
    (the last year taken as ultimate); ``rate[cell]`` is ``q m`` of the cell; ``year[t]``
    the year the period's cases are shared in. ``members[t, age]`` holds all members
    (waiting ones too) for shares and mean ages.
    """

    weights: np.ndarray
    rate: np.ndarray
    cell_age: np.ndarray
    year: np.ndarray
    members: np.ndarray
    approval: float
    dates: pd.DatetimeIndex
    lag: int


def _shift(mix: np.ndarray, years: int, max_age: int, keep_total: bool) -> np.ndarray:
    """``mix[sex, age, class]`` aged by ``years`` anniversaries; past ``max_age`` removed."""
    out = mix.copy()
    if years:
        out[:] = 0
        out[:, years:] = mix[:, : AGES.size - years]
        out[:, -1] += mix[:, AGES.size - years :].sum(axis=1)
    out[:, max_age + 1 :] = 0
    total = out.sum()
    return out * (mix.sum() / total) if keep_total and total > 0 else out


def exposure(
    scenario: Scenario,
    membership: Membership,
    policy_years: int = 1,
    mix: np.ndarray | None = None,
) -> Exposure:
    """Eligible members of each period by policy year and (sex, age, class) cell.

    The scenario gives the plan (ages, waiting period), the incidence table, the class
    multipliers, the approval rate, the payment lag and, unless ``mix`` ([sex, age]) is
    given, the mixes of the starting members and of the joiners.
    """
    plan, t_all = scenario.plan, membership.periods
    lag, wait = scenario.claims.payment_lag, plan.waiting_periods
    impaired = scenario.selection.impaired_share
    if mix is None:
        start = initial_members(scenario).sum(axis=0).astype(float)
        start = start / start.sum() if start.sum() > 0 else start
        joiner = prepare(scenario).join_weights[:, :, None] * np.array([1 - impaired, impaired])
    else:
        inside = (AGES >= plan.min_age) & (AGES <= plan.max_age)
        m = np.asarray(mix, dtype=float)
        m = m * inside if m.shape == (2, AGES.size) else m
        if m.shape != (2, AGES.size) or not (m >= 0).all() or m.sum() <= 0:
            raise InputError(
                f"mix: an array [2, {AGES.size}] of weights >= 0 at the plan's ages, not all 0; "
                f"got shape {m.shape}, sum {m.sum():g}"
            )
        start = (m / m.sum())[:, :, None] * np.array(
            [1 - scenario.population.impaired_share, scenario.population.impaired_share]
        )
        joiner = (m / m.sum())[:, :, None] * np.array([1 - impaired, impaired])
    # cohorts: seasoned starters, waiting starters (1..W periods left), joiners of each period
    join_period = np.concatenate(
        [[-SEASONED], np.arange(1, membership.waiting.size + 1) - wait, np.arange(t_all)]
    )
    counts0 = np.concatenate([[membership.seasoned], membership.waiting, np.zeros(t_all)])
    is_start = np.arange(join_period.size) <= membership.waiting.size
    anniversaries = np.concatenate([[0], np.cumsum((np.arange(t_all) + 1) % PERIODS_PER_YEAR == 0)])
    n_cells = 2 * AGES.size * 2
    weights = np.zeros((t_all, policy_years, n_cells))
    members = np.zeros((t_all, AGES.size))
    counts = counts0.copy()
    shifted: dict[tuple[bool, int], np.ndarray] = {}
    first_age_up = anniversaries[np.maximum(join_period, 0)]
    for t in range(t_all):
        since = t - join_period
        # policy year of each cohort, or policy_years for those still waiting
        year = np.where(
            since >= wait, np.minimum(since // PERIODS_PER_YEAR, policy_years - 1), policy_years
        )
        shift = anniversaries[t] - first_age_up
        for key in {(bool(a), int(b)) for a, b in zip(is_start, shift, strict=True)}:
            chosen = (is_start == key[0]) & (shift == key[1]) & (counts > 0)
            if not chosen.any():
                continue
            if key not in shifted:
                base = start if key[0] else joiner
                shifted[key] = _shift(base, key[1], plan.max_age, membership.keep_total)
            by_year = np.bincount(year[chosen], counts[chosen], policy_years + 1)
            members[t] += by_year.sum() * shifted[key].sum(axis=(0, 2))
            weights[t] += by_year[:policy_years, None] * shifted[key].ravel()[None, :]
        counts *= 1 - membership.exit_rate[t]
        counts[membership.waiting.size + 1 + t] = membership.joiners[t]
    q = incidence_by_sex(scenario.incidence.table)[:, :, None]
    rate = (q * np.array([1.0, scenario.incidence.impaired_multiplier])).ravel()
    used = (weights.sum(axis=(0, 1)) > 0) & (rate > 0)
    shared = pd.date_range(membership.start, periods=t_all + lag, freq="SMS")[lag:]
    return Exposure(
        weights=weights[:, :, used],
        rate=rate[used],
        cell_age=np.broadcast_to(AGES[None, :, None], (2, AGES.size, 2)).ravel()[used],
        year=shared.year.to_numpy(),
        members=members,
        approval=scenario.claims.approval_rate,
        dates=membership.dates,
        lag=lag,
    )
