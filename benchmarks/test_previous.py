"""The kernel against the kernel before per-period parameters, dated closure, duration and
arrears: the bundled ``xianghubao.toml`` over one year, both on the same inputs.

The previous kernel is read from git (``PREVIOUS``) into ``benchmarks/results/``; without
git or that commit the benchmark is skipped.
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
from engine.rng import root_key
from engine.scenario import load_scenario
from engine.simulate import prepare

PREVIOUS = "fed159820dcb55fa3e3a96482d9b19d7e8da256b"
"""The last commit with the kernel of 24 float and 10 int parameters."""

SCENARIO = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 1})
DURATION = SCENARIO.replace(
    incidence={"duration_factors": (0.4, 0.8, 1.0)}, population={"duration_mix": (0.3, 0.3, 0.4)}
)
KEY, _ = root_key(SCENARIO.run.seed)
PATHS = 1_000


def previous_kernel() -> ModuleType:
    """The kernel module of ``PREVIOUS``, importable by name (numba caches it)."""
    root = Path(kernel.__file__).parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{PREVIOUS}:engine/kernel.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"the previous kernel ({PREVIOUS[:7]}) is not in this checkout's git")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "kernel_previous.py"
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


@pytest.mark.parametrize("which", ["previous", "default", "duration"])
def test_against_previous_kernel(benchmark, record, which):
    if which == "previous":
        module, args = previous_kernel(), previous_args()
    else:
        module, args = kernel, prepare(SCENARIO if which == "default" else DURATION).args()
    outs = outputs(module)

    def run() -> None:
        module.run_paths(KEY, 0, *args, *outs)

    run()  # compiles or loads the cache
    timed = CpuTimed(run)
    benchmark.pedantic(timed, rounds=5, iterations=1)
    record(f"{which} kernel {PATHS}", timed, threads=THREADS, paths=PATHS)
    if which == "default":  # same numbers as the previous kernel
        old = outputs(kernel_previous := previous_kernel())
        kernel_previous.run_paths(KEY, 0, *previous_args(), *old)
        np.testing.assert_array_equal(outs[0][:, :, : old[0].shape[2]], old[0])
        np.testing.assert_array_equal(outs[1][:, :, : old[1].shape[2]], old[1])
