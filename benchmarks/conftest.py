"""Benchmarks run apart from the tests: ``pytest benchmarks``.

Every benchmark warms the JIT first and records its figures under a name
(``benchmarks.figures``). At the end of the session the ratios of this run are compared with
the goals, printed as a table and saved with the raw figures to
``benchmarks/results/latest.json``.
"""

import datetime as dt
import json
import os
import platform
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest

from benchmarks.figures import RESULTS, RESULTS_DIR, THREADS, CpuTimed, goals, table

collect_ignore = ["results"]  # output, including a generated copy of the kernel
LOAD_AT_START = os.getloadavg()


@pytest.fixture
def record(benchmark: Any) -> Callable[..., dict[str, Any]]:
    """``record(name, timed=None, **info)``: keep the benchmark's best and median wall time,
    the best CPU time of ``timed`` (a ``CpuTimed`` it ran) and ``info``."""

    def _record(name: str, timed: CpuTimed | None = None, **info: Any) -> dict[str, Any]:
        stats = benchmark.stats.stats
        entry = {"best_s": stats.min, "median_s": stats.median, "rounds": stats.rounds}
        if timed is not None and timed.times:
            entry["cpu_s"] = min(timed.times)
        if "draws" in info:
            info["draws_per_s"] = info["draws"] / stats.min
            info["ns_per_draw"] = stats.min / info["draws"] * 1e9
            if "cpu_s" in entry:
                info["cpu_ns_per_draw"] = entry["cpu_s"] / info["draws"] * 1e9
        entry.update(info)
        RESULTS[name] = entry
        benchmark.extra_info.update(entry)
        return entry

    return _record


@pytest.fixture
def note() -> Callable[..., None]:
    """``note(name, **info)``: keep figures that pytest-benchmark did not time."""

    def _note(name: str, **info: Any) -> None:
        RESULTS[name] = info

    return _note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the goals table and save every figure of the run as JSON."""
    if not RESULTS:
        return
    rows = goals()
    tr = terminalreporter
    tr.section("huzhu benchmarks: figures of this run (ratios of best times)")
    for line in table(rows):
        tr.write_line(line)
    load = os.getloadavg()
    tr.write_line(f"load average (1 min) at start {LOAD_AT_START[0]:.2f}, at end {load[0]:.2f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    report = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "numba_threads": THREADS,
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_average_start": LOAD_AT_START,
            "load_average_end": load,
            "versions": {p: version(p) for p in ("huzhu", "numba", "numpy", "distributed")},
        },
        "goals": rows,
        "measurements": RESULTS,
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    tr.write_line(f"saved {path}")
