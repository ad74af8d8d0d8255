"""Figures of sweeps: the platform's result against plan size with the break-even scale, and
heat maps of a statistic over two swept fields."""

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from engine import risk
from engine.errors import InputError
from engine.plans import PERIODS_PER_YEAR
from engine.plotting.style import (
    COLORS,
    MissingVariableError,
    _dates,
    _fan,
    _figure,
    _finish_fan_axis,
    _per_period,
    _require,
    _scale,
    _title,
    _units,
    _unweighted,
    swept_fields,
)


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


def _cumulative_panel(ax: Axes, run: xr.Dataset) -> None:
    """The fan of the running total of ``net_cash`` with its mean."""
    cash = np.cumsum(_per_period(run, "platform", "net_cash"), axis=1)
    scale, unit = _scale(cash, "yuan")
    x = _dates(run)
    _fan(ax, x, cash, color=COLORS["platform"], label="cumulative result", scale=scale)
    ax.plot(x, cash.mean(axis=0) / scale, color="black", linewidth=1, linestyle="--", label="mean")
    ax.axhline(0, color="black", linewidth=0.8)
    _finish_fan_axis(ax, f"cumulative net cash flow ({unit})", "cumulative platform result")


def _break_even_panel(ax: Axes, sweep: xr.Dataset) -> None:
    """Mean ``platform_result`` against plan size, its 95% interval and the break-even."""
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
        _cumulative_panel(axes.pop(0), run)
    if sweep is not None:
        _break_even_panel(axes.pop(0), sweep)
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


def _two_fields(
    ds: xr.Dataset, name: str, fields: tuple[str, str] | None
) -> tuple[xr.DataArray, tuple[str, str], str, str]:
    """``ds[name]`` as ``[y, x, path]`` over two swept fields (``fields`` or the only two),
    the fields and their dims."""
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
    return da, fields, xdim, ydim


def _label_cells(ax: Axes, image: Any, shown: np.ndarray, unit: str) -> None:
    """Write each cell's value on it, dark on light colours and light on dark."""
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
    da, fields, xdim, ydim = _two_fields(ds, name, fields)
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
    _label_cells(ax, image, shown, unit)
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
