"""What ``huzhu run`` prints: the engine's numbers, named in words with their units.

The numbers come from the domain code (``results.summary``, ``closure_summary``,
``tail_components``, ``tail.simulate_tail``); this module only chooses labels, units and
layout.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from engine.cli.table import show

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

LABELS: dict[str, str] = {
    "liability_pv": "liability, discounted",
    "backstop_pv": "  cap backstop",
    "shortfall_pv": "  failed deductions advanced",
    "runoff_pv": "  run-off at closure",
    "reserve_pv": "  reserve fund drawn",
    "share_total": "share paid by an average member",
    "platform_result": "platform's net result",
    "period_cost": "cost of one period's cases",
}
"""Words for the engine's variables; indented rows are parts of the row above them."""

COLUMNS_NOTE = (
    "mean ± s.e.: the mean over the paths and its Monte Carlo standard error; sd: the spread "
    "across paths; P(>0): the share of paths above zero; VaR: the quantile at that level; "
    "TVaR: the mean of the paths at or beyond it."
)


def _unit(name: str) -> tuple[float, str]:
    """The scale and unit a variable is shown in: million yuan for platform money, yuan
    for what one member pays."""
    from engine.results import VARIABLES

    units = VARIABLES[name][0] if name in VARIABLES else "yuan"
    return (1.0, "yuan") if "yuan/" in units else (1e6, "million yuan")


def label(name: str) -> str:
    """A variable's name in words with its unit, e.g. ``liability, discounted (million yuan)``.

    Examples
    --------
    >>> label("share_total")
    'share paid by an average member (yuan)'
    """
    return f"{LABELS.get(name, name)} ({_unit(name)[1]})"


def _number(x: float, scale: float) -> str:
    return f"{x / scale:,.2f}"


def summary_text(frame: pd.DataFrame, years: float, discount_rate: float) -> None:
    """The summary table: one row per variable, one column per statistic."""
    statistics = list(dict.fromkeys(frame.index.get_level_values(1)))
    rows = []
    for name in dict.fromkeys(frame.index.get_level_values(0)):
        t = frame.loc[name]
        scale = _unit(name)[0]
        cells = []
        for stat in statistics:
            est = float(t.loc[stat, "estimate"])
            if stat == "mean":
                se = float(t.loc[stat, "std_error"])
                cells.append(f"{_number(est, scale)} ± {_number(se, scale)}")
            elif stat.startswith("P("):
                cells.append(f"{est:.3f}")
            else:
                cells.append(_number(est, scale))
        rows.append([label(name), *cells])
    names = {"mean": "mean ± s.e.", "std": "sd"}
    header = ["per path", *(names.get(s, s) for s in statistics)]
    title = f"over {years:g} years, discounted at {discount_rate:.1%} a year"
    show(rows, header, title=title, note=COLUMNS_NOTE)


def _probability(p: float, se: float) -> str:
    if se == 0:
        return "every path" if p == 1 else "no path" if p == 0 else f"{p:.3f}"
    return f"{p:.3f} ± {se:.3f}"


def closure_steps(closures: pd.DataFrame) -> str:
    """P(closure by the end of year N) for the years where it changes (to 3 decimals).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"probability": [0, 0.25, 0.25, 1], "std_error": [0, 0.02, 0.02, 0]},
    ...                  index=[1, 2, 3, 4])
    >>> closure_steps(t)
    'year 1: no path; year 2: 0.250 ± 0.020; year 4: every path'
    """
    steps, previous = [], None
    for year, row in closures.iterrows():
        value = (round(float(row.probability), 3), round(float(row.std_error), 3))
        if value != previous:
            steps.append(f"year {year}: {_probability(*value)}")
            previous = value
    last = int(closures.index[-1])
    changed_last = steps[-1].startswith(f"year {last}:")
    return "; ".join(steps) + ("" if changed_last else f" (unchanged to year {last})")


def closure_text(ds: xr.Dataset, min_members: int) -> None:
    """When the plan closes: P(closure announced by the end of year N), only for the years
    where it changes, and when the closing paths close."""
    from engine.results import closure_summary

    if not min_members:
        print("closure: the plan has no minimum membership, so it never closes")
        return
    closures = closure_summary(ds)
    print(
        f"closure announced (fewer than {min_members:,} sharing members), by the end of "
        + closure_steps(closures)
    )
    if closures.attrs["closed_paths"]:
        q = closures.attrs["closure_period_quantiles"]
        dates = ds.period.values[[int(q["10%"]), int(q["50%"]), int(q["90%"])]]
        when = ", ".join(str(d)[:10] for d in dates)
        print(f"  date of the notice on the closing paths (10%, median, 90%): {when}")


def tail_text(ds: xr.Dataset, level: float = 0.995) -> None:
    """Where the liability comes from in the tail: each component's conditional means."""
    from engine.results import tail_components

    tails = tail_components(ds, level)
    rows = [
        [label(name).strip(), *(_number(x, 1e6) for x in tails.loc[name])] for name in tails.index
    ]
    at, beyond = tails.columns
    header = ["component", f"near the {at} path", f"beyond it ({beyond})"]
    show(
        rows,
        header,
        title="the liability's parts in the tail (million yuan)",
        note=(
            f"conditional means of each part: on the few paths nearest the liability's {at}, "
            "and on all the paths beyond it; the parts add up to the liability"
        ),
    )


def weighted_text(frame: pd.DataFrame, paths: int) -> None:
    """The importance-sampling table (``simulate_tail``'s), in the summary's layout, and its
    weight diagnostics."""
    estimates, diagnostics = [], []
    for name in dict.fromkeys(frame.index.get_level_values(0)):
        t = frame.loc[name]
        scale = _unit(name)[0]
        cells = []
        for stat in t.index:
            if stat == "mean weight":
                continue
            row = t.loc[stat]
            cells.append(f"{_number(row.estimate, scale)} ± {_number(row.std_error, scale)}")
            gain = (row.plain_std_error / row.std_error) ** 2 if row.std_error > 0 else math.nan
            diagnostics.append(
                [
                    f"{LABELS.get(name, name).strip()}: {stat}",
                    f"{row.effective_paths:,.1f}",
                    _number(row.plain_std_error, scale),
                    f"{gain:.2g}",
                ]
            )
        estimates.append([label(name), *cells])
    statistics = [s for s in dict.fromkeys(frame.index.get_level_values(1)) if s != "mean weight"]
    show(
        estimates,
        ["weighted, per path", *(f"{s} ± s.e." for s in statistics)],
        title="importance-sampled estimates",
        note="each estimate with its Monte Carlo standard error under the tilted sampling",
    )
    print()
    weight = frame.xs("mean weight", level=1).iloc[0]
    show(
        diagnostics,
        ["estimate", "effective paths", "s.e. unweighted", "variance reduction"],
        title=(
            f"weights: mean {weight.estimate:.3f} ± {weight.std_error:.3f} (1 when the tilt "
            f"is sound), {paths:,} paths"
        ),
        note=(
            "effective paths: the weights' effective sample size for the estimate; s.e. "
            "unweighted: the standard error plain sampling would have with as many paths; "
            "variance reduction: (s.e. unweighted / s.e.) squared"
        ),
    )
