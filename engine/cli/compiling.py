"""The first run on a machine compiles the kernel: say so, and keep it out of the timing."""

import sys
import time
from pathlib import Path
from typing import Any


def _dispatchers() -> list[Any]:
    """The kernel's entry point: compiling it compiles every step it calls, and its cache
    entry holds them all (helpers that a run never calls must not make the cache look cold)."""
    from engine import kernel

    return [kernel.run_paths]


def _cached(dispatcher: Any) -> bool:
    """Whether ``dispatcher`` is compiled in this process or has an entry in numba's cache."""
    if dispatcher.signatures:
        return True
    code = dispatcher.py_func.__code__
    stem = f"{Path(code.co_filename).stem}.{dispatcher.py_func.__qualname__}-{code.co_firstlineno}"
    folder = Path(dispatcher.stats.cache_path)
    return folder.is_dir() and any(folder.glob(f"{stem}.py*.nbi"))


def kernel_is_cold() -> bool:
    """Whether running the kernel now would compile it (nothing cached on this machine)."""
    return not all(_cached(d) for d in _dispatchers())


def compile_kernel(scenario: Any) -> float | None:
    """Compile the kernel with a one-path, one-period run of ``scenario`` if it is not
    cached, saying so on stderr; the seconds it took, or ``None`` if it was cached."""
    if not kernel_is_cold():
        return None
    from engine.simulate import simulate

    print("compiling the simulation kernel (first run only, then cached) ...", file=sys.stderr)
    began = time.perf_counter()
    simulate(scenario, paths=1, years=1 / 24, threads=1)
    took = time.perf_counter() - began
    print(f"kernel compiled in {took:.1f} s", file=sys.stderr)
    return took
