"""What every figure shares: colours, fonts and titles, reading a Dataset's variables, axes.

Platform names are Chinese (相互宝). They are drawn with a CJK font when one is installed
(Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei, ...) and replaced by the plan's pinyin
name otherwise, so a title never shows empty boxes. A figure that needs a variable the
Dataset lacks raises :class:`MissingVariableError` (an ``InputError``) naming it.
"""

import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import xarray as xr
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import FuncFormatter

from engine import risk
from engine.errors import InputError

BANDS = ((0.05, 0.95), (0.25, 0.75))
"""Quantile bands of the fan charts: 90% and 50%."""

COLORS = {
    "share": "#1f5f8b",
    "members": "#2a7f62",
    "platform": "#8b4a1f",
    "backstop": "#1f5f8b",
    "shortfall": "#d08c2c",
    "runoff": "#a23b3b",
    "band": "#7f7f7f",
}

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "STHeiti",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Arial Unicode MS",
)
"""Fonts with Chinese glyphs, in order of preference."""

_CJK_NAME = re.compile(r"CJK|WenQuanYi|Han Sans|Han Serif|YaHei|SimHei|SimSun|PingFang|Heiti")
_PROBE = "相互宝水滴轻松美团康爱公社壁虎夸克联盟灯火助"


class MissingVariableError(InputError):
    """A figure needs a variable (or dimension) that the Dataset does not have."""


class WeightedRunError(MissingVariableError):
    """A figure of unweighted bands or means asked of an importance-sampled run."""


def _unweighted(ds: xr.Dataset, kind: str) -> None:
    """Refuse a figure that would treat the paths of a tilted run as equally likely."""
    if risk.weighted(ds):
        raise WeightedRunError(
            f"{kind} draws unweighted bands and means, and this run is importance-sampled "
            "(log_weight): plot a run without tilt, or --kind exceedance"
        )


# --- fonts and labels ----------------------------------------------------------------------


@functools.cache
def _charmap(fname: str) -> frozenset[int]:
    try:
        return frozenset(FT2Font(fname).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def _font_entry(family: str) -> font_manager.FontEntry | None:
    for entry in font_manager.fontManager.ttflist:
        if entry.name == family:
            return entry
    return None


def _font_file(family: str) -> str | None:
    entry = _font_entry(family)
    return str(entry.fname) if entry else None


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None.

    Tries the families of ``CJK_FAMILIES`` in order, then any other installed family whose
    name marks it as CJK; a family counts only if its font file maps the platforms' names.
    Catch-all fonts that draw placeholder boxes (Last Resort) are never chosen.
    """
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    others = sorted(name for name in installed if _CJK_NAME.search(name))
    for family in (*CJK_FAMILIES, *others):
        fname = _font_file(family) if family in installed else None
        if fname and all(ord(ch) in _charmap(fname) for ch in _PROBE):
            return family
    return None


def _default_font_covers(text: str) -> bool:
    fname = font_manager.findfont(FontProperties(), fallback_to_default=True)
    chars = _charmap(str(fname))
    return all(ord(ch) in chars or ch.isspace() for ch in text)


def _font_for(text: str) -> tuple[bool, FontProperties | None]:
    """Whether ``text`` can be drawn, and the font for it (None: the default font)."""
    if _default_font_covers(text):
        return True, None
    family = cjk_font()
    fname = _font_file(family) if family else None
    if family and fname and all(ord(ch) in _charmap(fname) or ch.isspace() for ch in text):
        entry = _font_entry(family)
        weight = entry.weight if entry else "normal"
        return True, FontProperties(family=[family], weight=weight)
    return False, None


def _scenario(ds: xr.Dataset) -> dict[str, Any]:
    try:
        data = json.loads(ds.attrs["scenario"])
    except (KeyError, TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def plan_label(ds: xr.Dataset) -> str:
    """The plan's name as the figures draw it: ``相互宝 (xianghubao)``, or the pinyin alone
    when no installed font has the Chinese glyphs."""
    plan = _scenario(ds).get("plan", {})
    name, pinyin = str(plan.get("name", "")), str(plan.get("pinyin", ""))
    if name and _font_for(name)[0]:
        return f"{name} ({pinyin})" if pinyin and pinyin != name else name
    return pinyin or "plan"


def _title(fig: Figure, ds: xr.Dataset, what: str) -> None:
    label = plan_label(ds)
    name = str(_scenario(ds).get("name", ""))
    generic = ("scenario", label, _plan(ds).get("pinyin"), _scenario(ds).get("preset"))
    if name and name not in generic and _font_for(name)[0]:
        label = f"{name}: {label}"
    text = f"{what} — {label}"
    _, font = _font_for(text)
    if font is not None:
        font.set_size("large")
        fig.suptitle(text, fontproperties=font)
    else:
        fig.suptitle(text, fontsize="large")


# --- data access ---------------------------------------------------------------------------


def _require(ds: xr.Dataset, kind: str, *names: str) -> None:
    missing = [name for name in names if name not in ds.variables]
    if missing:
        have = ", ".join(sorted(str(v) for v in ds.data_vars)) or "none"
        raise MissingVariableError(
            f"{kind} needs the variable(s) {', '.join(missing)}, which this result does not "
            f"have (it has: {have})"
        )


def _per_period(ds: xr.Dataset, kind: str, name: str) -> np.ndarray:
    """``ds[name]`` as a ``[path, period]`` float array; other dims are an error, and so is
    an importance-sampled run (its per-period bands would ignore the weights)."""
    _require(ds, kind, name)
    _unweighted(ds, kind)
    da = ds[name]
    if set(da.dims) != {"path", "period"}:
        raise MissingVariableError(
            f"{kind} needs {name} with dims (path, period), got {da.dims}; "
            "select one point of a sweep first"
        )
    return np.asarray(da.transpose("path", "period").values, dtype=float)


def _per_path(ds: xr.Dataset, kind: str, name: str) -> np.ndarray:
    _require(ds, kind, name)
    da = ds[name]
    if da.dims != ("path",):
        raise MissingVariableError(
            f"{kind} needs {name} with dims (path,), got {da.dims}; "
            "select one point of a sweep first (ds.isel / ds.sel)"
        )
    return np.asarray(da.values, dtype=float)


def _dates(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(ds["period"].values)


def _units(ds: xr.Dataset, name: str) -> str:
    return str(ds[name].attrs.get("units", ""))


def _scale(values: np.ndarray, units: str) -> tuple[float, str]:
    """A divisor and the axis unit that keep the tick labels short (yuan to billion yuan)."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    if units == "yuan":
        for factor, label in ((1e9, "billion yuan"), (1e6, "million yuan"), (1e4, "10k yuan")):
            if top >= factor:
                return factor, label
    if units == "members":
        for factor, label in ((1e6, "million members"), (1e3, "thousand members")):
            if top >= factor:
                return factor, label
    return 1.0, units


def swept_fields(ds: xr.Dataset) -> dict[str, str]:
    """The swept fields of a sweep Dataset, as ``{dotted field: dim}`` in dim order.

    A sweep's extra dims carry the swept field in their coordinate's ``field`` attribute
    (``population.members``); a dim without one is taken to be named after its field.
    """
    fields = {}
    for dim in ds.dims:
        if dim in ("path", "period"):
            continue
        attrs = ds[dim].attrs if dim in ds.coords else {}
        fields[str(attrs.get("field", dim))] = str(dim)
    return fields


def _figure(figsize: tuple[float, float], dpi: float, ncols: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=True)
    return fig, axes


def _fan(
    ax: Axes, x: np.ndarray, values: np.ndarray, *, color: str, label: str, scale: float
) -> None:
    """Median and the 50% and 90% bands across paths of ``values[path, period]``."""
    (lo90, hi90), (lo50, hi50) = BANDS
    q = np.quantile(values, [lo90, lo50, 0.5, hi50, hi90], axis=0) / scale
    ax.fill_between(x, q[0], q[4], color=color, alpha=0.15, linewidth=0, label="90% band")
    ax.fill_between(x, q[1], q[3], color=color, alpha=0.35, linewidth=0, label="50% band")
    ax.plot(x, q[2], color=color, linewidth=1.6, label=f"{label}, median")


def _date_axis(ax: Axes, label: str = "period start (date)") -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(label)


def _finish_fan_axis(ax: Axes, ylabel: str, title: str) -> None:
    """Label, grid, legend and title of a fan over dates (thousands separators on y)."""
    ax.set_ylabel(ylabel)
    _thousands(ax)
    _date_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title, fontsize="medium")


def _thousands(ax: Axes, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _pos: f"{v:,.6g}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _plan(ds: xr.Dataset) -> dict[str, Any]:
    plan = _scenario(ds).get("plan", {})
    return plan if isinstance(plan, dict) else {}


def _cap(plan: Mapping[str, Any], key: str) -> float:
    value = plan.get(key)
    try:
        cap = float(value) if value is not None else math.inf
    except (TypeError, ValueError):
        return math.inf
    return cap if math.isfinite(cap) else math.inf


def _min_members(ds: xr.Dataset) -> int:
    scenario = _scenario(ds)
    own = (scenario.get("termination") or {}).get("min_members")
    value = own if own is not None else _plan(ds).get("min_members", 0)
    return int(value or 0)
