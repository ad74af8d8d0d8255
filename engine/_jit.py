"""The one place that sets numba options for the whole package.

Compiled kernels are cached next to the sources (numba's default). When that folder is not
writable (a system-wide or read-only install) and ``NUMBA_CACHE_DIR`` is unset, they are
cached in the user's cache folder instead, so the kernel is compiled once per user rather
than once per run.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba

_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}


def user_cache_dir() -> Path | None:
    """The folder for compiled kernels when the package's own folder is not writable.

    ``None`` when numba's default (``engine/__pycache__``) works or ``NUMBA_CACHE_DIR`` is
    set; else ``$XDG_CACHE_HOME/huzhu/numba`` (``~/.cache/huzhu/numba``).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = Path(__file__).parent
    pycache = here / "__pycache__"
    if os.access(pycache if pycache.is_dir() else here, os.W_OK):
        return None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huzhu" / "numba"


_CACHE_DIR = user_cache_dir()
if _CACHE_DIR is not None:  # read by numba when a function is first compiled
    numba.config.CACHE_DIR = str(_CACHE_DIR)  # type: ignore[attr-defined]


def jit(
    fn: Callable[..., Any] | None = None, *, parallel: bool = False, inline: bool = False
) -> Any:
    """Compile ``fn`` in nopython mode with the package's options.

    Use as ``@jit``, ``@jit(parallel=True)`` or ``@jit(inline=True)`` (compiled into each
    caller: for a step of the hot loop that the compiler would otherwise leave a call).
    """
    decorate = numba.njit(parallel=parallel, inline="always" if inline else "never", **_OPTIONS)
    return decorate if fn is None else decorate(fn)
