"""The sections of a scenario file (``[run]``, ``[population]``, ``[incidence]``, ...): one
validated, frozen model each, every field with its range and a description (the scenario
reference of the documentation is generated from them). :mod:`engine.scenario` assembles
them into a :class:`~engine.scenario.Scenario`.
"""

import datetime as dt
import math
import reprlib
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.tables import MANIFEST, AgeMix, read_age_csv

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 3, 60, 60, 6, 6


def _short(value: Any) -> str:
    """A bounded, one-line repr of a user's value (deep or huge inputs are cut)."""
    try:
        return _SHORT.repr(value)
    except RecursionError:
        return "<nested too deeply>"


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


TILTS = ("tilt", "tilt_notice")
"""The importance-sampling tilts of ``[run]``, each per yuan of case cost."""


class Run(_Section):
    """How much to simulate."""

    paths: int = Field(1000, ge=1, le=100_000_000, description="number of simulated paths")
    years: float = Field(10.0, ge=0, le=100, description="horizon (24 semi-monthly periods a year)")
    seed: int | None = Field(
        20200801, ge=0, description="root seed of the random numbers (none: a fresh one, recorded)"
    )
    spawn_key: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        (), max_length=64, description="spawn key of a spawned SeedSequence (empty: a root seed)"
    )
    start: dt.date = Field(dt.date(2020, 8, 1), description="date of the first period")
    chunk_size: int = Field(
        1024, ge=1, le=1_000_000, description="paths simulated together (streaming: fixes the sums)"
    )
    tilt: float = Field(
        0.0,
        ge=-1e-3,
        le=1e-3,
        allow_inf_nan=False,
        description="importance sampling: exponential tilt of case costs, per yuan",
    )
    tilt_notice: float = Field(
        0.0,
        ge=-1e-3,
        le=1e-3,
        allow_inf_nan=False,
        description="importance sampling: the tilt in the periods of a closure notice instead",
    )

    @property
    def tilted(self) -> bool:
        """Whether the run is importance-sampled (any of :data:`TILTS` set)."""
        return any(getattr(self, name) != 0 for name in TILTS)

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

    members: int = Field(ge=0, le=10_000_000_000, description="members at the start")
    age_mix: AgeMix = Field(
        "cnnic44",
        description='the ages: a bundled mix\'s name, bands such as {"20-29" = 0.3}, or a CSV file',
    )
    male_share: float = Field(0.5, ge=0, le=1, description="fraction of the members who are male")
    impaired_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="fraction in the impaired class (incidence x impaired_multiplier)",
    )
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

    table: str = Field(
        "ci25", description="incidence table: ci25 (25 illnesses, CI3/CI4) or ci6 (6, CI1/CI2)"
    )
    multiplier: float = Field(
        0.5,
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="calibration multiplier of the table's incidence (huzhu calibrate fits it)",
    )
    impaired_multiplier: float = Field(
        2.0, ge=0, le=1000, allow_inf_nan=False, description="incidence multiplier of the impaired"
    )
    duration_factors: tuple[float, ...] = Field(
        (),
        max_length=10,
        description="multipliers in the 1st, 2nd, ... policy year from joining; the last "
        "applies from then on",
    )
    trend_per_year: float = Field(
        0.0, ge=-0.5, le=1, allow_inf_nan=False, description="incidence x (1 + trend) ** years"
    )
    multiplier_sd_log: float = Field(
        0.0,
        ge=0,
        le=2,
        allow_inf_nan=False,
        description="parameter risk: each path's incidence x exp(s Z - s**2 / 2), Z standard "
        "normal (a mean-one lognormal factor)",
    )
    trend_sd: float = Field(
        0.0,
        ge=0,
        le=0.5,
        allow_inf_nan=False,
        description="parameter risk: each path's incidence x exp(sd Z years - (sd years)**2 / 2) "
        "(a mean-one uncertain annual log growth)",
    )
    period_dispersion: float = Field(
        0.0,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="each period's incidence x a gamma factor with mean 1 and this variance "
        "(claims of a static pool become negative binomial)",
    )
    shock_per_year: float = Field(
        0.0, ge=0, le=24, allow_inf_nan=False, description="rate of incidence shocks per year"
    )
    shock_size: float = Field(
        0.0,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="a period with k shocks (Poisson, shock_per_year / 24) has incidence "
        "x (1 + k shock_size)",
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

    approval_rate: float = Field(1.0, ge=0, le=1, description="fraction of claims approved")
    payment_lag: int = Field(
        1, ge=0, le=24, description="periods from a claim's approval to the period it is shared in"
    )
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

    failure_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of the sharing members whose deduction fails"
    )
    recovery_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of a failed deduction recovered at once"
    )
    remove_after: int | None = Field(
        None, ge=1, le=240, description="failures in a row after which a member is removed"
    )
    backpay_rate: float = Field(
        0.0, ge=0, le=1, description="chance that a member in arrears who pays also pays them"
    )
    failure_rate_sd: float = Field(
        0.0,
        ge=0,
        le=0.5,
        allow_inf_nan=False,
        description="standard deviation of each period's failure rate (a beta draw)",
    )

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

    underwriting: Literal["strict", "standard", "lax"] = Field(
        "standard", description="strictness: joiners' impaired fraction 0.02, 0.05 or 0.15"
    )
    joiner_impaired_share: float | None = Field(
        None, ge=0, le=1, description="f0, the joiners' impaired fraction (default: underwriting)"
    )
    price_sensitivity: float = Field(
        0.0, ge=0, le=10, description="exponent of d / d_ref in the joiners' impaired fraction"
    )
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

    curve: Literal["none", "constant", "decay", "logistic", "table"] = Field(
        "none", description="shape of the expected joiners per period"
    )
    joiners: float = Field(
        0.0,
        ge=0,
        le=1e9,
        allow_inf_nan=False,
        description="constant: joiners a period; decay: joiners in the first period",
    )
    half_life_years: float = Field(
        2.0, gt=0, le=1000, description="decay: years for the inflow to halve"
    )
    capacity: float = Field(
        0.0,
        ge=0,
        le=1e10,
        allow_inf_nan=False,
        description="logistic: the total number of joiners approached",
    )
    midpoint_years: float = Field(
        1.0, ge=-100, le=100, description="logistic: years from the start to the steepest inflow"
    )
    rate_per_year: float = Field(1.0, gt=0, le=100, description="logistic: growth rate a year")
    table: tuple[float, ...] = Field(
        (), description="table: expected joiners of each period, the last one repeated"
    )
    price_elasticity: float = Field(
        0.0, ge=0, le=20, description="joiners x (d / d_ref) ** -price_elasticity"
    )
    age_mix: AgeMix = Field(
        "cnnic44", description="the joiners' ages (as population.age_mix), over the entry ages"
    )
    male_share: float = Field(0.5, ge=0, le=1, description="fraction of the joiners who are male")

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

    base_rate: float = Field(0.0, ge=0, le=50, description="annual exit hazard at any share")
    price_rate: float = Field(
        0.0, ge=0, le=50, description="annual exit hazard at d = d_ref, x (d / d_ref) ** elasticity"
    )
    reference_share: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="d_ref, yuan per member per period (default: the starting pool's)",
    )
    elasticity_standard: float = Field(
        1.0, ge=0, le=20, description="price elasticity of the standard (healthy) members' exits"
    )
    elasticity_impaired: float = Field(
        0.3, ge=0, le=20, description="price elasticity of the impaired members' exits"
    )
    mortality: bool = Field(False, description="members die at 5e-5 exp(0.09 age) a year")
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

    min_members: int | None = Field(
        None,
        ge=0,
        le=10_000_000_000,
        description="sharing members below which closure is announced (default: the plan's)",
    )
    notice_periods: int = Field(
        2, ge=0, le=48, description="periods from the announcement to the end of cover"
    )
    announce_on: dt.date | None = Field(
        None, description="closure is announced in the period containing this date"
    )
    hazard_per_year: float = Field(
        0.0, ge=0, lt=1, description="annual probability of an outside closure"
    )
    hazard_from: dt.date | None = Field(
        None, description="date the outside closure hazard starts (default: run.start)"
    )
    members_pay_notice: bool = Field(
        True, description="members share the notice's cases (false: the platform pays them)"
    )
    claims_rush: float = Field(
        1.0, ge=0, le=100, allow_inf_nan=False, description="incidence multiplier in notice"
    )


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

    reserve: float = Field(0.0, ge=0, le=1e13, description="the fund at the start, yuan")
    reserve_trigger: float = Field(
        0.0, ge=0, le=1e9, description="yuan per member per period above which the fund pays"
    )
    reserve_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of the fee revenue added to the fund"
    )
    max_share: float = Field(
        math.inf, ge=0, description="yuan per member per period; the platform backs the rest"
    )
    min_launch_members: int = Field(0, ge=0, description="a smaller plan is not launched")
    transfer_at_closure: bool = Field(
        False, description="at closure the remaining members move to an insurer"
    )
    transfer_cost: float = Field(
        0.0, ge=0, le=1e7, description="yuan per member transferred, paid by the platform"
    )


class Event(_Section):
    """A dated change: ``set`` maps dotted field names to their values from the period
    containing ``date`` on (``plan.fee.*`` is the scenario tier's fee)."""

    date: dt.date = Field(description="the change applies from the period containing this date")
    set: dict[str, Any] = Field(
        min_length=1, description='dotted field names and their values: {"plan.fee.rate" = 0.1}'
    )
