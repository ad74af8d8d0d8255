"""The duplicate-column check of ``huzhu calibrate`` grows linearly with the header: ten
times the columns must cost well under a hundred times (a quadratic check) the time."""

import statistics
import time
from pathlib import Path

import pytest

from engine.calibrate import read_observations


def _median_seconds(path: Path, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with pytest.raises(ValueError, match="no data rows"):
            read_observations(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_wide_headers_are_checked_in_linear_time(tmp_path: Path) -> None:
    seconds = {}
    for n in (3_000, 30_000):
        path = tmp_path / f"wide{n}.csv"
        extra = ",".join(f"x{i}" for i in range(n))
        path.write_text(f"period,members,cases,{extra}\n", encoding="utf-8")
        seconds[n] = _median_seconds(path)
    ratio = seconds[30_000] / seconds[3_000]
    print(f"10x the columns: {ratio:.1f}x the time (linear 10, quadratic 100)")
    assert ratio < 30
