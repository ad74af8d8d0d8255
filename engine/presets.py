"""The published platform plans (docs/model.md, August 2020) as plain data, and the rules that
read a plan: its tiers, fees, benefits and case costs by age.

Plain Python and NumPy, without the validation library, so that ``huzhu plans`` and ``huzhu
expected`` answer quickly: :func:`preset` reads a preset as a light object with the same
rules as the validated :class:`engine.plans.Plan` (the rules are declared once, here, and
both inherit them). Every preset holds every field of a plan; ``engine.plans`` validates
them, and a test checks that validation leaves them unchanged.

Where a platform published only its top benefit, the preset pays that benefit at every
covered age; where no age limits were published, the young and middle-aged range 0-59 of
相互宝 is assumed. 灯火互助 published its minimum membership; its other terms are assumed
equal to the typical plan (300,000 yuan, 8% fee, 180 days). Every such assumption is named
in the preset's ``notes``.
"""

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UnknownNameError
from engine.tables import AGES

PERIODS_PER_YEAR = 24
DAYS_PER_PERIOD = 365 / PERIODS_PER_YEAR


class BandRules:
    """A benefit paid for claims incurred at ages ``min_age`` to ``max_age`` inclusive."""

    if TYPE_CHECKING:
        min_age: int
        max_age: int
        benefit: float


class FeeRules:
    """How a management fee adds to a case's cost."""

    if TYPE_CHECKING:
        rate: float
        per_member_month: float
        per_case: tuple[tuple[float, float], ...]

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


class TierRules:
    """One benefit level of a plan; a tier may override the plan's fee and prepayment."""

    if TYPE_CHECKING:
        bands: Sequence[BandRules]
        fee: FeeRules | None
        prepayment: float | None


class PlanRules:
    """What a plan's rules imply: its waiting periods, tiers, fees and benefits by age."""

    if TYPE_CHECKING:
        name: str
        pinyin: str
        tiers: Mapping[str, TierRules]
        fee: FeeRules
        cap_per_case: float
        cap_per_period: float
        cap_per_year: float
        waiting_days: int
        prepayment: float
        min_balance: float
        min_members: int
        min_age: int
        max_age: int
        members_2020: int
        notes: str

    @property
    def waiting_periods(self) -> int:
        """Waiting period in semi-monthly periods, rounded up (90 days -> 6, 365 -> 24)."""
        return math.ceil(self.waiting_days / DAYS_PER_PERIOD - 1e-9)

    def tier(self, name: str) -> TierRules:
        """The tier ``name``; an unknown name lists the valid ones."""
        if name not in self.tiers:
            raise UnknownNameError(
                f"plan {self.pinyin!r} has no tier {name!r}; valid: {', '.join(self.tiers)}"
            )
        return self.tiers[name]

    def tier_fee(self, tier: str) -> FeeRules:
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


# --------------------------------------------------------------------------- the data

Data = dict[str, Any]


def _fee(rate: float = 0.0, per_member_month: float = 0.0, per_case: tuple = ()) -> Data:
    return {"rate": rate, "per_member_month": per_member_month, "per_case": per_case}


def _tier(*bands: tuple[int, int, float], fee: Data | None = None, prepay: float | None = None):
    return {
        "bands": tuple({"min_age": lo, "max_age": hi, "benefit": b} for lo, hi, b in bands),
        "fee": fee,
        "prepayment": prepay,
    }


def _flat(benefit: float) -> dict[str, Data]:
    return {"standard": _tier((0, 105, benefit))}


def _plan(name: str, pinyin: str, tiers: dict[str, Data], fee: Data, **terms: Any) -> Data:
    """A preset: every field of a plan, the published terms given, the rest none."""
    return {
        "name": name,
        "pinyin": pinyin,
        "tiers": tiers,
        "fee": fee,
        "cap_per_case": terms.pop("cap_per_case", math.inf),
        "cap_per_period": terms.pop("cap_per_period", math.inf),
        "cap_per_year": terms.pop("cap_per_year", math.inf),
        "waiting_days": terms.pop("waiting_days"),
        "prepayment": terms.pop("prepayment", 0.0),
        "min_balance": 0.0,
        "min_members": terms.pop("min_members", 0),
        "min_age": 0,
        "max_age": 59,
        "members_2020": terms.pop("members_2020", 0),
        "notes": terms.pop("notes"),
        **terms,  # a misspelt term is an unknown field, refused when validated
    }


_ASSUMED_AGES = "ages 0-59 assumed; one benefit at every covered age"

PRESETS: dict[str, Data] = {
    p["pinyin"]: p
    for p in (
        _plan(
            "相互宝",
            "xianghubao",
            {
                "standard": _tier((0, 39, 300_000), (40, 59, 100_000)),
                "entry": _tier((0, 39, 100_000), (40, 59, 50_000)),
            },
            _fee(rate=0.08),
            cap_per_case=0.1,
            waiting_days=90,
            min_members=3_240_000,
            members_2020=100_000_000,
            notes="ages 30 days to 59 years",
        ),
        _plan(
            "水滴互助",
            "shuidi",
            _flat(300_000),
            _fee(rate=0.08),
            cap_per_case=3.0,
            waiting_days=180,
            prepayment=3.0,
            members_2020=14_350_000,
            notes=_ASSUMED_AGES,
        ),
        _plan(
            "轻松互助",
            "qingsong",
            _flat(300_000),
            _fee(rate=0.06),
            waiting_days=360,
            prepayment=3.0,
            min_members=200_000,
            members_2020=17_900_000,
            notes=_ASSUMED_AGES,
        ),
        _plan(
            "美团互助",
            "meituan",
            _flat(300_000),
            _fee(rate=0.08),
            cap_per_case=0.1,
            waiting_days=180,
            min_members=3_240_000,
            members_2020=18_670_000,
            notes=_ASSUMED_AGES,
        ),
        _plan(
            "E互助",
            "ehuzhu",
            _flat(500_000),
            _fee(per_member_month=1.0),
            cap_per_case=3.0,
            waiting_days=180,
            prepayment=30.0,
            members_2020=3_400_000,
            notes="anti-cancer plan; " + _ASSUMED_AGES,
        ),
        _plan(
            "康爱公社",
            "kangai",
            _flat(150_000),
            _fee(
                rate=0.01,
                per_case=((0, 0.0), (20_000, 500.0), (50_000, 1_000.0), (100_000, 1_500.0)),
            ),
            cap_per_period=3.0,
            cap_per_year=72.0,
            waiting_days=365,
            members_2020=3_880_000,
            notes="tier boundaries taken as lowest benefit inclusive; " + _ASSUMED_AGES,
        ),
        _plan(
            "壁虎互助",
            "bihu",
            _flat(400_000),
            _fee(rate=0.10),
            waiting_days=180,
            prepayment=10.0,
            members_2020=2_180_000,
            notes=_ASSUMED_AGES,
        ),
        _plan(
            "360互助",
            "huzhu360",
            _flat(300_000),
            _fee(rate=0.10),
            waiting_days=90,
            prepayment=3.0,
            members_2020=3_030_000,
            notes=_ASSUMED_AGES,
        ),
        _plan(
            "夸克联盟",
            "kuake",
            {
                "300k": _tier((0, 105, 300_000), fee=_fee(per_member_month=1.0), prepay=30.0),
                "500k": _tier((0, 105, 500_000), fee=_fee(per_member_month=2.5), prepay=90.0),
            },
            _fee(per_member_month=1.0),
            waiting_days=180,
            prepayment=30.0,
            members_2020=1_700_000,
            notes=_ASSUMED_AGES,
        ),
        _plan(
            "灯火互助",
            "denghuo",
            _flat(300_000),
            _fee(rate=0.08),
            waiting_days=180,
            min_members=500_000,
            notes="closed 2020-09-09 after 300 days; only the minimum is published, "
            "other terms assumed typical; " + _ASSUMED_AGES,
        ),
    )
}
"""Every preset as plain data, keyed by its pinyin name."""


def check_name(name: str) -> None:
    """Raise ``UnknownNameError`` (listing the valid names) unless ``name`` is a preset."""
    if name not in PRESETS:
        raise UnknownNameError(f"unknown plan {name!r}; valid plans: {', '.join(PRESETS)}")


# --------------------------------------------------------------------------- light objects


class _Record:
    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.__dict__.update(fields)


class _Band(BandRules, _Record):
    pass


class _Fee(FeeRules, _Record):
    pass


class _Tier(TierRules, _Record):
    pass


class _Plan(PlanRules, _Record):
    pass


def _tier_object(data: Data) -> TierRules:
    return _Tier(
        {
            **data,
            "bands": tuple(_Band(b) for b in data["bands"]),
            "fee": None if data["fee"] is None else _Fee(data["fee"]),
        }
    )


def preset(name: str) -> PlanRules:
    """The preset ``name`` read from the plain data, with the plan's rules (unvalidated: use
    :func:`engine.plans.get_plan` for the validated model).

    Examples
    --------
    >>> preset("xianghubao").tier_fee("standard").case_cost(300_000)
    324000.0
    """
    check_name(name)
    data = PRESETS[name]
    return _Plan(
        {
            **data,
            "fee": _Fee(data["fee"]),
            "tiers": {k: _tier_object(t) for k, t in data["tiers"].items()},
        }
    )
