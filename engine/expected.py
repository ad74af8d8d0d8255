"""Deterministic expected costs: what a member or a pool pays on average, before caps.

Two conventions are reported side by side:

* **annual**: ``q * k * m * cost`` with ``q`` the table's annual incidence, ``k`` the
  calibration multiplier, ``m`` the risk-class multiplier and ``cost`` a case's cost with
  fees (docs/model.md, the worked example: 0.001396 * 300,000 * 1.08 = 452.30 yuan).
* **per period**: ``h * cost`` with the constant hazard ``h = -ln(1 - min(q k m, 1)) / 24``
  that the simulation uses (docs/model.md, one period, step 1), at most one claim per member a
  period. It is the exact expectation of a simulated period's cost for a static pool; 24
  periods of it exceed the annual figure by the factor ``-ln(1 - qkm) / qkm`` (1.0007 at
  q = 0.0014).
"""

from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.presets import PERIODS_PER_YEAR, PlanRules
from engine.tables import incidence_by_sex

SEXES = ("M", "F")
"""The sexes in the order of every ``[sex, ...]`` array: men first."""


def hazard(q: np.ndarray | float) -> np.ndarray:
    """Per-period hazard of an annual incidence ``q`` (already multiplied); inf at q >= 1."""
    q = np.minimum(np.asarray(q, dtype=float), 1.0)
    with np.errstate(divide="ignore"):
        return -np.log1p(-q) / PERIODS_PER_YEAR


def discount_factors(rate: float, periods: int) -> np.ndarray:
    """The discount factor of each period's flows, ``(1 + rate) ** -((t + 1) / 24)``: a
    period's amounts are valued at its end, at the yearly ``rate``.

    Examples
    --------
    >>> discount_factors(0.03, 24)[[0, -1]].round(6).tolist()
    [0.998769, 0.970874]
    """
    return (1.0 + rate) ** (-(np.arange(periods) + 1) / PERIODS_PER_YEAR)


def _sex_index(sex: str) -> int:
    if sex not in SEXES:
        raise InputError(f"sex must be one of {SEXES}, got {sex!r}")
    return SEXES.index(sex)


@dataclass(frozen=True)
class MemberShare:
    """A member's expected share before caps, in yuan."""

    incidence: float
    case_cost: float
    annual: float
    per_period: float
    fixed_fee_annual: float


def member_share(
    plan: PlanRules,
    tier: str,
    age: int,
    sex: str,
    *,
    table: str = "ci25",
    multiplier: float = 0.5,
    class_multiplier: float = 1.0,
) -> MemberShare:
    """Expected share of one member when every member is like them, before caps.

    Parameters
    ----------
    plan : Plan
        A plan preset (``get_plan``).
    tier : str
        The plan's tier (``"standard"``, ...).
    age : int
        The member's age, 0 to 105 and within the plan's ages.
    sex : str
        ``"M"`` or ``"F"``.
    table : str
        Incidence definition, ``"ci25"`` or ``"ci6"``.
    multiplier : float
        The incidence multiplier ``k`` (>= 0).
    class_multiplier : float
        The risk class's multiplier ``m``.

    Returns
    -------
    MemberShare
        ``incidence`` (``q k m``, at most 1), ``case_cost`` (benefit with fees),
        ``annual`` (``q k m cost``), ``per_period`` (the simulation's convention) and
        ``fixed_fee_annual``, in yuan.

    Raises
    ------
    InputError
        For an age, sex or multiplier outside its range.

    Examples
    --------
    >>> from engine.plans import get_plan
    >>> s = member_share(get_plan("xianghubao"), "standard", 35, "M", multiplier=1)
    >>> round(s.annual, 2)
    452.3
    """
    if not 0 <= age <= 105:
        raise InputError(f"age must be in 0..105, got {age}")
    if not plan.min_age <= age <= plan.max_age:
        raise InputError(
            f"age {age} is outside plan {plan.pinyin}'s ages {plan.min_age}-{plan.max_age}"
        )
    if not multiplier >= 0:
        raise InputError(f"multiplier must be >= 0, got {multiplier}")
    q = min(
        float(incidence_by_sex(table)[_sex_index(sex), age]) * multiplier * class_multiplier, 1.0
    )
    cost = float(plan.case_cost_by_age(tier)[age])
    return MemberShare(
        incidence=q,
        case_cost=cost,
        annual=q * cost,
        per_period=min(float(hazard(q)), 1.0) * cost,
        fixed_fee_annual=12 * plan.tier_fee(tier).per_member_month,
    )


@dataclass(frozen=True)
class PoolCost:
    """A static pool's expected claims and cost per period (simulation convention)."""

    members: int
    claims: float
    cost: float
    share: float
    annual_claims: float
    annual_cost: float


def pool_cost(
    plan: PlanRules,
    tier: str,
    members: np.ndarray,
    *,
    table: str = "ci25",
    multiplier: float = 0.5,
    class_multipliers: np.ndarray | None = None,
) -> PoolCost:
    """Expected cost of a pool of eligible ``members[sex, age]`` (or ``[sex, age, class]``).

    Parameters
    ----------
    plan : Plan
        A plan preset (``get_plan``).
    tier : str
        The plan's tier.
    members : numpy.ndarray
        Eligible members ``[sex, age]`` or ``[sex, age, class]`` (men first, ages 0-105).
    table : str
        Incidence definition, ``"ci25"`` or ``"ci6"``.
    multiplier : float
        The incidence multiplier ``k``.
    class_multipliers : numpy.ndarray, optional
        One multiplier per risk class (default: 1 for each).

    Returns
    -------
    PoolCost
        Expected claims and cost per period (the simulation's convention), ``share`` the
        period's cost per member before caps, and the annual claims and cost.

    Examples
    --------
    >>> from engine.plans import get_plan
    >>> pool = np.zeros((2, 106), dtype=np.int64)
    >>> pool[0, 35] = 1_000_000
    >>> cost = pool_cost(get_plan("xianghubao"), "standard", pool, multiplier=1)
    >>> round(cost.annual_cost / 1e6, 2)
    452.3
    """
    members = np.asarray(members)
    if members.ndim == 2:
        members = members[:, :, None]
    if class_multipliers is None:
        class_multipliers = np.ones(members.shape[2])
    q = incidence_by_sex(table)[:, :, None] * multiplier * np.asarray(class_multipliers)
    q = np.minimum(q, 1.0)
    cost = plan.case_cost_by_age(tier)[None, :, None]
    h = hazard(q)
    claims = float((members * h).sum())
    period_cost = float((members * h * cost).sum())
    total = int(members.sum())
    return PoolCost(
        members=total,
        claims=claims,
        cost=period_cost,
        share=period_cost / total if total else 0.0,
        annual_claims=float((members * q).sum()),
        annual_cost=float((members * q * cost).sum()),
    )
