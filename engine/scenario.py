"""Validated, frozen scenario objects and the TOML loader.

A scenario file holds values only. ``[plan]`` names a preset (``preset``), the ``tier``
and overrides any of the preset's fields; every other table sets one group of assumptions.
Problems are reported all at once, each naming the field, the value and what is allowed.
"""

import datetime as dt
import math
import reprlib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import InputError
from engine.plans import PLANS, Plan
from engine.tables import INCIDENCE_SETS, MANIFEST


class ScenarioError(InputError):
    """A scenario that cannot be run; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str], source: str = "scenario") -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


FIRST_START = dt.date(1678, 1, 1)
LAST_END = dt.date(2262, 4, 11)
"""Period dates are nanosecond timestamps (pandas, netCDF): runs must lie in this range."""


class Run(_Section):
    """How much to simulate."""

    paths: int = Field(1000, ge=1, le=100_000_000)
    years: float = Field(10.0, ge=0, le=100)
    seed: int | None = Field(20200801, ge=0)
    spawn_key: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        (), max_length=64, description="spawn key of a spawned SeedSequence (empty: a root seed)"
    )
    start: dt.date = dt.date(2020, 8, 1)
    chunk_size: int = Field(1024, ge=1, le=1_000_000)
    tilt: float = Field(
        0.0,
        ge=-1e-3,
        le=1e-3,
        allow_inf_nan=False,
        description="importance sampling: exponential tilt of case costs, per yuan",
    )

    @model_validator(mode="after")
    def _dates_representable(self) -> Self:
        span = dt.timedelta(days=math.ceil(self.years * 366) + 31)
        if self.start < FIRST_START or self.start > LAST_END - span:
            latest = LAST_END - dt.timedelta(days=math.ceil(self.years * 366) + 31)
            raise ValueError(
                f"start {self.start} with {self.years:g} years is outside the dates "
                f"results can hold; start between {FIRST_START} and {latest}"
            )
        return self


class Population(_Section):
    """The membership at the start."""

    members: int = Field(ge=0, le=10_000_000_000)
    age_mix: str = "cnnic44"
    male_share: float = Field(0.5, ge=0, le=1)
    impaired_share: float = Field(0.0, ge=0, le=1)
    waiting_share: float = Field(
        0.0, ge=0, le=1, description="fraction still in the waiting period, spread evenly over it"
    )


class Incidence(_Section):
    """Illness rates: table, calibration multiplier and the impaired class's multiplier."""

    table: str = "ci25"
    multiplier: float = Field(0.5, ge=0, le=1000, allow_inf_nan=False)
    impaired_multiplier: float = Field(2.0, ge=0, le=1000, allow_inf_nan=False)


class Claims(_Section):
    """Audit and payment of claims."""

    approval_rate: float = Field(1.0, ge=0, le=1)
    payment_lag: int = Field(1, ge=0, le=24)
    claimants_leave: bool = Field(True, description="false keeps a static pool, for checks")


class Deduction(_Section):
    """Failed deductions: the rate of members who fail to pay, and what is recovered."""

    failure_rate: float = Field(0.0, ge=0, le=1)
    recovery_rate: float = Field(0.0, ge=0, le=1)


class Selection(_Section):
    """Adverse selection: who joins, and audits of early claims.

    Joiners' impaired fraction is ``f0 * (d / d_ref) ** price_sensitivity`` (at most 1),
    with ``f0`` from the underwriting strictness (strict 0.02, standard 0.05, lax 0.15)
    unless ``joiner_impaired_share`` sets it, ``d`` the share just paid and ``d_ref`` the
    reference share (see Exits).
    """

    underwriting: Literal["strict", "standard", "lax"] = "standard"
    joiner_impaired_share: float | None = Field(None, ge=0, le=1)
    price_sensitivity: float = Field(0.0, ge=0, le=10)
    audit_window_periods: int = Field(
        0, ge=0, le=120, description="periods after the waiting period with stricter audits"
    )
    window_rejection: float = Field(
        0.0, ge=0, le=1, description="extra fraction of claims rejected inside the window"
    )

    @property
    def impaired_share(self) -> float:
        """The joiners' impaired fraction at the reference share."""
        if self.joiner_impaired_share is not None:
            return self.joiner_impaired_share
        return UNDERWRITING[self.underwriting]


UNDERWRITING = {"strict": 0.02, "standard": 0.05, "lax": 0.15}
"""Joiners' impaired fraction at the reference share, by underwriting strictness."""


class Growth(_Section):
    """New members per period (expected; the count is a Poisson draw).

    ``none``: no joiners. ``constant``: ``joiners`` a period. ``decay``: ``joiners`` at the
    start, halving every ``half_life_years`` (marketing-driven inflow fading). ``logistic``:
    the increments of ``capacity / (1 + exp(-rate_per_year (years - midpoint_years)))``.
    ``table``: ``table[t]`` in period t, the last value repeated. The expected count is
    multiplied by ``(d / d_ref) ** -price_elasticity``. Joiners follow the age mix over the
    plan's entry ages and start in the waiting period.
    """

    curve: Literal["none", "constant", "decay", "logistic", "table"] = "none"
    joiners: float = Field(0.0, ge=0, le=1e9, allow_inf_nan=False)
    half_life_years: float = Field(2.0, gt=0, le=1000)
    capacity: float = Field(0.0, ge=0, le=1e10, allow_inf_nan=False)
    midpoint_years: float = Field(1.0, ge=-100, le=100)
    rate_per_year: float = Field(1.0, gt=0, le=100)
    table: tuple[float, ...] = ()
    price_elasticity: float = Field(0.0, ge=0, le=20)
    age_mix: str = "cnnic44"
    male_share: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _curve_has_its_values(self) -> Self:
        if self.curve == "table" and not self.table:
            raise ValueError("growth.table: curve 'table' needs a non-empty table of joiners")
        if any(not (math.isfinite(x) and 0 <= x <= 1e9) for x in self.table):
            raise ValueError("growth.table: every entry must be a number from 0 to 1e9")
        return self


class Exits(_Section):
    """Members leaving of their own accord, and optional mortality.

    Annual exit hazard of a class: ``base_rate + price_rate * (d / d_ref) ** elasticity``
    (iso-elastic in the share just paid ``d`` relative to ``d_ref``), with separate
    elasticities so that standard (healthy) members react more than impaired ones.
    ``d_ref`` defaults to the expected per-period share of the starting pool, fees included.
    Mortality follows a Gompertz law ``5e-5 * exp(0.09 age)`` a year when switched on.
    """

    base_rate: float = Field(0.0, ge=0, le=50)
    price_rate: float = Field(0.0, ge=0, le=50)
    reference_share: float | None = Field(None, gt=0, allow_inf_nan=False)
    elasticity_standard: float = Field(1.0, ge=0, le=20)
    elasticity_impaired: float = Field(0.3, ge=0, le=20)
    mortality: bool = False
    topup_probability: float = Field(
        0.98, ge=0, le=1, description="prepay plans: chance a member tops up rather than leaves"
    )


class Termination(_Section):
    """Closure: below ``min_members`` sharing members (default: the plan's minimum) the plan
    announces closure; sharing stops and after ``notice_periods`` the plan ends."""

    min_members: int | None = Field(None, ge=0, le=10_000_000_000)
    notice_periods: int = Field(2, ge=0, le=48)


class Platform(_Section):
    """The platform's costs (its revenue is the management fees)."""

    fixed_cost: float = Field(0.0, ge=0, le=1e12, description="yuan per period")
    cost_per_case: float = Field(0.0, ge=0, le=1e9, description="per claim")
    cost_per_joiner: float = Field(0.0, ge=0, le=1e6, description="per new member")


class Policy(_Section):
    """Regulatory levers, each evaluated on the same random numbers as the base run.

    ``reserve``: a fund (yuan) the platform holds and draws on before shares rise above
    ``reserve_trigger`` (yuan per member per period), topped up with ``reserve_rate`` of its
    fee revenue. ``max_share``: a mandatory maximum share per member per period that the
    platform backs (a per-period cap). ``min_launch_members``: a plan that starts below
    this scale is not launched. ``transfer_at_closure``: at closure the remaining members
    move to an insurer, the platform paying ``transfer_cost`` per member (run-off).
    Stricter underwriting is ``selection.underwriting``.
    """

    reserve: float = Field(0.0, ge=0, le=1e13)
    reserve_trigger: float = Field(0.0, ge=0, le=1e9)
    reserve_rate: float = Field(0.0, ge=0, le=1)
    max_share: float = Field(math.inf, ge=0)
    min_launch_members: int = Field(0, ge=0)
    transfer_at_closure: bool = False
    transfer_cost: float = Field(0.0, ge=0, le=1e7)


class Scenario(_Section):
    """Everything one simulation needs, validated."""

    name: str = "scenario"
    description: str = ""
    preset: str = Field("", description="the plan preset the plan was built from")
    tier: str = "standard"
    plan: Plan
    population: Population
    run: Run = Run()
    incidence: Incidence = Incidence()
    claims: Claims = Claims()
    deduction: Deduction = Deduction()
    selection: Selection = Selection()
    growth: Growth = Growth()
    exits: Exits = Exits()
    termination: Termination = Termination()
    platform: Platform = Platform()
    policy: Policy = Policy()
    waiting_members_share: bool = True
    discount_rate: float = Field(0.03, ge=-0.5, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        mixes = [k for k, v in MANIFEST.items() if not v.diseases]
        problems = [
            f"{field}: {_short(value)} is unknown; valid: {', '.join(valid)}"
            for field, value, valid in (
                ("tier", self.tier, list(self.plan.tiers)),
                ("incidence.table", self.incidence.table, list(INCIDENCE_SETS)),
                ("population.age_mix", self.population.age_mix, mixes),
                ("growth.age_mix", self.growth.age_mix, mixes),
            )
            if value not in valid
        ]
        if self.periods < 1:
            problems.append(
                f"run.years: {self.run.years:g} holds no period; at least 1/24 of a year"
            )
        plan = self.plan
        if self.tier in plan.tiers:
            exponent = abs(self.run.tilt) * float(plan.case_cost_by_age(self.tier).max())
            if exponent > 15:
                problems.append(
                    f"run.tilt: {self.run.tilt:g} multiplies claim rates by exp({exponent:.0f}); "
                    "|tilt| x the largest case cost must be at most 15"
                )
        caps = (plan.cap_per_case, plan.cap_per_period, plan.cap_per_year)
        if any(math.isnan(c) for c in caps):
            problems.append("plan: caps must be numbers >= 0 or inf, not nan")
        elif math.isfinite(plan.cap_per_case) and plan.cap_per_period < plan.cap_per_case:
            problems.append(
                f"plan.cap_per_period: {plan.cap_per_period:g} is below plan.cap_per_case "
                f"{plan.cap_per_case:g}, so the per-case cap could never bind"
            )
        elif math.isfinite(plan.cap_per_period) and plan.cap_per_year < plan.cap_per_period:
            problems.append(
                f"plan.cap_per_year: {plan.cap_per_year:g} is below plan.cap_per_period "
                f"{plan.cap_per_period:g}, so the per-period cap could never bind"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def min_members(self) -> int:
        """Sharing members below which the plan closes."""
        own = self.termination.min_members
        return self.plan.min_members if own is None else own

    @property
    def periods(self) -> int:
        """Number of semi-monthly periods in the horizon."""
        return round(self.run.years * 24)

    def replace(self, **sections: Any) -> "Scenario":
        """A validated copy with whole fields or ``section={"field": value}`` updates."""
        data = self.model_dump()
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value.model_dump() if isinstance(value, BaseModel) else value
        return scenario_from_dict(data)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 3, 60, 60, 6, 6


def _short(value: Any) -> str:
    """A bounded, one-line repr of a user's value (deep or huge inputs are cut)."""
    try:
        return _SHORT.repr(value)
    except RecursionError:
        return "<nested too deeply>"


def _format(error: Any) -> str:
    where = ".".join(
        str(part) if str(part).isidentifier() or isinstance(part, int) else _short(part)
        for part in error["loc"]
    )
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("missing", "value_error"):
        return f"{where}: {message}" if where else message
    return f"{where}: {message} (got {_short(error['input'])})"


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Build a Scenario from plain data (the parsed TOML).

    ``data["plan"]`` is either a full plan or ``{"preset": NAME, "tier": TIER, **overrides}``;
    the tier defaults to the preset's first.
    """
    data = dict(data)
    plan = data.get("plan")
    if not isinstance(plan, dict):
        raise ScenarioError(
            [f"plan: a [plan] table naming a preset is required (got {_short(plan)})"], source
        )
    if "preset" in plan:
        plan = dict(plan)
        preset = plan.pop("preset")
        if not isinstance(preset, str) or preset not in PLANS:
            raise ScenarioError(
                [f"plan.preset: unknown plan {_short(preset)}; valid plans: {', '.join(PLANS)}"],
                source,
            )
        data["preset"] = preset
        data["tier"] = plan.pop("tier", next(iter(PLANS[preset].tiers)))
        data["plan"] = {**PLANS[preset].model_dump(), **plan}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError([_format(e) for e in exc.errors()], source) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Examples
    --------
    >>> load_scenario("scenarios/xianghubao.toml").population.members
    100000000
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(["file not found"], str(path)) from None
    except OSError as exc:
        raise ScenarioError([f"cannot read the file ({exc.strerror})"], str(path)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError([f"not a valid TOML file ({exc})"], str(path)) from None
    except RecursionError:
        raise ScenarioError(["not a valid TOML file (nested too deeply)"], str(path)) from None
    return scenario_from_dict(data, str(path))
