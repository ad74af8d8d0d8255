"""The one place that sets numba options for the whole package."""

from collections.abc import Callable
from typing import Any

import numba

_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}


def jit(fn: Callable[..., Any] | None = None, *, parallel: bool = False) -> Any:
    """Compile ``fn`` in nopython mode with the package's options.

    Use as ``@jit`` or ``@jit(parallel=True)``.
    """
    decorate = numba.njit(parallel=parallel, **_OPTIONS)
    return decorate if fn is None else decorate(fn)
