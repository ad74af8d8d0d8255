"""Validated, frozen scenario objects and the TOML loader.

A scenario file holds values only. ``[plan]`` names a preset (``preset``), the ``tier``
and overrides any of the preset's fields; every other table sets one group of assumptions
(the section models of :mod:`engine.sections`). Problems are reported all at once, each
naming the field, the value and what is allowed.
"""

import math
import tomllib
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, ValidationError, model_validator

from engine.errors import InputError
from engine.plans import PERIODS_PER_YEAR, PLANS, Plan
from engine.sections import (
    AGE_MIXES,
    FIRST_START,
    LAST_END,
    TILTS,
    UNDERWRITING,
    Claims,
    Deduction,
    Event,
    Exits,
    Growth,
    Incidence,
    Platform,
    Policy,
    Population,
    Run,
    Selection,
    Termination,
    _Section,
    _short,
)
from engine.tables import AGES, INCIDENCE_SETS, age_weights

__all__ = [
    "AGE_MIXES",
    "EVENT_SECTIONS",
    "FIRST_START",
    "FIXED_FIELDS",
    "LAST_END",
    "UNDERWRITING",
    "Claims",
    "Deduction",
    "Event",
    "Exits",
    "Growth",
    "Incidence",
    "Platform",
    "Policy",
    "Population",
    "Run",
    "Scenario",
    "ScenarioError",
    "Selection",
    "Termination",
    "load_scenario",
    "scenario_from_dict",
]


class ScenarioError(InputError):
    """A scenario that cannot be run; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str], source: str = "scenario") -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


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

    name: str = Field("scenario", description="a short name, shown in summaries and files")
    description: str = Field("", description="one line on what it models (huzhu scenarios)")
    preset: str = Field("", description="the plan preset the plan was built from")
    tier: str = Field("standard", description="the plan's tier (in files: the preset's first)")
    plan: Plan = Field(description="[plan]: the plan's rules, a preset with overrides")
    population: Population = Field(description="[population]: the membership at the start")
    run: Run = Field(Run(), description="[run]: paths, horizon, seed and start date")
    incidence: Incidence = Field(
        Incidence(),
        description="[incidence]: illness rates: table, multipliers, trend, parameter risk",
    )
    claims: Claims = Field(Claims(), description="[claims]: audit and payment lag")
    deduction: Deduction = Field(
        Deduction(), description="[deduction]: failed deductions and arrears"
    )
    selection: Selection = Field(
        Selection(),
        description="[selection]: who joins (adverse selection), audits of early claims",
    )
    growth: Growth = Field(Growth(), description="[growth]: new members per period")
    exits: Exits = Field(Exits(), description="[exits]: members leaving, mortality")
    termination: Termination = Field(
        Termination(), description="[termination]: closure and its notice"
    )
    platform: Platform = Field(Platform(), description="[platform]: the platform's costs")
    policy: Policy = Field(Policy(), description="[policy]: regulatory levers")
    waiting_members_share: bool = Field(
        True, description="members in the waiting period share the cases (false: covered only)"
    )
    discount_rate: float = Field(
        0.03, ge=-0.5, le=1, description="annual rate discounting amounts to the start"
    )
    events: tuple[Event, ...] = Field((), description="[[events]]: dated changes of parameters")

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
            largest = float(plan.case_cost_by_age(self.tier).max())
            for field in TILTS:
                tilt = getattr(self.run, field)
                if abs(tilt) * largest > 15:
                    problems.append(
                        f"run.{field}: {tilt:g} multiplies claim rates by "
                        f"exp({abs(tilt) * largest:.0f}); |tilt| x the largest case cost must "
                        "be at most 15"
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
                if w > 0 and entry >= PERIODS_PER_YEAR * (y + 1)
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
        return round(self.run.years * PERIODS_PER_YEAR)

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

    Parameters
    ----------
    data : dict
        The scenario's sections as a scenario file holds them. ``data["plan"]`` is either a
        full plan or ``{"preset": NAME, "tier": TIER, **overrides}``; the tier defaults to
        the preset's first. Sections left out take their defaults.
    source : str, optional
        The name that error messages start with (a file name, say).

    Returns
    -------
    Scenario
        The validated, frozen scenario.

    Raises
    ------
    ScenarioError
        Every problem at once, one line each, naming the field, the value and the allowed
        range.

    Examples
    --------
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"},
    ...                         "population": {"members": 3_240_000}})
    >>> s.tier, s.population.members
    ('standard', 3240000)
    >>> scenario_from_dict({"plan": {"preset": "nowhere"}})
    Traceback (most recent call last):
    ...
    engine.scenario.ScenarioError: scenario: plan.preset: unknown plan 'nowhere'; valid plans: ...
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

    Parameters
    ----------
    path : str or Path
        The scenario file. A relative age-mix CSV named in it is read from the file's
        folder.

    Returns
    -------
    Scenario
        The validated, frozen scenario.

    Raises
    ------
    ScenarioError
        If the file is missing, unreadable, not TOML, or fails validation (every problem
        listed, one line each).

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
