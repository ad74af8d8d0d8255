"""Kernel throughput, and the kernel against a NumPy step, the bare sampling bound and itself.

Scenario: the bundled ``xianghubao.toml`` over 1 year (24 periods). A draw is one cohort in
one period: draws = paths x periods x eligible cohorts with members at the start.
"""

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numba
import numpy as np
import pytest

from benchmarks.bound import bare_draws, cohort_means
from benchmarks.figures import RESULTS_DIR, THREADS, CpuTimed
from benchmarks.numpy_step import numpy_paths
from engine import kernel, kernel_steps
from engine.kernel_inputs import N_ELIG
from engine.rng import root_key
from engine.scenario import load_scenario
from engine.scenario_inputs import prepare
from engine.simulate import run_chunk

SCENARIO = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 1})
INPUTS = prepare(SCENARIO)
KEY, _ = root_key(SCENARIO.run.seed)
LAM = cohort_means(INPUTS)
COHORTS = int(np.count_nonzero(INPUTS.members0[: INPUTS.ipar[N_ELIG]]))
PERIODS = SCENARIO.periods
LARGE = 100_000
KEPT: dict[str, Any] = {}  # the kernel's 10^5-path outputs, for the NumPy agreement check


def draws(paths: int) -> int:
    return paths * PERIODS * COHORTS


def one_thread(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` with numba on one thread."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(previous)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    run_chunk(SCENARIO, 0, 64)
    bare_draws(KEY, 0, LAM, PERIODS, np.zeros(64, dtype=np.int64))
    numpy_paths(INPUTS, 64, seed=0)


@pytest.mark.parametrize("paths, rounds", [(1_000, 10), (10_000, 3), (LARGE, 3)])
def test_kernel(benchmark, record, paths, rounds):
    timed = CpuTimed(run_chunk)
    out = benchmark.pedantic(timed, args=(SCENARIO, 0, paths), rounds=rounds, iterations=1)
    if paths == LARGE:
        KEPT["kernel"] = out
    entry = record(f"kernel {paths}", timed, threads=THREADS, paths=paths, draws=draws(paths))
    print(f"\n{paths:,} paths: {entry['draws_per_s'] / 1e6:.1f} million cohort-period draws/s")


def test_kernel_one_thread(benchmark, record):
    timed = CpuTimed(one_thread)
    benchmark.pedantic(timed, args=(run_chunk, SCENARIO, 0, LARGE), rounds=1, iterations=1)
    record(f"kernel 1 thread {LARGE}", timed, threads=1, paths=LARGE, draws=draws(LARGE))


def test_numpy_reference(benchmark, record, note):
    timed = CpuTimed(numpy_paths)
    out = benchmark.pedantic(timed, args=(INPUTS, LARGE, 1), rounds=1, iterations=1)
    record(f"numpy {LARGE}", timed, threads=1, paths=LARGE, draws=draws(LARGE))
    theirs = KEPT.get("kernel") or run_chunk(SCENARIO, 0, LARGE)
    figures = {}
    for name, kind in (("claims", "counts"), ("liability_pv", "totals")):
        if kind == "counts":
            i = kernel.COUNT_VARS.index(name)
            a, b = out[0][:, :, i].sum(axis=1), theirs[0][:, :, i].sum(axis=1)
        else:
            i = kernel.TOTAL_VARS.index(name)
            a, b = out[2][:, i], theirs[2][:, i]
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        figures[f"z_{name}"] = float((a.mean() - b.mean()) / se)
        figures[f"mean_{name}_numpy"], figures[f"mean_{name}_kernel"] = a.mean(), b.mean()
    note("numpy agreement", **figures)
    assert abs(figures["z_claims"]) < 4, figures


def test_bare_sampling_bound(benchmark, record):
    out = np.zeros(LARGE, dtype=np.int64)
    timed = CpuTimed(bare_draws)
    benchmark.pedantic(timed, args=(KEY, 0, LAM, PERIODS, out), rounds=3, iterations=1)
    record(f"bound {LARGE}", timed, threads=THREADS, paths=LARGE, draws=draws(LARGE))
    per_path = LAM.sum() * PERIODS
    assert abs(out.mean() - per_path) < 4 * np.sqrt(per_path / LARGE)


def _without_draws(module: ModuleType, name: str, steps: str | None = None) -> ModuleType:
    """A copy of ``module`` named ``name`` whose Poisson draws are replaced by their rounded
    means; with ``steps``, importing its steps from that copy of ``engine.kernel_steps``."""
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    line = re.search(r"^from engine\.rng import (.+)$", source, re.MULTILINE)
    names = [] if line is None else [n.strip() for n in line.group(1).split(",")]
    if line is None or "poisson" not in names:
        pytest.skip(f"{module.__name__} no longer imports poisson from engine.rng in one line")
    names.remove("poisson")
    stub = f"from engine.rng import {', '.join(names)}\n"
    stub += "from benchmarks.bound import mean_count as poisson"
    source = source.replace(line.group(0), stub)
    if steps is not None:
        source = source.replace("from engine.kernel_steps import", f"from {steps} import")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        path.write_text(source, encoding="utf-8")  # rewritten only on change: numba caches it
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = copy  # importable by name, as numba's cache needs
    spec.loader.exec_module(copy)
    return copy


def kernel_without_draws() -> ModuleType:
    """A copy of ``engine.kernel`` and its steps whose Poisson draws are their rounded means."""
    steps = _without_draws(kernel_steps, "kernel_steps_without_draws")
    return _without_draws(kernel, "kernel_without_draws", steps.__name__)


def test_kernel_without_draws(benchmark, record):
    stub = kernel_without_draws()
    paths = 10_000
    n = [len(v) for v in (stub.COUNT_VARS, stub.MONEY_VARS, stub.TOTAL_VARS, stub.PATH_INT_VARS)]
    outs = [
        np.zeros((paths, PERIODS, n[0]), dtype=np.int64),
        np.zeros((paths, PERIODS, n[1])),
        np.zeros((paths, n[2])),
        np.zeros((paths, n[3]), dtype=np.int64),
    ]

    def run() -> None:
        stub.run_paths(KEY, 0, *INPUTS.args(), *outs)

    run()  # compiles the copy
    timed = CpuTimed(run)
    benchmark.pedantic(timed, rounds=3, iterations=1)
    record(f"kernel without draws {paths}", timed, threads=THREADS, paths=paths)
