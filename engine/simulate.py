"""The one orchestrator: scenario -> arrays -> kernel -> labelled results."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import xarray as xr

from engine import kernel, streaming
from engine.checkpoint import Checkpoint
from engine.checks import check_finite
from engine.errors import InputError
from engine.kernel_inputs import KernelInputs
from engine.results import build_dataset, build_stream_dataset
from engine.rng import root_key
from engine.scenario import Scenario
from engine.scenario_inputs import period_dates, prepare
from engine.sections import TILTS
from engine.variables import COUNT_VARS, MONEY_VARS, PATH_INT_VARS, TOTAL_VARS

MAX_THREADS: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]


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
    if mode == "streaming" and scenario.run.tilted:
        raise InputError(
            ", ".join(f"run.{name}: {getattr(scenario.run, name):g}" for name in TILTS)
            + " need mode 'full': streaming keeps unweighted per-period statistics, which "
            "would describe the tilted model"
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
