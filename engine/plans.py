"""The published platform plans (docs/model.md, August 2020) as validated, frozen presets.

The presets' data and the rules that read a plan live in :mod:`engine.presets` (plain
Python, for the light commands); here the same fields are declared with their ranges, and
every preset is validated.
"""

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.presets import (
    DAYS_PER_PERIOD,
    PERIODS_PER_YEAR,
    PRESETS,
    BandRules,
    FeeRules,
    PlanRules,
    TierRules,
    check_name,
)

__all__ = [
    "DAYS_PER_PERIOD",
    "PERIODS_PER_YEAR",
    "PLANS",
    "Band",
    "Fee",
    "Plan",
    "Tier",
    "get_plan",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class Band(BandRules, _Frozen):
    """A benefit paid for claims incurred at ages ``min_age`` to ``max_age`` inclusive."""

    min_age: int = Field(ge=0, le=105, description="first age covered (age last birthday)")
    max_age: int = Field(ge=0, le=105, description="last age covered (age last birthday)")
    benefit: float = Field(ge=0, le=1e9, description="yuan per approved claim")


class Fee(FeeRules, _Frozen):
    """The platform's management fee.

    Each case costs ``(benefit + per_case(benefit)) * (1 + rate)``, shared by the members;
    ``per_member_month`` is charged to every sharing member on top of the shares.
    ``per_case`` lists ``(lowest benefit, fee)`` tiers: a case pays the fee of the highest
    tier whose lowest benefit it reaches.
    """

    rate: float = Field(0.0, ge=0, le=1, description="fraction added to each case's cost")
    per_member_month: float = Field(
        0.0, ge=0, le=1e6, description="yuan charged to each sharing member a month"
    )
    per_case: tuple[tuple[float, float], ...] = Field(
        (), description="(lowest benefit, fee) tiers in yuan: the highest tier reached applies"
    )

    @model_validator(mode="after")
    def _tiers_are_amounts(self) -> Self:
        for lowest, fee in self.per_case:
            if not (0 <= lowest <= 1e9 and 0 <= fee <= 1e9):
                raise ValueError(
                    f"per_case: tier ({lowest!r}, {fee!r}) must hold amounts from 0 to 1e9 yuan"
                )
        return self


class Tier(TierRules, _Frozen):
    """One benefit level of a plan; a tier may override the plan's fee and prepayment."""

    bands: tuple[Band, ...] = Field(min_length=1, description="benefits by age band")
    fee: Fee | None = Field(None, description="the tier's own fee (default: the plan's)")
    prepayment: float | None = Field(
        None, ge=0, le=1e6, description="the tier's own prepayment in yuan (default: the plan's)"
    )

    @model_validator(mode="after")
    def _prepayment_is_a_real_amount(self) -> Self:
        if self.prepayment is not None and 0 < self.prepayment < 0.01:
            raise ValueError(f"prepayment: {self.prepayment!r} must be 0 or at least 0.01 yuan")
        return self


class Plan(PlanRules, _Frozen):
    """A mutual-aid plan's rules."""

    name: str = Field(description="the plan's name as published")
    pinyin: str = Field(description="the preset's key")
    tiers: dict[str, Tier] = Field(min_length=1, description="benefit levels by name")
    fee: Fee = Field(description="the management fee")
    cap_per_case: float = Field(math.inf, ge=0, description="yuan per member per case")
    cap_per_period: float = Field(math.inf, ge=0, description="yuan per member per period")
    cap_per_year: float = Field(math.inf, ge=0, description="yuan per member per calendar year")
    waiting_days: int = Field(0, ge=0, le=3650, description="days from joining to cover")
    prepayment: float = Field(0.0, ge=0, le=1e6, description="yuan per member")
    min_balance: float = Field(
        0.0, ge=0, le=1e6, description="prepay plans: top up below this balance"
    )
    min_members: int = Field(
        0, ge=0, le=10_000_000_000, description="sharing members below which the plan closes"
    )
    min_age: int = Field(0, ge=0, le=105, description="youngest age that may join")
    max_age: int = Field(59, ge=0, le=105, description="oldest age covered; older members leave")
    members_2020: int = Field(0, ge=0, description="published membership, August 2020")
    notes: str = Field("", description="what the preset assumes where nothing was published")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if 0 < self.prepayment < 0.01:
            raise ValueError(f"prepayment: {self.prepayment!r} must be 0 or at least 0.01 yuan")
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        for name, tier in self.tiers.items():
            for band in tier.bands:
                if band.min_age > band.max_age:
                    raise ValueError(f"tier {name!r}: band {band.min_age}-{band.max_age} is empty")
        return self


PLANS: dict[str, Plan] = {name: Plan.model_validate(data) for name, data in PRESETS.items()}
"""Every preset, keyed by its pinyin name."""


def get_plan(name: str) -> Plan:
    """The published plan of one platform, validated and frozen.

    Parameters
    ----------
    name : str
        The platform's pinyin key, as listed by ``huzhu plans`` (``"xianghubao"``,
        ``"kuake"``, ...).

    Returns
    -------
    Plan
        The preset: tiers, benefits by age, caps, fees and waiting period.

    Raises
    ------
    InputError
        If ``name`` is not a preset; the message lists the valid names.

    Examples
    --------
    >>> plan = get_plan("xianghubao")
    >>> plan.name, list(plan.tiers)[0]
    ('相互宝', 'standard')
    """
    check_name(name)
    return PLANS[name]
