"""The figures of a benchmark run: what was measured, the ratios, the goals, the table.

Each measurement keeps its best wall-clock time (the minimum over its rounds, the figure
least disturbed by other work on the machine) and, where the work runs in this process, its
best CPU time (``time.process_time``, all threads), which other processes disturb far less.
Ratios are formed from the times of one run only.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba

RESULTS_DIR = Path(__file__).parent / "results"
RESULTS: dict[str, dict[str, Any]] = {}
"""name -> figures of one measurement or check."""

THREADS: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]


class CpuTimed:
    """``fn`` that also keeps the process CPU time of each call in ``times``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.times: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.times.append(time.process_time() - began)


def _get(name: str, key: str) -> Any:
    return RESULTS.get(name, {}).get(key)


def _ratio(a: str, b: str, key: str) -> float | None:
    x, y = _get(a, key), _get(b, key)
    return None if x is None or y is None else float(x) / float(y)


Row = tuple[str, str, str | None, str, str]
"""(figure, measurement, measurement it is divided by or None, key of a plain value, goal)."""


def _row(figure: str, a: str, b: str | None = None, key: str = "", goal: str = "") -> Row:
    return figure, a, b, key, goal


_ROWS: list[Row] = [
    *(
        _row(f"kernel, {n:,} paths, {THREADS} threads: draws/s", f"kernel {n}", key="draws_per_s")
        for n in (1000, 10_000, 100_000)
    ),
    _row("NumPy reference / kernel, 10^5 paths", "numpy 100000", "kernel 100000", goal=">= 2.5"),
    _row("  the same, kernel on 1 thread", "numpy 100000", "kernel 1 thread 100000", goal=">= 2.5"),
    _row("  NumPy mean claims vs kernel's (z)", "numpy agreement", key="z_claims", goal="|z| < 4"),
    _row(
        "kernel / bare sampling bound, 10^5 paths", "kernel 100000", "bound 100000", goal="<= 1.3"
    ),
    _row(
        "  kernel with draws stubbed / kernel, 10^4", "kernel without draws 10000", "kernel 10000"
    ),
    _row("per path-period-cohort, 10^3 / 10^5", "kernel 1000", "kernel 100000", "ns", "±15%"),
    _row("Dask LocalCluster(2) / threaded, 10^5", "dask 100000", "threaded 100000", goal="<= 1.25"),
    _row("  the same, cluster started in the call", "dask cold 100000", "threaded 100000"),
    _row("  Dask Dataset identical to simulate's", "dask 100000", key="identical", goal="True"),
    _row(
        "kernel / previous kernel, default 相互宝, 10^3",
        "default kernel 1000",
        "previous kernel 1000",
        goal="<= 1.1",
    ),
    _row("  duration factors on / previous kernel", "duration kernel 1000", "previous kernel 1000"),
    _row(
        "kernel / positional kernel (par, ipar), 10^3",
        "default kernel 1000",
        "positional kernel 1000",
        goal="<= 1.1",
    ),
    _row("exact.compound_poisson / aggregate, time", "exact", "aggregate", goal="<= 1"),
    _row("  relative error of mean, sd", "exact vs aggregate", key="rel_err", goal="<= 1e-6"),
    _row("  99.5% quantiles equal", "exact vs aggregate", key="quantile_equal", goal="True"),
]

_MET: dict[str, Callable[[Any], bool]] = {
    ">= 2.5": lambda x: x >= 2.5,
    "|z| < 4": lambda x: abs(x) < 4,
    "<= 1.3": lambda x: x <= 1.3,
    "±15%": lambda x: 0.85 <= x <= 1.15,
    "<= 1.25": lambda x: x <= 1.25,
    "True": bool,
    "<= 1": lambda x: x <= 1.0,
    "<= 1.1": lambda x: x <= 1.1,
    "<= 1e-6": lambda x: x <= 1e-6,
}


def goals() -> list[dict[str, Any]]:
    """One row per figure of this run: wall-clock value, CPU-time value, goal, met (on wall)."""
    rows = []
    for figure, a, b, key, goal in _ROWS:
        if b is None:
            wall, cpu = _get(a, key), None
        elif key == "ns":  # time per unit of work: the ratio of ns per draw
            wall, cpu = _ratio(a, b, "ns_per_draw"), _ratio(a, b, "cpu_ns_per_draw")
        else:
            wall, cpu = _ratio(a, b, "best_s"), _ratio(a, b, "cpu_s")
        if wall is None:
            continue
        row: dict[str, Any] = {"figure": figure, "wall": wall, "cpu": cpu, "goal": goal}
        if goal:
            row["met"] = bool(_MET[goal](wall))
        rows.append(row)
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return f"{value:.3g}" if abs(value) >= 1e4 or 0 < abs(value) < 1e-3 else f"{value:.2f}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as lines of text."""
    if not rows:
        return ["(no figure of this run has what it is compared with)"]
    width = max(len(r["figure"]) for r in rows)
    lines = [f"{'figure':<{width}}  {'wall':>9}  {'cpu':>9}  {'goal':<8}  met"]
    for r in rows:
        met = "" if "met" not in r else ("yes" if r["met"] else "NO")
        cells = f"{_text(r['wall']):>9}  {_text(r['cpu']):>9}  {r['goal']:<8}"
        lines.append(f"{r['figure']:<{width}}  {cells}  {met}")
    return lines
