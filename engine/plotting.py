"""Figures of a result: Dataset in, matplotlib Figure out; never simulates.

Every function takes a result Dataset (from ``simulate``, ``open_result`` or a sweep) and
returns a new :class:`matplotlib.figure.Figure` built with the object API: nothing touches
pyplot's global state, so the functions work under any backend, Agg included. A figure that
needs a variable the Dataset lacks raises :class:`MissingVariableError` (a ``ValueError``)
naming it.

Platform names are Chinese (相互宝). They are drawn with a CJK font when one is installed
(Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei, ...) and replaced by the plan's pinyin
name otherwise, so a title never shows empty boxes.
"""

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
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
from scipy import stats

from engine import risk
from engine.errors import InputError
from engine.plans import PERIODS_PER_YEAR
from engine.results import summary

__all__ = [
    "KINDS",
    "MissingVariableError",
    "break_even_scale",
    "cjk_font",
    "components",
    "exceedance",
    "fan_chart",
    "heatmap",
    "membership",
    "plan_label",
    "platform",
    "plot",
    "swept_fields",
]

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


# --- figures -------------------------------------------------------------------------------


def fan_chart(
    ds: xr.Dataset,
    *,
    variable: str = "share_post",
    figsize: tuple[float, float] = (9.0, 5.0),
    dpi: float = 100,
) -> Figure:
    """Fan chart of the per-member share per period: median, 50% and 90% bands across paths.

    The plan's finite caps are drawn against it: the per-period cap (and a policy maximum
    share, ``policy.max_share``) as a line, the per-case cap times the median number of
    cases shared, and the calendar-year cap spread over the 24 periods of a year.
    ``variable`` is ``share_post`` (after caps) or ``share_pre``.

    Examples
    --------
    >>> fig = fan_chart(ds)
    >>> fig.axes[0].get_ylabel() != ""
    True
    """
    values = _per_period(ds, "fan_chart", variable)
    x = _dates(ds)
    units = _units(ds, variable) or "yuan/member"
    fig, ax = _figure(figsize, dpi)
    _fan(ax, x, values, color=COLORS["share"], label="share per member", scale=1.0)
    plan = _plan(ds)
    per_case, per_period = _cap(plan, "cap_per_case"), _cap(plan, "cap_per_period")
    per_year = _cap(plan, "cap_per_year")
    top = float(np.quantile(values, BANDS[0][1], axis=0).max()) if values.size else 0.0
    if math.isfinite(per_period):
        ax.axhline(
            per_period,
            color="black",
            linestyle="--",
            linewidth=1.2,
            label=f"cap per period ({per_period:g} yuan)",
        )
        top = max(top, per_period)
    policy = _scenario(ds).get("policy") or {}
    max_share = _cap(policy, "max_share") if isinstance(policy, dict) else math.inf
    if math.isfinite(max_share):
        ax.axhline(
            max_share,
            color="#6c3483",
            linestyle="--",
            linewidth=1.2,
            label=f"policy: maximum share per period ({max_share:g} yuan)",
        )
        top = max(top, max_share)
    if math.isfinite(per_year):
        ax.axhline(
            per_year / PERIODS_PER_YEAR,
            color="black",
            linestyle=":",
            linewidth=1.2,
            label=f"cap per year / {PERIODS_PER_YEAR} ({per_year:g} yuan a year)",
        )
        top = max(top, per_year / PERIODS_PER_YEAR)
    if math.isfinite(per_case) and "cases_paid" in ds.variables:
        cases = _per_period(ds, "fan_chart", "cases_paid")
        bound = per_case * np.median(cases, axis=0)
        label = f"cap per case ({per_case:g} yuan) x median cases"
        typical = float(np.median(bound[bound > 0])) if (bound > 0).any() else 0.0
        if typical > 3 * top > 0:
            # far above every share: say so rather than squash the fan
            ax.plot([], [], " ", label=f"{label}: about {typical:,.4g} yuan, off the scale")
        else:
            ax.plot(x, bound, color="black", linestyle="-.", linewidth=1.2, label=label)
            top = max(top, float(bound.max(initial=0.0)))
    ax.set_ylim(bottom=0, top=max(top, 1e-9) * 1.3)
    ax.set_ylabel(f"share per member and period ({units})")
    _date_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", ncols=2)
    which = "after caps" if variable == "share_post" else "before caps"
    _title(fig, ds, f"Share per member and period, {which}")
    return fig


def exceedance(
    ds: xr.Dataset,
    *,
    variable: str = "liability_pv",
    level: float = 0.995,
    figsize: tuple[float, float] = (8.0, 5.0),
    dpi: float = 100,
) -> Figure:
    """Exceedance curve P(X > x) of a per-path total (log scale), with VaR and TVaR marked.

    The grey band is a pointwise 95% interval from order statistics: the k-th smallest of n
    outcomes has exceedance probability Beta(n + 1 - k, k). An importance-sampled run is
    drawn with its weights: ``P(X > x_k) = (1/n) sum_{j > k} w_j`` with a normal band from
    its standard error. VaR and TVaR at ``level`` come from :func:`engine.results.summary`
    with their 95% intervals.

    Examples
    --------
    >>> fig = exceedance(ds)
    >>> fig.axes[0].get_yscale()
    'log'
    """
    x = _per_path(ds, "exceedance", variable)
    n = x.size
    if n == 0:
        raise MissingVariableError(f"exceedance needs at least one path of {variable}")
    w = risk.weights(ds)[np.argsort(x, kind="stable")]
    x = np.sort(x, kind="stable")
    k = np.arange(1, n + 1)
    if risk.weighted(ds):
        p = np.append(np.cumsum(w[::-1])[::-1][1:], 0.0) / n
        second = np.append(np.cumsum((w * w)[::-1])[::-1][1:], 0.0) / n
        se = np.sqrt(np.maximum(second - p * p, 0.0) / max(n - 1, 1))
        lo, hi = np.maximum(p - risk.Z95 * se, 1e-300), np.minimum(p + risk.Z95 * se, 1.0)
        lo = np.where(p > 0, lo, np.nan)
    else:
        p = 1.0 - k / (n + 1.0)
        lo = stats.beta.ppf(0.025, n + 1 - k, k)
        hi = stats.beta.ppf(0.975, n + 1 - k, k)
    scale, unit = _scale(x, _units(ds, variable) or "yuan")
    table = summary(ds, variables=(variable,), levels=(level,))
    pct = f"{100 * level:g}%"
    var, tvar = (
        dict(
            zip(
                map(str, table.columns),
                table.loc[[(variable, f"{stat} {pct}")]].to_numpy(dtype=float)[0].tolist(),
                strict=True,
            )
        )
        for stat in ("VaR", "TVaR")
    )

    fig, ax = _figure(figsize, dpi)
    ax.fill_between(
        x / scale,
        lo,
        hi,
        step="post",
        color=COLORS["band"],
        alpha=0.3,
        linewidth=0,
        label="95% band (order statistics)",
    )
    ax.step(
        x / scale,
        p,
        where="post",
        color=COLORS["backstop"],
        linewidth=1.5,
        label=f"P(X > x), {n:,} paths",
    )
    ax.axhline(1 - level, color="black", linewidth=0.8, linestyle=":", label=f"1 - {pct}")
    ax.axvspan(
        var["ci_low"] / scale, var["ci_high"] / scale, color="#c0392b", alpha=0.12, linewidth=0
    )
    ax.axvline(
        var["estimate"] / scale,
        color="#c0392b",
        linewidth=1.4,
        label=f"VaR {pct} = {var['estimate'] / scale:,.4g} {unit}",
    )
    ax.axvline(
        tvar["estimate"] / scale,
        color="#6c3483",
        linewidth=1.4,
        linestyle="--",
        label=f"TVaR {pct} = {tvar['estimate'] / scale:,.4g} {unit}",
    )
    ax.set_yscale("log")
    ax.set_ylim(min(float(np.nanmin(lo, initial=1.0)), 1 - level) / 2, 1.0)
    long_name = str(ds[variable].attrs.get("long_name", variable))
    ax.set_xlabel(f"{variable}: {long_name} ({unit})")
    ax.set_ylabel("exceedance probability P(X > x)")
    _thousands(ax, "x")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower left", fontsize="small")
    _title(fig, ds, f"Exceedance of {variable}")
    return fig


def membership(
    ds: xr.Dataset,
    *,
    figsize: tuple[float, float] = (12.0, 4.8),
    dpi: float = 100,
) -> Figure:
    """Membership fan with the plan's minimum, and the distribution of closure dates.

    Left: the median and 50%/90% bands of ``members`` over time, with the minimum
    membership below which the plan closes. Right: the share of paths closing in
    each half year (from ``closure_period``, -1 for never), with the share never closing.
    """
    members = _per_period(ds, "membership", "members")
    closure = _per_path(ds, "membership", "closure_period").astype(np.int64)
    x = _dates(ds)
    scale, unit = _scale(members, "members")
    fig, (left, right) = _figure(figsize, dpi, ncols=2)
    _fan(left, x, members, color=COLORS["members"], label="members", scale=scale)
    minimum = _min_members(ds)
    if minimum > 0:
        left.axhline(
            minimum / scale,
            color="#c0392b",
            linestyle="--",
            linewidth=1.2,
            label=f"minimum membership ({minimum:,})",
        )
    left.set_ylim(bottom=0)
    left.set_ylabel(f"members ({unit})")
    _thousands(left)
    _date_axis(left)
    left.grid(alpha=0.3)
    left.legend(loc="best", fontsize="small")
    left.set_title("members", fontsize="medium")

    n = closure.size
    closed = closure[(closure >= 0) & (closure < x.size)]
    step = x[1] - x[0] if x.size > 1 else np.timedelta64(15, "D")
    edges = mdates.date2num(np.concatenate([x[::12], [x[-1] + step]]))
    if closed.size:
        right.hist(
            mdates.date2num(x[closed]),
            bins=edges,
            weights=np.full(closed.size, 1 / n),
            color=COLORS["runoff"],
            alpha=0.8,
            edgecolor="white",
        )
    never = 1 - closed.size / n if n else 1.0
    right.text(
        0.98,
        0.95,
        f"never closed: {never:.1%} of {n:,} paths",
        transform=right.transAxes,
        ha="right",
        va="top",
    )
    right.set_xlim(edges[0], edges[-1])
    right.xaxis_date()
    _date_axis(right, "closure date (half-year bins)")
    right.set_ylabel("share of paths")
    right.set_ylim(bottom=0, top=max(closed.size / n if n else 0.0, 0.05) * 1.2)
    right.grid(alpha=0.3)
    right.set_title("closure", fontsize="medium")
    _title(fig, ds, "Membership and closure")
    return fig


def components(
    ds: xr.Dataset,
    *,
    cumulative: bool = False,
    figsize: tuple[float, float] = (9.0, 5.0),
    dpi: float = 100,
) -> Figure:
    """Mean platform liability by component over time: cap backstop, failed deductions net
    of recoveries (``shortfall - recovered``) and run-off at closure; stacked areas of the
    means across paths (lines when a component is negative), or their running totals."""
    _require(ds, "components", "backstop", "shortfall", "recovered", "runoff")
    parts = {
        "cap backstop": _per_period(ds, "components", "backstop").mean(axis=0),
        "failed deductions - recovered": (
            _per_period(ds, "components", "shortfall") - _per_period(ds, "components", "recovered")
        ).mean(axis=0),
        "run-off at closure": _per_period(ds, "components", "runoff").mean(axis=0),
    }
    if cumulative:
        parts = {name: np.cumsum(v) for name, v in parts.items()}
    x = _dates(ds)
    stacked = np.array(list(parts.values()))
    scale, unit = _scale(stacked.sum(axis=0), "yuan")
    colors = [COLORS["backstop"], COLORS["shortfall"], COLORS["runoff"]]
    fig, ax = _figure(figsize, dpi)
    if (stacked >= 0).all():
        ax.stackplot(x, stacked / scale, labels=list(parts), colors=colors, alpha=0.85)
    else:
        for (name, values), color in zip(parts.items(), colors, strict=True):
            ax.plot(x, values / scale, label=name, color=color)
    ax.plot(x, stacked.sum(axis=0) / scale, color="black", linewidth=1.0, label="total")
    what = "cumulative mean liability" if cumulative else "mean liability per period"
    ax.set_ylabel(f"{what} ({unit})")
    _thousands(ax)
    _date_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    _title(fig, ds, "Platform liability by component")
    return fig


def break_even_scale(sweep: xr.Dataset, variable: str = "platform_result") -> float | None:
    """Membership at which the mean of ``variable`` over paths first turns from negative to
    non-negative, interpolated linearly in log members; None if it never does.

    ``sweep`` is a sweep over ``population.members`` (other swept fields must be selected
    first). A sweep whose smallest plan already breaks even returns that size.
    """
    dim = swept_fields(sweep).get("population.members")
    if dim is None:
        raise MissingVariableError("the break-even scale needs a sweep over population.members")
    _require(sweep, "break_even_scale", variable)
    da = sweep[variable]
    others = [d for d in da.dims if d not in (dim, "path")]
    if others:
        raise MissingVariableError(
            f"the break-even scale needs a sweep over population.members alone; select the "
            f"other swept dims first: {', '.join(map(str, others))}"
        )
    da = da.sortby(dim)
    size = np.asarray(da[dim].values, dtype=float)
    mean = np.asarray(da.mean("path").values, dtype=float)
    if mean[0] >= 0:
        return float(size[0])
    for i in range(1, size.size):
        if mean[i - 1] < 0 <= mean[i]:
            a, b = np.log(size[i - 1]), np.log(size[i])
            t = -mean[i - 1] / (mean[i] - mean[i - 1])
            return float(np.exp(a + t * (b - a)))
    return None


def platform(
    ds: xr.Dataset,
    *,
    sweep: xr.Dataset | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """The platform's cumulative result (fan of the running total of ``net_cash``) and, from
    a sweep over ``population.members``, the mean ``platform_result`` against plan size with
    its 95% interval and the break-even scale.

    ``ds`` is a run (the fan) or the sweep itself (the break-even panel); pass a run as
    ``ds`` and the sweep as ``sweep`` for both panels.
    """
    if sweep is None and "population.members" in swept_fields(ds):
        run, sweep = None, ds
    else:
        run = ds
    panels = (run is not None) + (sweep is not None)
    size = figsize or ((12.0, 4.8) if panels == 2 else (8.0, 5.0))
    fig, axes = _figure(size, dpi, ncols=panels)
    axes = list(np.atleast_1d(axes))
    if run is not None:
        ax = axes.pop(0)
        cash = np.cumsum(_per_period(run, "platform", "net_cash"), axis=1)
        scale, unit = _scale(cash, "yuan")
        x = _dates(run)
        _fan(ax, x, cash, color=COLORS["platform"], label="cumulative result", scale=scale)
        ax.plot(
            x, cash.mean(axis=0) / scale, color="black", linewidth=1, linestyle="--", label="mean"
        )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel(f"cumulative net cash flow ({unit})")
        _thousands(ax)
        _date_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        ax.set_title("cumulative platform result", fontsize="medium")
    if sweep is not None:
        ax = axes.pop(0)
        dim = swept_fields(sweep).get("population.members")
        if dim is None:
            raise MissingVariableError(
                "platform's break-even panel needs a sweep over population.members"
            )
        _require(sweep, "platform", "platform_result")
        result = sweep["platform_result"].sortby(dim)
        if [d for d in result.dims if d not in (dim, "path")]:
            raise MissingVariableError(
                "platform's break-even panel needs a sweep over population.members alone; "
                "select the other swept fields first"
            )
        members = np.asarray(result[dim].values, dtype=float)
        values = np.asarray(result.transpose(dim, "path").values, dtype=float)
        mean = values.mean(axis=1)
        se = values.std(axis=1, ddof=1) / np.sqrt(values.shape[1]) if values.shape[1] > 1 else 0
        scale, unit = _scale(np.concatenate([mean, mean + 2 * se, mean - 2 * se]), "yuan")
        ax.fill_between(
            members,
            (mean - 1.96 * se) / scale,
            (mean + 1.96 * se) / scale,
            color=COLORS["platform"],
            alpha=0.25,
            linewidth=0,
            label="95% interval of the mean",
        )
        ax.plot(
            members,
            mean / scale,
            marker="o",
            color=COLORS["platform"],
            label="mean platform result",
        )
        ax.axhline(0, color="black", linewidth=0.8)
        scale_even = break_even_scale(sweep.sortby(dim)[["platform_result"]])
        if scale_even is not None:
            ax.axvline(
                scale_even,
                color="#c0392b",
                linestyle="--",
                label=f"break-even ≈ {scale_even:,.0f} members",
            )
        else:
            ax.text(
                0.98,
                0.95,
                "no break-even in the swept range",
                transform=ax.transAxes,
                va="top",
                ha="right",
            )
        if members.min() > 0:
            ax.set_xscale("log")
        ax.set_xlabel("plan size at start (members)")
        ax.set_ylabel(f"platform result over the horizon ({unit})")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="best", fontsize="small")
        ax.set_title("break-even scale", fontsize="medium")
    _title(fig, run if run is not None else ds, "Platform result")
    return fig


STATS: dict[str, str] = {
    "p_closure": "P(closure within the years)",
    "mean": "mean",
    "median": "median",
    "p_positive": "P(> 0)",
    "var": "VaR",
    "tvar": "TVaR",
}
"""Cell statistics of :func:`heatmap`."""


def _statistic(x: np.ndarray, stat: str, level: float, years: float) -> float:
    """A cell of :func:`heatmap`, by :mod:`engine.risk`'s definitions."""
    if stat == "p_closure":
        closed = (x >= 0) & (x < years * PERIODS_PER_YEAR)
        return risk.prob_above(closed, 0.0).estimate
    if stat == "mean":
        return risk.mean(x).estimate
    if stat == "median":
        return risk.quantile(x, 0.5)
    if stat == "p_positive":
        return risk.prob_above(x, 0.0).estimate
    return risk.var(x, level).estimate if stat == "var" else risk.tvar(x, level).estimate


def _tick(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:,.6g}"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    return str(value)


def heatmap(
    ds: xr.Dataset,
    *,
    stat: str = "p_closure",
    variable: str | None = None,
    years: float = 5.0,
    level: float = 0.995,
    fields: tuple[str, str] | None = None,
    figsize: tuple[float, float] = (8.0, 6.0),
    dpi: float = 100,
) -> Figure:
    """A per-path statistic over a sweep of two fields, one cell per pair of values.

    ``stat`` is one of ``STATS``: ``p_closure`` is the share of paths whose
    ``closure_period`` falls within ``years`` of the start (the default); the others
    summarise ``variable`` (default ``liability_pv``): mean, median, P(> 0), VaR and TVaR
    at ``level``. ``fields`` picks the two swept fields (x, y) when the sweep has more than
    two; the others must then have one value.
    """
    if stat not in STATS:
        raise InputError(f"stat {stat!r} is unknown; valid: {', '.join(STATS)}")
    name = "closure_period" if stat == "p_closure" else (variable or "liability_pv")
    _require(ds, "heatmap", name)
    _unweighted(ds, "heatmap")
    swept = swept_fields(ds)
    if fields is None:
        if len(swept) != 2:
            raise MissingVariableError(
                f"heatmap needs a sweep over two fields, got {len(swept)}: "
                f"{', '.join(swept) or 'none'}; make one with huzhu sweep SCENARIO --set A=... "
                "--set B=..., or choose two with fields=(x, y) (huzhu plot --fields X Y)"
            )
        first, second = swept
        fields = (first, second)
    unknown = [f for f in fields if f not in swept]
    if unknown:
        raise MissingVariableError(
            f"heatmap: {', '.join(unknown)} not swept; swept fields: {', '.join(swept) or 'none'}"
        )
    xdim, ydim = swept[fields[0]], swept[fields[1]]
    da = ds[name]
    extra = [d for d in da.dims if d not in (xdim, ydim, "path")]
    if any(da.sizes[d] != 1 for d in extra):
        raise MissingVariableError(
            f"heatmap: select one value of the other swept dims first: {', '.join(map(str, extra))}"
        )
    da = da.squeeze(extra, drop=True).transpose(ydim, xdim, "path")
    values = np.asarray(da.values, dtype=float)
    grid = np.array(
        [
            [_statistic(values[i, j], stat, level, years) for j in range(values.shape[1])]
            for i in range(values.shape[0])
        ]
    )
    if stat == "p_closure":
        label, scale, unit = f"P(closure within {years:g} years)", 1.0, ""
    else:
        pct = f" {100 * level:g}%" if stat in ("var", "tvar") else ""
        scale, unit = _scale(grid, _units(ds, name)) if stat != "p_positive" else (1.0, "")
        label = f"{STATS[stat]}{pct} of {name}"
    fig, ax = _figure(figsize, dpi)
    shown = grid / scale
    kwargs = {"vmin": 0.0, "vmax": 1.0} if stat in ("p_closure", "p_positive") else {}
    image = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis", **kwargs)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"{label} ({unit})" if unit else label)
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            text = f"{shown[i, j]:.2f}" if not unit else f"{shown[i, j]:,.3g}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize="small",
                color="black" if float(image.norm(shown[i, j])) > 0.5 else "white",
            )
    ax.set_xticks(range(shown.shape[1]), [_tick(v) for v in da[xdim].values])
    ax.set_yticks(range(shown.shape[0]), [_tick(v) for v in da[ydim].values])
    for axis_label, dim, field in (
        (ax.set_xlabel, xdim, fields[0]),
        (ax.set_ylabel, ydim, fields[1]),
    ):
        units = ds[dim].attrs.get("units", "") if dim in ds.coords else ""
        axis_label(f"{field} ({units})" if units else field)
    _title(fig, ds, label)
    return fig


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
    """The figure ``kind`` (a key of ``KINDS``) of ``ds``; keyword arguments go to it.

    Examples
    --------
    >>> plot(ds, "exceedance").axes[0].get_yscale()
    'log'
    """
    if kind not in KINDS:
        raise InputError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return KINDS[kind](ds, **kwargs)
