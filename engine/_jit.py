"""The one place that sets numba options for the whole package.

Compiled kernels are cached in a folder named by a fingerprint of the kernel's sources
(:data:`KERNEL_SOURCES`): numba checks a cached function against its own file only, so a
change to a step in another module would otherwise run the old compiled code. The folder
is ``engine/__pycache__/numba/<fingerprint>``, or under the user's cache folder when the
package's folder is not writable (a system-wide or read-only install), so the kernel is
compiled once per user and version rather than once per run. A ``NUMBA_CACHE_DIR`` set by
the user is left as it is (and then numba's own file check is all there is).
"""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba

_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}

KERNEL_SOURCES = (
    "_jit",
    "errors",
    "kernel",
    "kernel_closure",
    "kernel_inputs",
    "kernel_steps",
    "presets",
    "rng",
    "tables",
    "variables",
)
"""The engine modules whose code or constants the compiled kernel holds: every ``engine``
module that importing ``engine.kernel`` loads (a test keeps the list complete)."""


def fingerprint() -> str:
    """A short hash of the kernel's sources: it changes when any of them changes."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        module = here / f"{name}.py"
        digest.update((module if module.exists() else here / name / "__init__.py").read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path | None:
    """The folder for compiled kernels, named by :func:`fingerprint`; ``None`` when the
    user set ``NUMBA_CACHE_DIR``.

    ``engine/__pycache__/numba/<fingerprint>`` when the package's folder is writable, else
    ``$XDG_CACHE_HOME/huzhu/numba/<fingerprint>`` (``~/.cache/huzhu/...``).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = Path(__file__).parent
    pycache = here / "__pycache__"
    if os.access(pycache if pycache.is_dir() else here, os.W_OK):
        return pycache / "numba" / fingerprint()
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user / "huzhu" / "numba" / fingerprint()


_CACHE_DIR = cache_dir()
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
