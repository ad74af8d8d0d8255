"""The one orchestrator: scenario -> arrays -> kernel -> labelled results."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd
import xarray as xr

from engine import kernel
from engine.expected import hazard as annual_to_hazard
from engine.plans import PERIODS_PER_YEAR
from engine.results import build_dataset
from engine.rng import root_key
from engine.scenario import Scenario
from engine.tables import AGES, age_mix, incidence_by_sex

CLASSES = ("standard", "impaired")
MAX_THREADS: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]


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


def initial_members(scenario: Scenario) -> np.ndarray:
    """Members at the start as ``[tenure, sex, age, class]``, with the exact total."""
    plan, pop = scenario.plan, scenario.population
    ages = age_mix(pop.age_mix) * ((AGES >= plan.min_age) & (AGES <= plan.max_age))
    if ages.sum() == 0:
        ages = ((AGES >= plan.min_age) & (AGES <= plan.max_age)).astype(float)
    sexes = np.array([pop.male_share, 1 - pop.male_share])
    classes = np.array([1 - pop.impaired_share, pop.impaired_share])
    weights = sexes[:, None, None] * ages[None, :, None] * classes[None, None, :]
    members = np.zeros((plan.waiting_periods + 1, 2, AGES.size, len(CLASSES)), dtype=np.int64)
    tenure = np.zeros(plan.waiting_periods + 1)
    tenure[0] = 1 - pop.waiting_share if plan.waiting_periods else 1.0
    tenure[1:] = pop.waiting_share / max(plan.waiting_periods, 1)
    members[:] = allocate(pop.members, tenure[:, None, None, None] * weights)
    return members


@dataclass(frozen=True)
class KernelInputs:
    """Everything the kernel needs, as arrays and scalars, derived from a scenario."""

    members0: np.ndarray
    hazard: np.ndarray
    benefit: np.ndarray
    case_cost: np.ndarray
    dates: pd.DatetimeIndex
    age_up: np.ndarray
    new_year: np.ndarray
    discount: np.ndarray

    def args(self, scenario: Scenario) -> tuple[Any, ...]:
        """The kernel's positional arguments from ``members0`` to ``discount``."""
        plan, fee = scenario.plan, scenario.plan.tier_fee(scenario.tier)
        return (
            self.members0,
            self.hazard,
            self.benefit,
            self.case_cost,
            scenario.claims.approval_rate,
            scenario.claims.claimants_leave,
            scenario.claims.payment_lag,
            plan.cap_per_case,
            plan.cap_per_period,
            plan.cap_per_year,
            fee.per_member_month * 12 / PERIODS_PER_YEAR,
            scenario.deduction.failure_rate,
            scenario.deduction.recovery_rate,
            scenario.waiting_members_share,
            plan.max_age,
            self.age_up,
            self.new_year,
            self.discount,
        )


def period_dates(start: Any, periods: int) -> pd.DatetimeIndex:
    """Start dates of semi-monthly periods (1st and 15th of each month) from ``start`` on."""
    return pd.date_range(pd.Timestamp(start), periods=periods, freq="SMS")


def prepare(scenario: Scenario) -> KernelInputs:
    """Derive the kernel's arrays from a validated scenario."""
    inc = scenario.incidence
    q = incidence_by_sex(inc.table)[:, :, None] * inc.multiplier
    q = q * np.array([1.0, inc.impaired_multiplier])
    periods = scenario.periods
    dates = period_dates(scenario.run.start, periods)
    t = np.arange(periods)
    years = pd.DatetimeIndex(dates).year.to_numpy()
    new_year = np.ones(periods, dtype=np.bool_)
    new_year[1:] = years[1:] != years[:-1]
    return KernelInputs(
        members0=initial_members(scenario),
        hazard=np.ascontiguousarray(annual_to_hazard(q)),
        benefit=scenario.plan.benefit_by_age(scenario.tier),
        case_cost=scenario.plan.case_cost_by_age(scenario.tier),
        dates=dates,
        age_up=(t + 1) % PERIODS_PER_YEAR == 0,
        new_year=new_year,
        discount=(1.0 + scenario.discount_rate) ** (-(t + 1) / PERIODS_PER_YEAR),
    )


ChunkResult = tuple[np.ndarray, ...]
"""A chunk's kernel outputs, each with the chunk's paths on the first axis."""


def resolve(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    years: float | None = None,
) -> Scenario:
    """The scenario with run overrides applied and its seed fixed (fresh entropy for None).

    The resolved scenario alone determines every number of the run.
    """
    if isinstance(seed, np.random.SeedSequence):
        seed = root_key(seed)[1]
    changes: dict[str, Any] = {"paths": paths, "years": years, "seed": seed}
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        scenario = scenario.replace(run=changes)
    if scenario.run.seed is None:
        scenario = scenario.replace(run={"seed": root_key(None)[1]})
    return scenario


def chunks(scenario: Scenario, first_path: int = 0) -> list[tuple[int, int]]:
    """The (first, stop) path ranges of a run, ``run.chunk_size`` paths each."""
    stop, size = first_path + scenario.run.paths, scenario.run.chunk_size
    return [(first, min(first + size, stop)) for first in range(first_path, stop, size)]


def run_chunk(scenario: Scenario, first: int, stop: int) -> ChunkResult:
    """Simulate paths ``first..stop-1`` of a resolved scenario: (counts, money, totals)."""
    inputs = prepare(scenario)
    key, _ = root_key(scenario.run.seed)
    n, periods = stop - first, scenario.periods
    counts = np.zeros((n, periods, len(kernel.COUNT_VARS)), dtype=np.int64)
    money = np.zeros((n, periods, len(kernel.MONEY_VARS)), dtype=np.float64)
    totals = np.zeros((n, len(kernel.TOTAL_VARS)), dtype=np.float64)
    kernel.run_paths(key, first, *inputs.args(scenario), counts, money, totals)
    return counts, money, totals


def assemble(scenario: Scenario, parts: list[ChunkResult], first_path: int = 0) -> xr.Dataset:
    """Join chunk results, in path order, into the run's Dataset."""
    arrays = [np.concatenate(a) for a in zip(*parts, strict=True)]
    dates = period_dates(scenario.run.start, scenario.periods)
    return build_dataset(scenario, dates, *arrays, first_path=first_path)


def simulate(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    years: float | None = None,
    threads: int | None = None,
    first_path: int = 0,
    progress: Callable[[int], None] | None = None,
) -> xr.Dataset:
    """Simulate ``paths`` paths of ``scenario`` and return them as a labelled Dataset.

    ``paths``, ``seed`` and ``years`` default to the scenario's ``[run]`` values. Path p's
    random numbers depend only on the seed and p: the first 100 paths of a 1000-path run
    equal a 100-path run, and ``first_path=p, paths=1`` replays path p alone. ``threads``
    defaults to all cores; ``progress`` is called with the number of paths done after each
    chunk.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> ds = simulate(load_scenario("scenarios/xianghubao.toml"), paths=10)  # doctest: +SKIP
    """
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in 1..{MAX_THREADS}, got {threads}")
    scenario = resolve(scenario, paths, seed, years)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads or MAX_THREADS)
    try:
        parts = []
        for first, stop in chunks(scenario, first_path):
            parts.append(run_chunk(scenario, first, stop))
            if progress is not None:
                progress(stop - first)
    finally:
        numba.set_num_threads(previous)
    return assemble(scenario, parts, first_path)
