"""Sweeps: one run per point of a grid of scenario fields, with common random numbers.

Every grid point is the base scenario with some fields replaced and the same seed and number
of paths, so differences between points come from the assumptions, not from sampling noise
(common random numbers). The runs are stacked along one dim per grid key.
"""

import datetime as dt
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from engine.distributed import Scheduler, connect
from engine.errors import InputError
from engine.results import engine_version
from engine.scenario import Scenario, ScenarioError
from engine.simulate import resolve, simulate

Reduce = Callable[[xr.Dataset], xr.Dataset]
"""What a sweep keeps of each run: a Dataset in, a (smaller) Dataset out."""

FIXED = {"run.paths": "paths=", "run.seed": "seed= (common random numbers)"}
"""Fields a grid cannot vary, and what sets them."""


def per_path(ds: xr.Dataset) -> xr.Dataset:
    """The default reduction: keep the per-path variables, drop those with a ``period`` dim."""
    return ds.drop_dims("period", errors="ignore")


def _set(data: dict[str, Any], key: str, value: Any) -> list[str]:
    """Set the dotted ``key`` in the nested ``data``; the problems if it names no field."""
    *parents, name = key.split(".")
    node = data
    for i, part in enumerate(parents):
        child = node.get(part)
        if not isinstance(child, dict):
            where = ".".join(parents[: i + 1])
            valid = ", ".join(k for k, v in node.items() if isinstance(v, dict))
            return [f"{key}: {where!r} is not a section; sections here: {valid}"]
        node = child
    if name not in node:
        return [f"{key}: unknown field {name!r}; valid: {', '.join(node)}"]
    node[name] = value.item() if isinstance(value, np.generic) else value
    return []


def replace_fields(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """The scenario with dotted fields replaced, e.g. ``{"population.members": 10**6}``.

    Raises
    ------
    ScenarioError
        Naming every unknown field or invalid value at once.

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> base = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 10}})
    >>> replace_fields(base, {"incidence.multiplier": 0.6}).incidence.multiplier
    0.6
    """
    data = scenario.model_dump()
    problems = [p for key, value in changes.items() for p in _set(data, key, value)]
    if problems:
        raise ScenarioError(problems, "grid")
    sections = {key.split(".")[0] for key in changes}
    return scenario.replace(**{name: data[name] for name in sections})


def _check_grid(grid: Mapping[str, Sequence[Any]]) -> list[str]:
    """Problems with the grid's keys and value lists, all at once."""
    problems = []
    dims: dict[str, str] = {}
    for key, values in grid.items():
        dim = key.split(".")[-1]
        if key in FIXED:
            problems.append(f"{key}: cannot be swept; it is set by {FIXED[key]}")
        if dim in ("path", "period") or dim in dims:
            other = dims.get(dim, dim)
            problems.append(f"{key}: its dim name {dim!r} clashes with {other!r}")
        dims[dim] = key
        if isinstance(values, str | bytes) or len(values) == 0:
            problems.append(f"{key}: expected a non-empty sequence of values, got {values!r}")
    return problems


def _build(base: Scenario, changes: Mapping[str, Any], problems: list[str]) -> Scenario:
    """``replace_fields(base, changes)``, adding its problems (once each) to ``problems``."""
    try:
        return replace_fields(base, changes)
    except ScenarioError as exc:
        problems += [p for p in exc.problems if p not in problems]
        return base


def _point(
    scenario: Scenario, reduce: Reduce, threads: int | None, dims: Sequence[str]
) -> xr.Dataset:
    """Run one grid point and reduce it; fail early if a kept variable is named like a dim."""
    ds = reduce(simulate(scenario, threads=threads))
    clash = [name for name in dims if name in ds.variables]
    if clash:
        raise InputError(
            f"reduce kept variables named like grid dims: {', '.join(clash)}; "
            "drop or rename them in reduce"
        )
    return ds


def _combine(parts: list[xr.Dataset], grid: Mapping[str, Sequence[Any]]) -> xr.Dataset:
    """Stack the runs (in ``itertools.product`` order) along one dim per grid key."""
    for key, values in reversed(list(grid.items())):
        coord = pd.Index(np.asarray(values), name=key.split(".")[-1])
        n = len(values)
        parts = [
            xr.concat(
                parts[i : i + n],
                dim=coord,
                data_vars="all",
                coords="minimal",
                compat="override",
                join="outer",
                combine_attrs="override",
            )
            for i in range(0, len(parts), n)
        ]
    (out,) = parts
    for key in grid:
        dim = key.split(".")[-1]
        out[dim].attrs.update(field=key, long_name=key)
    return out


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]],
    *,
    paths: int,
    seed: int | np.random.SeedSequence | None = None,
    reduce: Reduce | None = None,
    scheduler: Scheduler | None = None,
) -> xr.Dataset:
    """Simulate every point of a grid of scenario fields with the same seed.

    Parameters
    ----------
    scenario : Scenario
        The base scenario.
    grid : mapping of str to sequence
        Dotted field paths (``"population.members"``, ``"plan.cap_per_case"``,
        ``"discount_rate"``) to the values to try. Every combination is run.
    paths : int
        Paths per grid point.
    seed : int, SeedSequence or None
        The seed of every grid point (fresh entropy, fixed once, for None).
    reduce : callable, optional
        Dataset -> Dataset applied to each run (where it ran) before stacking; default
        :func:`per_path`, which drops the path x period arrays.
    scheduler : str or distributed.Client, optional
        None runs the points here, one after another, on all threads. Otherwise each point
        is a Dask task running ``simulate`` on one thread: ``"local"`` starts a
        ``LocalCluster`` with one single-threaded worker per core, an address like
        ``"tcp://host:8786"`` connects to a running scheduler, a ``Client`` is used as is.

    Returns
    -------
    xarray.Dataset
        One dim per grid key (named by its last component, coordinate the values, attr
        ``field`` the dotted key), then ``path`` and whatever ``reduce`` kept. Attrs: the base
        scenario (JSON), the grid (JSON), seed, paths and provenance.

    Raises
    ------
    ScenarioError
        An unknown field, a field that cannot vary, or a value that fails validation; every
        problem of every grid point at once, before anything runs.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> ds = sweep(
    ...     load_scenario("scenarios/xianghubao.toml"),
    ...     {"population.members": [3_240_000, 10_000_000], "plan.cap_per_case": [0.1, 1.0]},
    ...     paths=4,
    ... )
    >>> ds.liability_pv.mean("path").shape
    (2, 2)
    """
    reduce = per_path if reduce is None else reduce
    base = resolve(scenario, paths, seed)
    problems = _check_grid(grid)
    points: list[Scenario] = []
    for key, values in grid.items():  # each value alone, so that every bad one is named
        for value in values if key not in FIXED else ():
            _build(base, {key: value}, problems)
    if not problems:  # then every combination, for rules that tie fields together
        combos = itertools.product(*grid.values())
        points = [_build(base, dict(zip(grid, c, strict=True)), problems) for c in combos]
    if problems:
        raise ScenarioError(problems, "grid")
    dims = [key.split(".")[-1] for key in grid]
    if scheduler is None:
        parts = [_point(point, reduce, None, dims) for point in points]
    else:
        with connect(scheduler) as client:
            futures = client.map(_point, points, reduce=reduce, threads=1, dims=dims, pure=False)
            parts = client.gather(futures)
    out = _combine(parts, grid)
    out.attrs = {
        "title": f"huzhu sweep: {base.name}",
        "scenario": base.model_dump_json(),
        "grid": json.dumps({k: list(v) for k, v in grid.items()}, default=_jsonable),
        "paths": base.run.paths,
        "seed": str(base.run.seed),
        "chunk_size": base.run.chunk_size,
        "random_contract": "every grid point: path p draws from a stream seeded by (seed, p) only",
        "engine": "huzhu",
        "engine_version": engine_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return out


def _jsonable(value: Any) -> Any:
    """NumPy scalars and other values as JSON can hold them."""
    return value.item() if isinstance(value, np.generic) else str(value)
