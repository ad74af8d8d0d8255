"""The kernel against older kernels on the same inputs: the bundled ``xianghubao.toml``
over one year.

``PREVIOUS`` is the kernel before per-period parameters, dated closure, duration and
arrears; ``POSITIONAL`` the last kernel of positional arrays and ``par``/``ipar`` parameters,
before named inputs and the split into steps. Each is read from git into
``benchmarks/results/``; without git or the commit the benchmark is skipped.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from benchmarks.figures import RESULTS_DIR, THREADS, CpuTimed
from engine import kernel
from engine.kernel_inputs import Inputs
from engine.rng import root_key
from engine.scenario import load_scenario
from engine.scenario_inputs import prepare
from engine.variables import VARIABLES

PREVIOUS = "fed159820dcb55fa3e3a96482d9b19d7e8da256b"
"""The last commit with the kernel of 24 float and 10 int parameters."""
POSITIONAL = "fae7e0e2fff5c46852c5cfe8662c4bd62c17d648"
"""The last commit with a kernel of 21 positional arrays, ``table`` and ``ipar``."""

SCENARIO = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 1})
DURATION = SCENARIO.replace(
    incidence={"duration_factors": (0.4, 0.8, 1.0)}, population={"duration_mix": (0.3, 0.3, 0.4)}
)
KEY, _ = root_key(SCENARIO.run.seed)
PATHS = 1_000


def previous_kernel(commit: str = PREVIOUS) -> ModuleType:
    """The kernel module of ``commit``, importable by name (numba caches it)."""
    root = Path(kernel.__file__).parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:engine/kernel.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"the kernel of {commit[:7]} is not in this checkout's git")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / ("kernel_previous.py" if commit == PREVIOUS else "kernel_positional.py")
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def outputs(module: Any) -> list[np.ndarray]:
    n = [len(module.COUNT_VARS), len(module.MONEY_VARS), len(module.TOTAL_VARS)]
    n.append(len(module.PATH_INT_VARS))
    periods = SCENARIO.periods
    return [
        np.zeros((PATHS, periods, n[0]), dtype=np.int64),
        np.zeros((PATHS, periods, n[1])),
        np.zeros((PATHS, n[2])),
        np.zeros((PATHS, n[3]), dtype=np.int64),
    ]


def previous_args() -> tuple[np.ndarray, ...]:
    """The previous kernel's arguments: the start regime's arrays, 24 + 10 parameters."""
    i = prepare(SCENARIO)
    names = ("members0", "hazard", "approval", "benefit", "case_cost", "base_exit")
    names += ("mortality", "join_weights", "join_expected", "age_up", "new_year", "discount")
    return (*(getattr(i, n) for n in names), i.par[:24].copy(), i.ipar[:10].copy())


def positional_args(scenario: Any) -> tuple[np.ndarray, ...]:
    """The positional kernel's arguments, from ``members0`` to ``closure_p``."""
    inputs, _, _ = (i := prepare(scenario)).args()
    head = [getattr(inputs, name) for name in Inputs._fields[:14]]
    return (*head, i.table(), i.ipar, i.tenure_factor, i.slot_factor, i.closure_p)


def same_numbers(module: Any, outs: list[np.ndarray], old: list[np.ndarray]) -> None:
    """The older kernel's outputs equal the kernel's, variable by variable (by name)."""
    for names, new_names, a, b in (
        (module.COUNT_VARS, kernel.COUNT_VARS, outs[0], old[0]),
        (module.MONEY_VARS, kernel.MONEY_VARS, outs[1], old[1]),
    ):
        for j, name in enumerate(names):
            source = VARIABLES[name].same_as or name
            np.testing.assert_array_equal(a[:, :, new_names.index(source)], b[:, :, j], name)


@pytest.mark.parametrize("which", ["previous", "positional", "default", "duration"])
def test_against_previous_kernel(benchmark, record, which):
    scenario = DURATION if which == "duration" else SCENARIO
    if which == "previous":
        module, args = previous_kernel(), previous_args()
    elif which == "positional":
        module, args = previous_kernel(POSITIONAL), positional_args(scenario)
    else:
        module, args = kernel, prepare(scenario).args()
    outs = outputs(module)

    def run() -> None:
        module.run_paths(KEY, 0, *args, *outs)

    run()  # compiles or loads the cache
    timed = CpuTimed(run)
    benchmark.pedantic(timed, rounds=5, iterations=1)
    record(f"{which} kernel {PATHS}", timed, threads=THREADS, paths=PATHS)
    if which == "default":  # same numbers as the older kernels
        for old_module, old_args in (
            (previous_kernel(), previous_args()),
            (previous_kernel(POSITIONAL), positional_args(scenario)),
        ):
            old = outputs(old_module)
            old_module.run_paths(KEY, 0, *old_args, *old)
            same_numbers(old_module, outs, old)
