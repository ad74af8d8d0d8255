"""Figures of one run: the share fan, the exceedance curve, membership and closure, the
liability by component, and the exceedance curve by risk source."""

import math
from collections.abc import Mapping

import matplotlib.dates as mdates
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from engine import risk
from engine.plans import PERIODS_PER_YEAR
from engine.plotting.style import (
    BANDS,
    COLORS,
    MissingVariableError,
    _cap,
    _date_axis,
    _dates,
    _fan,
    _figure,
    _finish_fan_axis,
    _min_members,
    _per_path,
    _per_period,
    _plan,
    _require,
    _scale,
    _scenario,
    _thousands,
    _title,
    _units,
)
from engine.results import summary


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
    policy = _scenario(ds).get("policy") or {}
    max_share = _cap(policy, "max_share") if isinstance(policy, dict) else math.inf
    lines = (
        (per_period, "black", "--", f"cap per period ({per_period:g} yuan)"),
        (max_share, "#6c3483", "--", f"policy: maximum share per period ({max_share:g} yuan)"),
        (
            per_year / PERIODS_PER_YEAR,
            "black",
            ":",
            f"cap per year / {PERIODS_PER_YEAR} ({per_year:g} yuan a year)",
        ),
    )
    for value, color, style, label in lines:
        if math.isfinite(value):
            ax.axhline(value, color=color, linestyle=style, linewidth=1.2, label=label)
            top = max(top, value)
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


def _exceedance_curve(
    x: np.ndarray, w: np.ndarray, weighted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``P(X > x_k)`` at the sorted outcomes ``x`` (weights ``w`` in the same order) and its
    pointwise 95% band: order statistics for equal weights, the normal band otherwise."""
    n = x.size
    k = np.arange(1, n + 1)
    if weighted:
        p = np.append(np.cumsum(w[::-1])[::-1][1:], 0.0) / n
        second = np.append(np.cumsum((w * w)[::-1])[::-1][1:], 0.0) / n
        se = np.sqrt(np.maximum(second - p * p, 0.0) / max(n - 1, 1))
        lo, hi = np.maximum(p - risk.Z95 * se, 1e-300), np.minimum(p + risk.Z95 * se, 1.0)
        return p, np.where(p > 0, lo, np.nan), hi
    p = 1.0 - k / (n + 1.0)
    return p, stats.beta.ppf(0.025, n + 1 - k, k), stats.beta.ppf(0.975, n + 1 - k, k)


def _var_tvar(ds: xr.Dataset, variable: str, level: float) -> list[dict[str, float]]:
    """VaR and TVaR at ``level`` of ``variable`` as summary rows ``{estimate, ci_low, ...}``."""
    table = summary(ds, variables=(variable,), levels=(level,))
    pct = f"{100 * level:g}%"
    return [
        dict(
            zip(
                map(str, table.columns),
                table.loc[[(variable, f"{stat} {pct}")]].to_numpy(dtype=float)[0].tolist(),
                strict=True,
            )
        )
        for stat in ("VaR", "TVaR")
    ]


def _mark_var_tvar(
    ax: Axes, rows: list[dict[str, float]], level: float, scale: float, unit: str
) -> None:
    """The ``1 - level`` line, VaR with its interval and TVaR on an exceedance axis."""
    var, tvar = rows
    pct = f"{100 * level:g}%"
    ax.axhline(1 - level, color="black", linewidth=0.8, linestyle=":", label=f"1 - {pct}")
    ax.axvspan(
        var["ci_low"] / scale, var["ci_high"] / scale, color="#c0392b", alpha=0.12, linewidth=0
    )
    for row, name, color, style in ((var, "VaR", "#c0392b", "-"), (tvar, "TVaR", "#6c3483", "--")):
        ax.axvline(
            row["estimate"] / scale,
            color=color,
            linewidth=1.4,
            linestyle=style,
            label=f"{name} {pct} = {row['estimate'] / scale:,.4g} {unit}",
        )


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
    p, lo, hi = _exceedance_curve(x, w, risk.weighted(ds))
    scale, unit = _scale(x, _units(ds, variable) or "yuan")
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
    _mark_var_tvar(ax, _var_tvar(ds, variable, level), level, scale, unit)
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
    _finish_fan_axis(left, f"members ({unit})", "members")

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


def exceedance_by_source(
    samples: Mapping[str, np.ndarray], figsize: tuple[float, float] = (7, 4.5), dpi: float = 100
) -> Figure:
    """The liability's exceedance curve ``P(L > x)`` with each risk source added in turn:
    ``samples`` maps a label to per-path liabilities (``engine.policy.decompose(...)
    .attrs["samples"]``), in the order the sources are added."""
    fig, ax = _figure(figsize, dpi)
    every = [np.asarray(x, dtype=np.float64) for x in samples.values()]
    scale, unit = _scale(np.concatenate(every) if every else np.zeros(0), "yuan")
    for label, x in zip(samples, every, strict=True):
        s = np.sort(x)
        exceed = 1.0 - np.arange(1, s.size + 1) / s.size
        ax.step(
            s / scale, np.maximum(exceed, 0.5 / max(s.size, 1)), where="post", label=f"+ {label}"
        )
    ax.set_yscale("log")
    ax.axhline(0.005, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel(f"liability over the horizon ({unit})")
    ax.set_ylabel("P(liability > x)")
    ax.legend(title="risk source added")
    return fig
