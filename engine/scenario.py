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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import InputError
from engine.plans import PLANS, Plan
from engine.tables import (
    AGES,
    INCIDENCE_SETS,
    MANIFEST,
    AgeMix,
    age_weights,
    read_age_csv,
)


class ScenarioError(InputError):
    """A scenario that cannot be run; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str], source: str = "scenario") -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


def _read_mix(value: Any) -> Any:
    """A CSV age mix is read into bands, so the scenario holds its values."""
    if isinstance(value, str) and value.endswith(".csv"):
        return read_age_csv(value)
    return value


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
    age_mix: AgeMix = "cnnic44"
    male_share: float = Field(0.5, ge=0, le=1)
    impaired_share: float = Field(0.0, ge=0, le=1)
    waiting_share: float = Field(
        0.0, ge=0, le=1, description="fraction still in the waiting period, spread evenly over it"
    )
    duration_mix: tuple[float, ...] | None = Field(
        None,
        description="with incidence.duration_factors: shares of the seasoned members in their "
        "1st, 2nd, ... policy year (default: all past the last factor)",
    )

    _age_mix_file = field_validator("age_mix", mode="before")(_read_mix)


class Incidence(_Section):
    """Illness rates: table, calibration multiplier and the impaired class's multiplier."""

    table: str = "ci25"
    multiplier: float = Field(0.5, ge=0, le=1000, allow_inf_nan=False)
    impaired_multiplier: float = Field(2.0, ge=0, le=1000, allow_inf_nan=False)
    duration_factors: tuple[float, ...] = Field(
        (),
        max_length=10,
        description="multipliers in the 1st, 2nd, ... policy year from joining; the last "
        "applies from then on",
    )
    trend_per_year: float = Field(
        0.0, ge=-0.5, le=1, allow_inf_nan=False, description="incidence x (1 + trend) ** years"
    )

    @model_validator(mode="after")
    def _factors_are_rates(self) -> Self:
        if any(not (math.isfinite(f) and 0 <= f <= 100) for f in self.duration_factors):
            raise ValueError(
                "incidence.duration_factors: every factor must be a number from 0 to 100 "
                f"(got {_short(self.duration_factors)})"
            )
        return self


class Claims(_Section):
    """Audit and payment of claims."""

    approval_rate: float = Field(1.0, ge=0, le=1)
    payment_lag: int = Field(1, ge=0, le=24)
    claimants_leave: bool = Field(True, description="false keeps a static pool, for checks")


class Deduction(_Section):
    """Failed deductions: the rate of members who fail to pay, and what is recovered.

    By default a failed share is advanced by the platform and ``recovery_rate`` of it comes
    back at once. With ``remove_after`` or ``backpay_rate`` the members in arrears are kept:
    at each deduction a member in arrears fails again (and after ``remove_after`` failures
    in a row leaves, the arrears written off) or pays, with ``backpay_rate`` the chance of
    paying the arrears too (otherwise they are written off). ``failure_rate_sd`` draws each
    period's failure rate from a beta distribution with that standard deviation.
    """

    failure_rate: float = Field(0.0, ge=0, le=1)
    recovery_rate: float = Field(0.0, ge=0, le=1)
    remove_after: int | None = Field(None, ge=1, le=240)
    backpay_rate: float = Field(0.0, ge=0, le=1)
    failure_rate_sd: float = Field(0.0, ge=0, le=0.5, allow_inf_nan=False)

    @property
    def arrears(self) -> bool:
        """Whether members in arrears are tracked (remove_after or backpay_rate set)."""
        return self.remove_after is not None or self.backpay_rate > 0

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        p, sd = self.failure_rate, self.failure_rate_sd
        if sd > 0 and not sd**2 < p * (1 - p):
            raise ValueError(
                f"deduction.failure_rate_sd: {sd:g} needs sd**2 below failure_rate x "
                f"(1 - failure_rate) = {p * (1 - p):g}"
            )
        if self.arrears and self.recovery_rate > 0:
            raise ValueError(
                f"deduction.recovery_rate: {self.recovery_rate:g} must be 0 with remove_after "
                "or backpay_rate (arrears are paid back or written off instead)"
            )
        return self


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


AGE_MIXES = [name for name, info in MANIFEST.items() if info.kind == "age_mix"]
"""The bundled age mixes, by name."""

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
    age_mix: AgeMix = "cnnic44"
    male_share: float = Field(0.5, ge=0, le=1)

    _age_mix_file = field_validator("age_mix", mode="before")(_read_mix)

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
    """Closure: the plan announces closure at the end of a period when its sharing members
    fall below ``min_members`` (default: the plan's minimum), in the period containing
    ``announce_on``, or at a random time: an outside closure with annual probability
    ``hazard_per_year`` from ``hazard_from`` (default: the start) on. ``notice_periods``
    follow, then cover ends and pending claims are the platform's run-off.

    With ``members_pay_notice`` (the default) sharing stops at the announcement and the
    platform pays the cases due in notice as run-off (benefits). With false the members stay
    covered but pay nothing: the platform pays each notice period's cases in full (benefits
    and fees), and the claims still pending at the end are run-off in the period after.
    ``claims_rush`` multiplies incidence during the notice period.
    """

    min_members: int | None = Field(None, ge=0, le=10_000_000_000)
    notice_periods: int = Field(2, ge=0, le=48)
    announce_on: dt.date | None = None
    hazard_per_year: float = Field(0.0, ge=0, lt=1)
    hazard_from: dt.date | None = None
    members_pay_notice: bool = True
    claims_rush: float = Field(1.0, ge=0, le=100, allow_inf_nan=False)


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


class Event(_Section):
    """A dated change: ``set`` maps dotted field names to their values from the period
    containing ``date`` on (``plan.fee.*`` is the scenario tier's fee)."""

    date: dt.date
    set: dict[str, Any] = Field(min_length=1)


EVENT_SECTIONS = (
    "plan",
    "incidence",
    "claims",
    "deduction",
    "growth",
    "selection",
    "exits",
    "platform",
)
"""Sections whose fields an event may change."""

FIXED_FIELDS = (
    "plan.waiting_days",
    "plan.max_age",
    "plan.min_members",
    "plan.prepayment",
    "claims.payment_lag",
    "claims.claimants_leave",
    "selection.audit_window_periods",
    "incidence.duration_factors",
    "deduction.remove_after",
)
"""Fields that shape a path's state and so cannot change during a run."""


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
    events: tuple[Event, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = [
            f"{field}: {_short(value)} is unknown; valid: {', '.join(valid)}"
            for field, value, valid in (
                ("tier", self.tier, list(self.plan.tiers)),
                ("incidence.table", self.incidence.table, list(INCIDENCE_SETS)),
            )
            if value not in valid
        ]
        problems += self._mix_problems()
        start = self.run.start
        dated = [("termination.announce_on", self.termination.announce_on)]
        dated += [(f"events[{i}].date", e.date) for i, e in enumerate(self.events)]
        problems += [
            f"{field}: {day} is before run.start {start}"
            for field, day in dated
            if day is not None and day < start
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
        self._check_events()
        return self

    def _mix_problems(self) -> list[str]:
        plan, problems = self.plan, []
        for field, mix in (
            ("population.age_mix", self.population.age_mix),
            ("growth.age_mix", self.growth.age_mix),
        ):
            if isinstance(mix, str) and mix not in AGE_MIXES:
                problems.append(f"{field}: {_short(mix)} is unknown; valid: {', '.join(AGE_MIXES)}")
                continue
            try:
                weights = age_weights(mix)
            except (KeyError, ValueError) as exc:
                problems.append(f"{field}: {exc.args[0]}")
                continue
            outside = weights[(AGES < plan.min_age) | (AGES > plan.max_age)].sum()
            if not isinstance(mix, str) and outside > 0:
                problems.append(
                    f"{field}: {outside:.3g} of the weight lies outside the plan's ages "
                    f"{plan.min_age}-{plan.max_age}"
                )
        factors, years = self.incidence.duration_factors, self.population.duration_mix
        if years is not None:
            if len(years) != len(factors):
                problems.append(
                    f"population.duration_mix: {len(years)} shares for {len(factors)} "
                    "incidence.duration_factors; give one share per factor"
                )
            elif any(not (0 <= w <= 1) for w in years) or not math.isclose(sum(years), 1.0):
                problems.append(
                    f"population.duration_mix: shares {_short(years)} must lie in [0, 1] and "
                    f"sum to 1 (they sum to {sum(years):g})"
                )
            entry = self.selection.audit_window_periods + plan.waiting_periods
            problems += [
                f"population.duration_mix: policy year {y + 1} (share {w:g}) lies inside the "
                f"first {entry} periods (waiting and audit window), where no member is seasoned"
                for y, w in enumerate(years[:-1])
                if w > 0 and entry >= 24 * (y + 1)
            ]
        return problems

    def _check_events(self) -> None:
        """Each event's changed scenario must itself be valid; errors name the event."""
        for i, _ in enumerate(self.events):
            self.after_event(i)

    def after_event(self, i: int) -> "Scenario":
        """The scenario in force after events ``0..i`` (in date order), without events."""
        data = self.model_dump()
        data["events"] = ()
        order = sorted(range(len(self.events)), key=lambda j: (self.events[j].date, j))
        for j in order[: order.index(i) + 1]:
            for key, value in self.events[j].set.items():
                where = f"events[{j}].set.{key}"
                parts = key.split(".")
                if parts[0] not in EVENT_SECTIONS or len(parts) < 2:
                    raise ValueError(f"{where}: not a field of {', '.join(EVENT_SECTIONS)}")
                if key in FIXED_FIELDS:
                    raise ValueError(f"{where}: cannot change during a run")
                if parts[:2] == ["plan", "fee"] and data["plan"]["tiers"][self.tier]["fee"]:
                    parts = ["plan", "tiers", self.tier, *parts[1:]]
                _set_dotted(data, parts, value, where)
        try:
            return Scenario.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ValueError(
                f"events[{i}]: {field + ': ' if field else ''}{message}"
                + (f" (got {_short(first['input'])})" if first["type"] != "value_error" else "")
            ) from None

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


def _set_dotted(data: dict[str, Any], parts: list[str], value: Any, where: str) -> None:
    node: Any = data
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ValueError(f"{where}: no such field")
    if parts[-1] not in node or isinstance(node[parts[-1]], dict | list | tuple):
        raise ValueError(f"{where}: no such number, flag or name to change")
    if isinstance(value, dict | list):
        raise ValueError(f"{where}: {_short(value)} is not a number, flag or name")
    node[parts[-1]] = value


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
    for section in ("population", "growth"):
        mix = data.get(section, {}).get("age_mix") if isinstance(data.get(section), dict) else None
        if isinstance(mix, str) and mix.endswith(".csv") and not Path(mix).is_absolute():
            data[section]["age_mix"] = str(path.parent / mix)
    return scenario_from_dict(data, str(path))
