"""Figures of a result: Dataset in, matplotlib Figure out; never simulates.

Every function takes a result Dataset (from ``simulate``, ``open_result`` or a sweep) and
returns a new :class:`matplotlib.figure.Figure` built with the object API: nothing touches
pyplot's global state, so the functions work under any backend, Agg included. A figure that
needs a variable the Dataset lacks raises :class:`MissingVariableError` (an ``InputError``)
naming it.

One module a family of figures: :mod:`engine.plotting.runs` (one run: the share fan,
exceedance, membership and closure, components), :mod:`engine.plotting.sweeps` (sweeps:
platform result and break-even, heat maps) and :mod:`engine.plotting.style` (what they
share: colours, CJK fonts and titles, reading variables).
"""

from collections.abc import Callable
from typing import Any

import xarray as xr
from matplotlib.figure import Figure

from engine.errors import InputError
from engine.plotting.runs import components, exceedance, exceedance_by_source, fan_chart, membership
from engine.plotting.style import (
    BANDS,
    CJK_FAMILIES,
    COLORS,
    MissingVariableError,
    WeightedRunError,
    cjk_font,
    plan_label,
    swept_fields,
)
from engine.plotting.sweeps import STATS, break_even_scale, heatmap, platform

__all__ = [
    "BANDS",
    "CJK_FAMILIES",
    "COLORS",
    "KINDS",
    "STATS",
    "MissingVariableError",
    "WeightedRunError",
    "break_even_scale",
    "cjk_font",
    "components",
    "exceedance",
    "exceedance_by_source",
    "fan_chart",
    "heatmap",
    "membership",
    "plan_label",
    "platform",
    "plot",
    "swept_fields",
]

KINDS: dict[str, Callable[..., Figure]] = {
    "fan_chart": fan_chart,
    "exceedance": exceedance,
    "membership": membership,
    "components": components,
    "platform": platform,
    "heatmap": heatmap,
}
"""Every figure kind, by name."""


def plot(ds: xr.Dataset, kind: str, **kwargs: Any) -> Figure:
    """Draw one figure of a result.

    Parameters
    ----------
    ds : xarray.Dataset
        A result: a run from ``simulate`` or ``open_result``, or a sweep from ``sweep``.
    kind : str
        A key of ``KINDS``: ``fan_chart``, ``exceedance``, ``membership``, ``components``,
        ``platform`` or ``heatmap``.
    **kwargs
        Passed to the figure's function (``dpi``, ``figsize``, ``variable``, ``level``,
        ``stat``, ``fields``, ...).

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, not registered with pyplot; save it with ``savefig``.

    Raises
    ------
    InputError
        For an unknown ``kind``, or a Dataset that lacks what the figure needs
        (``MissingVariableError``).

    Examples
    --------
    >>> fig = plot(ds, "exceedance", dpi=40)
    >>> fig.axes[0].get_yscale()
    'log'
    >>> plot(ds, "pie")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    engine.errors.InputError: unknown plot kind 'pie'; valid kinds: fan_chart, exceedance, ...
    """
    if kind not in KINDS:
        raise InputError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return KINDS[kind](ds, **kwargs)
