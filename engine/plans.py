"""The published platform plans (docs/model.md, August 2020) as validated presets.

Where a platform published only its top benefit, the preset pays that benefit at every
covered age; where no age limits were published, the young and middle-aged range 0-59 of
相互宝 is assumed. 灯火互助 published its minimum membership; its other terms are assumed
equal to the typical plan (300,000 yuan, 8% fee, 180 days). Every such assumption is named
in the preset's ``notes``.
"""

import math
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.errors import UnknownNameError
from engine.tables import AGES

PERIODS_PER_YEAR = 24
DAYS_PER_PERIOD = 365 / PERIODS_PER_YEAR


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class Band(_Frozen):
    """A benefit paid for claims incurred at ages ``min_age`` to ``max_age`` inclusive."""

    min_age: int = Field(ge=0, le=105)
    max_age: int = Field(ge=0, le=105)
    benefit: float = Field(ge=0, le=1e9, description="yuan per approved claim")


class Fee(_Frozen):
    """The platform's management fee.

    Each case costs ``(benefit + per_case(benefit)) * (1 + rate)``, shared by the members;
    ``per_member_month`` is charged to every sharing member on top of the shares.
    ``per_case`` lists ``(lowest benefit, fee)`` tiers: a case pays the fee of the highest
    tier whose lowest benefit it reaches.
    """

    rate: float = Field(0.0, ge=0, le=1, description="fraction added to each case's cost")
    per_member_month: float = Field(0.0, ge=0, le=1e6, description="yuan")
    per_case: tuple[tuple[float, float], ...] = ()

    @model_validator(mode="after")
    def _tiers_are_amounts(self) -> Self:
        for lowest, fee in self.per_case:
            if not (0 <= lowest <= 1e9 and 0 <= fee <= 1e9):
                raise ValueError(
                    f"per_case: tier ({lowest!r}, {fee!r}) must hold amounts from 0 to 1e9 yuan"
                )
        return self

    def case_fee(self, benefit: float) -> float:
        """The fixed fee of one case paying ``benefit``."""
        fee = 0.0
        for lowest, amount in self.per_case:
            if benefit >= lowest:
                fee = amount
        return fee

    def case_cost(self, benefit: float) -> float:
        """What one case paying ``benefit`` costs the members before caps, fees included."""
        return (benefit + self.case_fee(benefit)) * (1.0 + self.rate)


class Tier(_Frozen):
    """One benefit level of a plan; a tier may override the plan's fee and prepayment."""

    bands: tuple[Band, ...] = Field(min_length=1)
    fee: Fee | None = None
    prepayment: float | None = Field(None, ge=0, le=1e6)

    @model_validator(mode="after")
    def _prepayment_is_a_real_amount(self) -> Self:
        if self.prepayment is not None and 0 < self.prepayment < 0.01:
            raise ValueError(f"prepayment: {self.prepayment!r} must be 0 or at least 0.01 yuan")
        return self


class Plan(_Frozen):
    """A mutual-aid plan's rules."""

    name: str
    pinyin: str
    tiers: dict[str, Tier] = Field(min_length=1)
    fee: Fee
    cap_per_case: float = Field(math.inf, ge=0, description="yuan per member per case")
    cap_per_period: float = Field(math.inf, ge=0, description="yuan per member per period")
    cap_per_year: float = Field(math.inf, ge=0, description="yuan per member per calendar year")
    waiting_days: int = Field(0, ge=0, le=3650)
    prepayment: float = Field(0.0, ge=0, le=1e6, description="yuan per member")
    min_balance: float = Field(
        0.0, ge=0, le=1e6, description="prepay plans: top up below this balance"
    )
    min_members: int = Field(0, ge=0, le=10_000_000_000)
    min_age: int = Field(0, ge=0, le=105)
    max_age: int = Field(59, ge=0, le=105)
    members_2020: int = Field(0, ge=0, description="published membership, August 2020")
    notes: str = ""

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

    @property
    def waiting_periods(self) -> int:
        """Waiting period in semi-monthly periods, rounded up (90 days -> 6, 365 -> 24)."""
        return math.ceil(self.waiting_days / DAYS_PER_PERIOD - 1e-9)

    def tier(self, name: str) -> Tier:
        """The tier ``name``; an unknown name lists the valid ones."""
        if name not in self.tiers:
            raise UnknownNameError(
                f"plan {self.pinyin!r} has no tier {name!r}; valid: {', '.join(self.tiers)}"
            )
        return self.tiers[name]

    def tier_fee(self, tier: str) -> Fee:
        """The fee rule of ``tier`` (its own, or the plan's)."""
        return self.tier(tier).fee or self.fee

    def tier_prepayment(self, tier: str) -> float:
        """The prepayment of ``tier`` (its own, or the plan's)."""
        own = self.tier(tier).prepayment
        return self.prepayment if own is None else own

    def benefit_by_age(self, tier: str) -> np.ndarray:
        """Benefit in yuan for a claim at each age 0..105 (0 where not covered)."""
        benefit = np.zeros(AGES.size)
        for band in self.tier(tier).bands:
            lo, hi = max(band.min_age, self.min_age), min(band.max_age, self.max_age)
            benefit[lo : hi + 1] = band.benefit
        return benefit

    def case_cost_by_age(self, tier: str) -> np.ndarray:
        """Cost to the members of one claim at each age, fees included, before caps."""
        fee = self.tier_fee(tier)
        return np.array([fee.case_cost(b) if b > 0 else 0.0 for b in self.benefit_by_age(tier)])


def _flat(benefit: float) -> dict[str, Tier]:
    return {"standard": Tier(bands=(Band(min_age=0, max_age=105, benefit=benefit),))}


def _two_bands(young: float, middle: float) -> Tier:
    return Tier(
        bands=(
            Band(min_age=0, max_age=39, benefit=young),
            Band(min_age=40, max_age=59, benefit=middle),
        )
    )


_ASSUMED_AGES = "ages 0-59 assumed; one benefit at every covered age"

PLANS: dict[str, Plan] = {
    p.pinyin: p
    for p in (
        Plan(
            name="相互宝",
            pinyin="xianghubao",
            tiers={"standard": _two_bands(300_000, 100_000), "entry": _two_bands(100_000, 50_000)},
            fee=Fee(rate=0.08),
            cap_per_case=0.1,
            waiting_days=90,
            min_members=3_240_000,
            members_2020=100_000_000,
            notes="ages 30 days to 59 years",
        ),
        Plan(
            name="水滴互助",
            pinyin="shuidi",
            tiers=_flat(300_000),
            fee=Fee(rate=0.08),
            cap_per_case=3.0,
            waiting_days=180,
            prepayment=3.0,
            members_2020=14_350_000,
            notes=_ASSUMED_AGES,
        ),
        Plan(
            name="轻松互助",
            pinyin="qingsong",
            tiers=_flat(300_000),
            fee=Fee(rate=0.06),
            waiting_days=360,
            prepayment=3.0,
            min_members=200_000,
            members_2020=17_900_000,
            notes=_ASSUMED_AGES,
        ),
        Plan(
            name="美团互助",
            pinyin="meituan",
            tiers=_flat(300_000),
            fee=Fee(rate=0.08),
            cap_per_case=0.1,
            waiting_days=180,
            min_members=3_240_000,
            members_2020=18_670_000,
            notes=_ASSUMED_AGES,
        ),
        Plan(
            name="E互助",
            pinyin="ehuzhu",
            tiers=_flat(500_000),
            fee=Fee(per_member_month=1.0),
            cap_per_case=3.0,
            waiting_days=180,
            prepayment=30.0,
            members_2020=3_400_000,
            notes="anti-cancer plan; " + _ASSUMED_AGES,
        ),
        Plan(
            name="康爱公社",
            pinyin="kangai",
            tiers=_flat(150_000),
            fee=Fee(
                rate=0.01,
                per_case=((0, 0.0), (20_000, 500.0), (50_000, 1_000.0), (100_000, 1_500.0)),
            ),
            cap_per_period=3.0,
            cap_per_year=72.0,
            waiting_days=365,
            members_2020=3_880_000,
            notes="tier boundaries taken as lowest benefit inclusive; " + _ASSUMED_AGES,
        ),
        Plan(
            name="壁虎互助",
            pinyin="bihu",
            tiers=_flat(400_000),
            fee=Fee(rate=0.10),
            waiting_days=180,
            prepayment=10.0,
            members_2020=2_180_000,
            notes=_ASSUMED_AGES,
        ),
        Plan(
            name="360互助",
            pinyin="huzhu360",
            tiers=_flat(300_000),
            fee=Fee(rate=0.10),
            waiting_days=90,
            prepayment=3.0,
            members_2020=3_030_000,
            notes=_ASSUMED_AGES,
        ),
        Plan(
            name="夸克联盟",
            pinyin="kuake",
            tiers={
                "300k": Tier(
                    bands=(Band(min_age=0, max_age=105, benefit=300_000),),
                    fee=Fee(per_member_month=1.0),
                    prepayment=30.0,
                ),
                "500k": Tier(
                    bands=(Band(min_age=0, max_age=105, benefit=500_000),),
                    fee=Fee(per_member_month=2.5),
                    prepayment=90.0,
                ),
            },
            fee=Fee(per_member_month=1.0),
            waiting_days=180,
            prepayment=30.0,
            members_2020=1_700_000,
            notes=_ASSUMED_AGES,
        ),
        Plan(
            name="灯火互助",
            pinyin="denghuo",
            tiers=_flat(300_000),
            fee=Fee(rate=0.08),
            waiting_days=180,
            min_members=500_000,
            notes="closed 2020-09-09 after 300 days; only the minimum is published, "
            "other terms assumed typical; " + _ASSUMED_AGES,
        ),
    )
}
"""Every preset, keyed by its pinyin name."""


def get_plan(name: str) -> Plan:
    """The preset ``name`` (pinyin key); an unknown name lists the valid ones.

    Examples
    --------
    >>> get_plan("xianghubao").name
    '相互宝'
    """
    if name not in PLANS:
        raise UnknownNameError(f"unknown plan {name!r}; valid plans: {', '.join(PLANS)}")
    return PLANS[name]
