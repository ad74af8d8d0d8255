"""The one orchestrator: scenario -> arrays -> kernel -> labelled results."""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd
import xarray as xr

from engine import kernel, streaming
from engine.checkpoint import Checkpoint
from engine.checks import check_finite
from engine.errors import InputError
from engine.expected import discount_factors
from engine.expected import hazard as annual_to_hazard
from engine.kernel_inputs import IPAR, PAR, KernelInputs, ipar_array, par_array
from engine.plans import PERIODS_PER_YEAR
from engine.results import build_dataset, build_stream_dataset
from engine.rng import root_key
from engine.scenario import Scenario
from engine.tables import AGES, AgeMix, age_weights, incidence_by_sex
from engine.variables import COUNT_VARS, MONEY_VARS, PATH_INT_VARS, TOTAL_VARS

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


def tenures(scenario: Scenario) -> tuple[int, int]:
    """(number of tenure states, number of eligible ones): seasoned, audit window, waiting."""
    window = scenario.selection.audit_window_periods
    return 1 + window + scenario.plan.waiting_periods, 1 + window


def _mix(mix: AgeMix, male_share: float, min_age: int, max_age: int) -> np.ndarray:
    """Weights [sex, age] summing to 1 over the plan's ages (uniform if the mix has none)."""
    inside = (AGES >= min_age) & (AGES <= max_age)
    ages = age_weights(mix) * inside
    if ages.sum() == 0:
        ages = inside.astype(float)
    weights = np.array([male_share, 1 - male_share])[:, None] * ages[None, :]
    return weights / weights.sum()


def initial_members(scenario: Scenario) -> np.ndarray:
    """Members at the start as ``[tenure, sex, age, class]``, with the exact total."""
    plan, pop = scenario.plan, scenario.population
    n_ten, n_elig = tenures(scenario)
    weights = _mix(pop.age_mix, pop.male_share, plan.min_age, plan.max_age)[:, :, None] * np.array(
        [1 - pop.impaired_share, pop.impaired_share]
    )
    tenure = np.zeros(n_ten)
    waiting = n_ten - n_elig
    tenure[0] = 1 - pop.waiting_share if waiting else 1.0
    tenure[n_elig:] = pop.waiting_share / max(waiting, 1)
    return allocate(pop.members, tenure[:, None, None, None] * weights[None])


def mean_age(scenario: Scenario) -> float:
    """Mean age of the starting members (after the integer allocation).

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> round(mean_age(load_scenario("scenarios/xianghubao.toml")), 2)
    33.36
    """
    by_age = initial_members(scenario).sum(axis=(0, 1, 3))
    return float((by_age * AGES).sum() / by_age.sum()) if by_age.sum() else float("nan")


def duration_factors(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """(factor by tenure, factor by duration slot of tenure 0) of the incidence's duration
    factors: a member ``d`` periods from joining is in policy year
    ``d // PERIODS_PER_YEAR + 1``. Slots hold tenure-0 members ``entry + j`` periods from
    joining until the last factor's year."""
    n_ten, _ = tenures(scenario)
    factors = scenario.incidence.duration_factors
    if not factors:
        return np.ones(n_ten), np.ones(0)
    entry, last = n_ten - 1, len(factors) - 1
    year = np.minimum(np.arange(max(0, PERIODS_PER_YEAR * last)) // PERIODS_PER_YEAR, last)
    by_tenure = np.array([factors[last]] + [factors[year[entry - w]] for w in range(1, n_ten)])
    return by_tenure, np.array([factors[y] for y in year[entry:]], dtype=float)


def initial_durations(scenario: Scenario, members0: np.ndarray) -> np.ndarray:
    """Tenure-0 starting members by duration slot ``[slot, sex, age, class]``: the shares of
    ``population.duration_mix`` by policy year, spread evenly over the year's durations past
    the joiners' tenure (the last year's share is past the select period, not kept)."""
    slots = duration_factors(scenario)[1].size
    out = np.zeros((slots, *members0.shape[1:]), dtype=np.int64)
    mix = scenario.population.duration_mix
    if mix is None or slots == 0:
        return out
    entry = members0.shape[0] - 1
    weights = np.zeros(slots + 1)
    weights[slots] = mix[-1]
    for y, share in enumerate(mix[:-1]):
        first, stop = max(entry, PERIODS_PER_YEAR * y), PERIODS_PER_YEAR * (y + 1)
        weights[first - entry : stop - entry] += share / (stop - first)
    for s, a, c in zip(*np.nonzero(members0[0]), strict=True):
        out[:, s, a, c] = allocate(int(members0[0, s, a, c]), weights)[:slots]
    return out


def joiners_expected(scenario: Scenario) -> np.ndarray:
    """Expected joiners per period from the growth curve (before the price response)."""
    g, t = scenario.growth, np.arange(scenario.periods, dtype=float)
    if g.curve == "constant":
        return np.full(t.size, g.joiners)
    if g.curve == "decay":
        return g.joiners * 0.5 ** (t / (PERIODS_PER_YEAR * g.half_life_years))
    if g.curve == "logistic":
        adopted = g.capacity / (
            1
            + np.exp(
                -g.rate_per_year * (np.arange(t.size + 1) / PERIODS_PER_YEAR - g.midpoint_years)
            )
        )
        return np.diff(adopted)
    if g.curve == "table":
        table = np.asarray(g.table, dtype=float)
        return table[np.minimum(t.astype(int), table.size - 1)]
    return np.zeros(t.size)


GOMPERTZ = (5e-5, 0.09)
"""Annual mortality ``a * exp(b * age)`` used when ``exits.mortality`` is on."""


def period_dates(start: Any, periods: int) -> pd.DatetimeIndex:
    """Start dates of semi-monthly periods (1st and 15th of each month) from ``start`` on."""
    return pd.date_range(pd.Timestamp(start), periods=periods, freq="SMS")


def reference_share(scenario: Scenario, members0: np.ndarray, hazard: np.ndarray) -> float:
    """The exits' reference share: the starting pool's expected share a period, fees included."""
    if scenario.exits.reference_share is not None:
        return scenario.exits.reference_share
    pool = members0.sum(axis=0)
    with np.errstate(invalid="ignore"):  # empty cohorts with certain illness: 0 * inf
        claims = np.where(pool > 0, np.minimum(pool * hazard, pool), 0.0)
    cost = float((claims * scenario.plan.case_cost_by_age(scenario.tier)[:, None]).sum())
    member_fee = scenario.plan.tier_fee(scenario.tier).per_member_month / 2
    return cost / pool.sum() + member_fee if pool.sum() else 0.0


def _regime(scenario: Scenario, members0: np.ndarray, ref_share: float | None) -> KernelInputs:
    """The kernel's arrays and parameters of one scenario (one regime of a run)."""
    plan, inc, sel, ex = scenario.plan, scenario.incidence, scenario.selection, scenario.exits
    q = incidence_by_sex(inc.table)[:, :, None] * inc.multiplier
    hazard = np.ascontiguousarray(annual_to_hazard(q * np.array([1.0, inc.impaired_multiplier])))
    periods = scenario.periods
    dates = period_dates(scenario.run.start, periods)
    t = np.arange(periods)
    years = pd.DatetimeIndex(dates).year.to_numpy()
    new_year = np.ones(periods, dtype=np.bool_)
    new_year[1:] = years[1:] != years[:-1]
    n_ten, n_elig = tenures(scenario)
    approval = np.full(n_ten, scenario.claims.approval_rate)
    approval[1:n_elig] *= 1 - sel.window_rejection
    mortality = np.zeros((2, AGES.size))
    if ex.mortality:
        a, b = GOMPERTZ
        mortality[:] = annual_to_hazard(np.minimum(a * np.exp(b * AGES), 1.0))
    term = scenario.termination
    par = _par(scenario, members0, hazard, ref_share)
    ipar = _ipar(scenario, dates)
    closure_p = np.zeros(periods)
    if term.hazard_per_year > 0:
        closure_p[max(period_of(dates, term.hazard_from), 0) :] = -np.expm1(
            np.log1p(-term.hazard_per_year) / PERIODS_PER_YEAR
        )
    tenure_factor, slot_factor = duration_factors(scenario)
    launched = scenario.population.members >= scenario.policy.min_launch_members
    return KernelInputs(
        members0=members0 if launched else np.zeros_like(members0),
        hazard=hazard,
        approval=approval,
        benefit=plan.benefit_by_age(scenario.tier),
        case_cost=plan.case_cost_by_age(scenario.tier),
        base_exit=ex.base_rate / PERIODS_PER_YEAR + mortality,
        mortality=mortality,
        join_weights=_mix(
            scenario.growth.age_mix, scenario.growth.male_share, plan.min_age, plan.max_age
        ),
        join_expected=joiners_expected(scenario) * launched,
        age_up=(t + 1) % PERIODS_PER_YEAR == 0,
        new_year=new_year,
        discount=discount_factors(scenario.discount_rate, periods),
        par=par,
        ipar=ipar,
        dates=dates,
        durations0=initial_durations(scenario, members0 if launched else 0 * members0),
        tenure_factor=tenure_factor,
        slot_factor=slot_factor,
        incidence_factor=(1.0 + scenario.incidence.trend_per_year) ** (t / PERIODS_PER_YEAR),
        closure_p=closure_p,
        regime=np.zeros(periods, dtype=np.int64),
    )


def _par(
    scenario: Scenario, members0: np.ndarray, hazard: np.ndarray, ref_share: float | None
) -> np.ndarray:
    """The float parameters of one regime (engine.kernel_inputs.Params), per period."""
    plan, inc, sel, ex = scenario.plan, scenario.incidence, scenario.selection, scenario.exits
    term, ded = scenario.termination, scenario.deduction
    fee = plan.tier_fee(scenario.tier)
    prepay = plan.tier_prepayment(scenario.tier)
    return par_array(
        cap_case=plan.cap_per_case,
        cap_period=min(plan.cap_per_period, scenario.policy.max_share),
        cap_year=plan.cap_per_year,
        member_fee=fee.per_member_month * 12 / PERIODS_PER_YEAR,
        failure_rate=ded.failure_rate,
        recovery_rate=ded.recovery_rate,
        prepay=prepay,
        min_balance=plan.min_balance,
        topup=ex.topup_probability,
        ref_share=(
            reference_share(scenario, members0, hazard)
            if ex.reference_share is not None or ref_share is None
            else ref_share
        ),
        price_rate=ex.price_rate / PERIODS_PER_YEAR,
        elasticity_standard=ex.elasticity_standard,
        elasticity_impaired=ex.elasticity_impaired,
        join_elasticity=scenario.growth.price_elasticity,
        impaired_share=sel.impaired_share,
        impaired_sensitivity=sel.price_sensitivity,
        fixed_cost=scenario.platform.fixed_cost,
        cost_per_case=scenario.platform.cost_per_case,
        cost_per_joiner=scenario.platform.cost_per_joiner,
        tilt=scenario.run.tilt,
        reserve=scenario.policy.reserve,
        reserve_trigger=scenario.policy.reserve_trigger,
        reserve_rate=scenario.policy.reserve_rate,
        transfer_cost=scenario.policy.transfer_cost,
        incidence=1.0,
        multiplier_sd=inc.multiplier_sd_log,
        trend_sd=inc.trend_sd,
        dispersion=inc.period_dispersion,
        shock_rate=inc.shock_per_year / PERIODS_PER_YEAR,
        shock_size=inc.shock_size,
        failure_sd=ded.failure_rate_sd,
        backpay=ded.backpay_rate,
        claims_rush=term.claims_rush,
    )


def _ipar(scenario: Scenario, dates: pd.DatetimeIndex) -> np.ndarray:
    """The fixed integer rules of one regime (engine.kernel_inputs.Rules)."""
    plan, inc, ex = scenario.plan, scenario.incidence, scenario.exits
    term, ded = scenario.termination, scenario.deduction
    _, n_elig = tenures(scenario)
    return ipar_array(
        lag=scenario.claims.payment_lag,
        notice=term.notice_periods,
        max_age=plan.max_age,
        n_elig=n_elig,
        waiting_share=scenario.waiting_members_share,
        claimants_leave=scenario.claims.claimants_leave,
        min_members=scenario.min_members,
        exits_on=ex.base_rate > 0 or ex.price_rate > 0 or ex.mortality,
        mortality_on=ex.mortality,
        transfer=scenario.policy.transfer_at_closure,
        pay_notice=term.members_pay_notice,
        announce=period_of(dates, term.announce_on),
        hazard_on=term.hazard_per_year > 0,
        remove_after=ded.remove_after or 0,
        arrears_on=ded.arrears,
        duration_on=bool(inc.duration_factors),
    )


def period_of(dates: pd.DatetimeIndex, day: Any) -> int:
    """Index of the period containing ``day`` (-1 for None or a day after the horizon)."""
    if day is None:
        return -1
    t = int(np.searchsorted(dates.to_numpy(), np.datetime64(day), side="right")) - 1
    end = dates[-1] + pd.offsets.SemiMonthBegin() if len(dates) else None
    return t if end is not None and pd.Timestamp(day) < end else -1


def prepare(scenario: Scenario) -> KernelInputs:
    """Derive the kernel's arrays from a validated scenario, one regime per dated change."""
    members0 = initial_members(scenario)
    base = _regime(scenario, members0, None)
    if not scenario.events:
        return base
    order = sorted(range(len(scenario.events)), key=lambda i: (scenario.events[i].date, i))
    regime = base.regime.copy()
    join_expected = base.join_expected.copy()
    ipar = base.ipar.copy()
    later = []
    for i in order:
        start = period_of(base.dates, scenario.events[i].date)
        if start < 0:
            continue  # after the horizon
        variant = _regime(scenario.after_event(i), members0, float(base.par[PAR["ref_share"]]))
        later.append(variant)
        regime[start:] = len(later)
        join_expected[start:] = variant.join_expected[start:]
        for flag in (IPAR["exits_on"], IPAR["mortality_on"]):
            ipar[flag] |= variant.ipar[flag]
    return dataclasses.replace(
        base, regime=regime, join_expected=join_expected, ipar=ipar, later=tuple(later)
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

    A ``SeedSequence`` is recorded as its entropy (``run.seed``) and spawn key
    (``run.spawn_key``), so the children of one ``spawn`` give different runs; an integer
    seed is a root seed (empty spawn key). The resolved scenario alone determines every
    number of the run.
    """
    changes: dict[str, Any] = {"paths": paths, "years": years}
    if isinstance(seed, np.random.SeedSequence):
        changes.update(seed=root_key(seed)[1], spawn_key=tuple(int(k) for k in seed.spawn_key))
    elif seed is not None:
        changes.update(seed=seed, spawn_key=())
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        scenario = scenario.replace(run=changes)
    if scenario.run.seed is None:
        scenario = scenario.replace(run={"seed": root_key(None)[1], "spawn_key": ()})
    return scenario


def run_key(scenario: Scenario) -> np.ndarray:
    """The key of a resolved scenario's paths: its seed's entropy and spawn key."""
    run = scenario.run
    if run.seed is None:
        raise InputError("run.seed: resolve the scenario first (simulate.resolve)")
    return root_key(np.random.SeedSequence(run.seed, spawn_key=run.spawn_key))[0]


def chunks(scenario: Scenario, first_path: int = 0) -> list[tuple[int, int]]:
    """The (first, stop) path ranges of a run, ``run.chunk_size`` paths each."""
    stop, size = first_path + scenario.run.paths, scenario.run.chunk_size
    return [(first, min(first + size, stop)) for first in range(first_path, stop, size)]


def run_chunk(
    scenario: Scenario, first: int, stop: int, inputs: KernelInputs | None = None
) -> ChunkResult:
    """Simulate paths ``first..stop-1`` of a resolved scenario.

    ``inputs`` are the kernel inputs, prepared once for the whole run (``prepare(scenario)``
    when left out, or inputs derived from them: another incidence, say). Returns (counts,
    money, totals, path_ints), laid out as ``engine.variables`` declares.
    """
    inputs = prepare(scenario) if inputs is None else inputs
    n, periods = stop - first, scenario.periods
    counts = np.zeros((n, periods, len(COUNT_VARS)), dtype=np.int64)
    money = np.zeros((n, periods, len(MONEY_VARS)), dtype=np.float64)
    totals = np.zeros((n, len(TOTAL_VARS)), dtype=np.float64)
    path_ints = np.zeros((n, len(PATH_INT_VARS)), dtype=np.int64)
    kernel.run_paths(run_key(scenario), first, *inputs.args(), counts, money, totals, path_ints)
    return counts, money, totals, path_ints


def assemble(scenario: Scenario, parts: list[ChunkResult], first_path: int = 0) -> xr.Dataset:
    """Join chunk results, in path order, into the run's Dataset."""
    arrays = [np.concatenate(a) for a in zip(*parts, strict=True)]
    dates = period_dates(scenario.run.start, scenario.periods)
    return build_dataset(scenario, dates, *arrays, first_path=first_path)


Arrays = dict[str, np.ndarray]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Per-period quantiles kept in streaming mode."""


class FullCollector:
    """Keeps every chunk's arrays: path x period outputs for inspection."""

    def __init__(self) -> None:
        self.parts: list[ChunkResult] = []

    def reduce(self, part: ChunkResult) -> Arrays:
        """What a chunk leaves behind (and what a checkpoint stores)."""
        return dict(zip(("counts", "money", "totals", "path_ints"), part, strict=True))

    def add(self, arrays: Arrays) -> None:
        self.parts.append(
            (arrays["counts"], arrays["money"], arrays["totals"], arrays["path_ints"])
        )

    def finish(self, scenario: Scenario, first_path: int) -> xr.Dataset:
        return assemble(scenario, self.parts, first_path)


class StreamingCollector:
    """Keeps per-period summaries and per-path totals: memory does not grow with the paths
    beyond the totals (see engine.streaming)."""

    def __init__(self, quantiles: tuple[float, ...] = QUANTILES) -> None:
        self.quantiles = quantiles
        self.edges: np.ndarray | None = None
        self.summary: streaming.Summary | None = None
        self.totals: list[np.ndarray] = []
        self.path_ints: list[np.ndarray] = []

    def reduce(self, part: ChunkResult) -> Arrays:
        counts, money, totals, path_ints = part
        values = streaming.stack(counts, money)
        if self.edges is None:
            self.edges = streaming.edges_from(values)
        s = streaming.Summary.of_chunk(values, self.edges)
        return {
            "n": np.array(s.n),
            "mean": s.mean,
            "m2": s.m2,
            "hist": s.hist,
            "low": s.low,
            "high": s.high,
            "edges": self.edges,
            "totals": totals,
            "path_ints": path_ints,
        }

    def add(self, arrays: Arrays) -> None:
        if self.edges is None:
            self.edges = arrays["edges"]
        names = ("mean", "m2", "hist", "low", "high")
        s = streaming.Summary(int(arrays["n"]), *(arrays[k] for k in names))
        self.summary = s if self.summary is None else self.summary.merge(s)
        self.totals.append(arrays["totals"])
        self.path_ints.append(arrays["path_ints"])

    def finish(self, scenario: Scenario, first_path: int) -> xr.Dataset:
        assert self.summary is not None and self.edges is not None
        dates = period_dates(scenario.run.start, scenario.periods)
        return build_stream_dataset(
            scenario,
            dates,
            self.summary,
            self.summary.quantiles(self.quantiles, self.edges),
            self.quantiles,
            np.concatenate(self.totals),
            np.concatenate(self.path_ints),
            first_path=first_path,
        )


def simulate(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    years: float | None = None,
    threads: int | None = None,
    first_path: int = 0,
    progress: Callable[[int], None] | None = None,
    mode: Literal["full", "streaming"] = "full",
    quantiles: tuple[float, ...] = QUANTILES,
    checkpoint: str | Path | None = None,
) -> xr.Dataset:
    """Simulate ``paths`` paths of ``scenario`` and return them as a labelled Dataset.

    Path p's random numbers depend only on the seed and p: the first 100 paths of a
    1000-path run equal a 100-path run, and ``first_path=p, paths=1`` replays path p alone,
    for any threads, chunks or workers.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario (:func:`engine.scenario.load_scenario`).
    paths : int, optional
        Number of paths; the scenario's ``run.paths`` by default.
    seed : int or numpy.random.SeedSequence, optional
        The run's seed (a sequence is recorded with its spawn key); the scenario's
        ``run.seed`` by default, fresh entropy if that is unset too. Recorded in the result.
    years : float, optional
        Horizon in years; the scenario's ``run.years`` by default.
    threads : int, optional
        Threads of the kernel; all cores by default.
    first_path : int, optional
        Index of the first path (to extend or replay part of a run).
    progress : callable, optional
        Called with the number of paths done after each chunk.
    mode : {"full", "streaming"}, optional
        ``"full"`` keeps every path x period array; ``"streaming"`` keeps per-period means,
        standard deviations and ``quantiles`` (dim ``statistic``) and the per-path totals,
        so memory does not grow with the paths beyond the totals.
    quantiles : tuple of float, optional
        Per-period quantiles kept in streaming mode.
    checkpoint : str or Path, optional
        A directory where completed chunks are saved; a rerun with the same arguments
        resumes from them (:mod:`engine.checkpoint`).

    Returns
    -------
    xarray.Dataset
        Dims ``path`` and ``period`` (dates as coordinates): every variable of
        ``engine.variables`` with its units and description, the scenario and seed in the
        attributes.

    Raises
    ------
    InputError
        On a bad argument, or a full-mode run too large for the memory available.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> ds = simulate(load_scenario("scenarios/xianghubao.toml"), paths=10, years=1)
    >>> dict(ds.sizes)
    {'path': 10, 'period': 24}
    """
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise InputError(f"threads must be in 1..{MAX_THREADS}, got {threads}")
    if mode not in ("full", "streaming"):
        raise InputError(f"mode must be 'full' or 'streaming', got {mode!r}")
    if not all(0 <= q <= 1 for q in quantiles):
        raise InputError(f"quantiles must lie in [0, 1], got {quantiles}")
    scenario = resolve(scenario, paths, seed, years)
    if mode == "streaming" and scenario.run.tilt != 0:
        raise InputError(
            f"run.tilt: {scenario.run.tilt:g} needs mode 'full': streaming keeps unweighted "
            "per-period statistics, which would describe the tilted model"
        )
    if mode == "full":
        _check_memory(scenario)
    store = Checkpoint(checkpoint, scenario, first_path, mode) if checkpoint else None
    collector = FullCollector() if mode == "full" else StreamingCollector(quantiles)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads or MAX_THREADS)
    inputs = None  # prepared once, when the first chunk is simulated
    try:
        for first, stop in chunks(scenario, first_path):
            arrays = store.load(first, stop) if store else None
            if arrays is None:
                inputs = prepare(scenario) if inputs is None else inputs
                arrays = collector.reduce(run_chunk(scenario, first, stop, inputs))
                if store:
                    store.save(first, stop, arrays)
            collector.add(arrays)
            if progress is not None:
                progress(stop - first)
    finally:
        numba.set_num_threads(previous)
    ds = collector.finish(scenario, first_path)
    check_finite(ds)
    return ds


def _check_memory(scenario: Scenario) -> None:
    """Refuse a full-mode run whose path x period arrays cannot fit in the memory this
    process may use (:func:`memory_limit`)."""
    per_path = scenario.periods * (len(COUNT_VARS) + len(MONEY_VARS)) * 8
    need = 2 * scenario.run.paths * per_path  # the chunks, then the joined arrays
    limit = memory_limit()
    if limit is None:
        return
    have, where = limit
    if need > 0.8 * have:
        raise InputError(
            f"paths: {scenario.run.paths:,} paths x {scenario.periods} periods need about "
            f"{need / 2**30:,.1f} GiB in full mode, more than the {have / 2**30:,.1f} GiB of "
            f"{where}: use mode='streaming' (--mode streaming) or fewer paths"
        )


CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
"""cgroup v2 and v1 memory limits of this process's container."""


def memory_limit() -> tuple[int, str] | None:
    """The smallest of the machine's memory, the address-space limit (``ulimit -v``) and
    the cgroup memory limit, with what sets it; None when none can be read."""
    limits: list[tuple[int, str]] = []
    try:
        limits.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine"))
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append((int(soft), "the address-space limit (ulimit -v)"))
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    for path in CGROUP_LIMITS:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge value: no limit
            limits.append((int(text), f"the cgroup memory limit ({path})"))
    return min(limits) if limits else None
