"""Start-up time of the command line against ``python -c "import numpy"``.

Each command runs ``ROUNDS`` times in a fresh interpreter, interleaved with the numpy
baseline so that both see the same load; the figures are medians of wall time and of CPU
time (user + system of the child, which other work on the machine disturbs less). Run:
``python -m benchmarks.startup``.
"""

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 11
GOAL = 1.5
"""Each command should start within this multiple of the numpy baseline."""

HUZHU = [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())"]
COMMANDS: dict[str, list[str]] = {
    "import numpy": [sys.executable, "-c", "import numpy"],
    "huzhu --help": [*HUZHU, "--help"],
    "huzhu plans": [*HUZHU, "plans"],
    "huzhu expected": [*HUZHU, "expected", "--plan", "xianghubao", "--age", "35", "--sex", "M"],
}


def _once(argv: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).parents[1])
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def measure(rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of each command, and their ratios to the baseline."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the file cache
        _once(argv)
    for _ in range(rounds):
        for name, argv in COMMANDS.items():
            times[name].append(_once(argv))
    out = {}
    for name, runs in times.items():
        out[name] = {
            "wall": statistics.median(w for w, _ in runs),
            "cpu": statistics.median(c for _, c in runs),
        }
    base = out["import numpy"]
    for figures in out.values():
        figures["wall_ratio"] = figures["wall"] / base["wall"]
        figures["cpu_ratio"] = figures["cpu"] / base["cpu"]
    return out


def main() -> None:
    figures = measure()
    print(f"{'command':<16} {'wall s':>7} {'ratio':>6} {'cpu s':>7} {'ratio':>6}")
    for name, f in figures.items():
        print(
            f"{name:<16} {f['wall']:7.3f} {f['wall_ratio']:6.2f} {f['cpu']:7.3f} "
            f"{f['cpu_ratio']:6.2f}"
        )
    print(f"goal: every ratio at most {GOAL}")


if __name__ == "__main__":
    main()
