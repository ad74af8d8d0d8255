"""Numerical health of a result: finite values, non-negative counts, money conserved.

``check_finite`` is cheap and runs on every simulation's Dataset; ``check_result`` adds the
accounting identities and is meant for tests and for results read back from files. Both
raise ``ValueError`` naming each faulty variable and the first place it goes wrong: the
path (its index, and its label when the run started at another path), the period (its
index and date), and any other dimension by its label.

"First" means the lowest path, then the earliest period on that path.
"""

import json
import math
from collections.abc import Hashable, Iterable

import numpy as np
import xarray as xr

from engine.errors import InputError
from engine.variables import COUNT_VARS, PATH_INT_VARS

__all__ = ["RTOL", "check_finite", "check_result"]

RTOL = 1e-9
"""Relative tolerance of the money identities, relative to the size of their terms."""

MONEY_IN = ("benefits", "fees")
MONEY_OUT = ("members_paid", "backstop", "shortfall")
OPTIONAL_OUT = ("reserve_draw", "notice_paid")
"""Each period: benefits + fees == members_paid + backstop + shortfall (+ reserve_draw, the
part of the cost a reserve fund paid, in results that have it)."""

LIABILITY = ("backstop", "shortfall", "recovered", "runoff")
"""liability == backstop + shortfall - recovered + runoff (+ reserve_draw)."""

_ORDER = ("path", "period")
ALWAYS_TRACKED = ("mean", "std")
"""Statistics of a streaming result that every variable has."""


def _ordered(var: xr.DataArray) -> xr.DataArray:
    """``var`` with ``path`` first, then ``period``, then its other dims in their order."""
    first = [d for d in _ORDER if d in var.dims]
    return var.transpose(*first, *(d for d in var.dims if d not in first))


def _label(ds: xr.Dataset, dim: Hashable, i: int) -> str:
    if dim not in ds.coords:
        return f"{dim} {i}"
    value = ds.coords[dim].values[i]
    if dim == "period":
        if np.issubdtype(np.asarray(value).dtype, np.datetime64):
            return f"period {i} ({np.datetime_as_string(value, unit='D')})"
        return f"period {i} ({value})"
    if dim == "path":
        return f"path {i}" if value == i else f"path {i} (label {value})"
    if isinstance(value, np.generic):
        value = value.item()
    return f"{dim} {value!r}"


def _where(ds: xr.Dataset, var: xr.DataArray, index: Iterable[int]) -> str:
    return ", ".join(_label(ds, d, int(i)) for d, i in zip(var.dims, index, strict=True))


def _first(ds: xr.Dataset, var: xr.DataArray, mask: np.ndarray) -> str:
    """Where the first True of ``mask`` (aligned with ``var``) is, and how many there are."""
    hits = np.argwhere(mask)
    index = tuple(int(i) for i in hits[0])
    value = var.values[index].item()
    place = _where(ds, var, index)
    text = f"{var.name} = {value!r}" + (f" at {place}" if place else "")
    more = len(hits) - 1
    return text + (f" (and {more} more)" if more else "")


def _untracked(var: xr.DataArray) -> np.ndarray | None:
    """Streaming results: quantiles a variable does not track are NaN at every period.

    Returns a mask aligned with ``var`` that is True on such rows, or None if there are none.
    """
    values = var.values
    if "statistic" not in var.dims or values.size == 0:
        return None
    axis = var.dims.index("statistic")
    others = tuple(a for a in range(values.ndim) if a != axis)
    rows = np.isnan(values).all(axis=others, keepdims=True)
    labels = np.asarray(var["statistic"].values) if "statistic" in var.coords else None
    if labels is not None:  # every variable tracks its mean and standard deviation
        always = np.isin(labels, ALWAYS_TRACKED).reshape(rows.shape)
        rows = rows & ~always
    return np.broadcast_to(rows, values.shape)


def _non_finite(ds: xr.Dataset) -> list[str]:
    problems = []
    for name in ds.data_vars:
        var = ds[name]
        if var.dtype.kind not in "fc" or var.size == 0:
            continue
        var = _ordered(var)
        mask = ~np.isfinite(var.values)
        if not mask.any():
            continue
        skip = _untracked(var)
        if skip is not None:
            mask &= ~skip
        if mask.any():
            problems.append(_first(ds, var, mask))
    return problems


def check_finite(ds: xr.Dataset) -> None:
    """Raise ``ValueError`` if any variable of ``ds`` holds NaN or an infinity.

    The message names every such variable, its first bad value and where it is: the path,
    the period (index and date) and any other dimension; per-path variables name the path
    only. Integer variables cannot hold either and are skipped. In a streaming result a
    quantile that is NaN at every period is one the variable does not track, not an error
    (its mean and standard deviation must be finite).

    Parameters
    ----------
    ds : xarray.Dataset
        A result, as ``engine.simulate.simulate`` returns it.

    Raises
    ------
    ValueError
        ``"non-finite values: benefits = nan at path 3, period 5 (2020-10-15); ..."``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> dates = pd.date_range("2020-08-01", periods=3, freq="SMS")
    >>> ds = xr.Dataset(
    ...     {"benefits": (("path", "period"), [[0.0, 1.0, 2.0], [3.0, np.inf, 5.0]])},
    ...     coords={"path": [0, 1], "period": dates},
    ... )
    >>> check_finite(ds)
    Traceback (most recent call last):
    ...
    engine.errors.InputError: non-finite values: benefits = inf at path 1, period 1 (2020-08-15)
    """
    problems = _non_finite(ds)
    if problems:
        raise InputError("non-finite values: " + "; ".join(problems))


def _scale(*terms: xr.DataArray) -> xr.DataArray:
    total = abs(terms[0])
    for t in terms[1:]:
        total = total + abs(t)
    return total


def _means(ds: xr.Dataset) -> xr.Dataset:
    """Streaming results: the identities hold for the means (the other statistics are not
    linear); a full result is returned as it is."""
    if "statistic" in ds.dims and "statistic" in ds.coords:
        return ds.sel(statistic=["mean"])
    return ds


def _identity(
    ds: xr.Dataset,
    label: str,
    lhs: xr.DataArray,
    rhs: xr.DataArray,
    scale: xr.DataArray,
    rtol: float,
) -> list[str]:
    diff = _ordered(lhs - rhs)
    bound = _ordered(scale).values * rtol
    mask = np.abs(diff.values) > bound
    if not mask.any():
        return []
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    place = _where(ds, diff, index)
    return [
        f"{label} fails at {place}: the two sides differ by {float(diff.values[index]):.6g} "
        f"(more than {rtol:g} of {float(bound[index] / rtol):.6g})"
        + (f" (and {int(mask.sum()) - 1} more)" if mask.sum() > 1 else "")
    ]


def _caps(ds: xr.Dataset) -> tuple[float, float]:
    """(cap per period, cap per year) from the scenario the result records; inf if none.

    The per-period cap is the plan's or a policy's mandatory maximum share, the lower.
    """
    try:
        scenario = json.loads(ds.attrs["scenario"])
        plan, policy = scenario["plan"], scenario.get("policy") or {}
        caps = [plan.get("cap_per_period"), policy.get("max_share"), plan.get("cap_per_year")]
        period, max_share, year = (math.inf if c is None else float(c) for c in caps)
    except (KeyError, TypeError, ValueError, AttributeError):
        return math.inf, math.inf
    return min(period, max_share), year


def _cap_problems(ds: xr.Dataset, rtol: float) -> list[str]:
    if "share_post" not in ds:
        return []
    share = _ordered(ds["share_post"])
    cap_period, cap_year = _caps(ds)
    problems = []
    if math.isfinite(cap_period):
        mask = share.values > cap_period * (1 + rtol)
        if mask.any():
            problems.append(f"above the per-period cap {cap_period:g}: " + _first(ds, share, mask))
    full = set(share.dims) == {"path", "period"}
    if math.isfinite(cap_year) and full and share.sizes["period"] and "period" in ds.coords:
        dates = ds["period"].values
        if np.issubdtype(dates.dtype, np.datetime64):
            years = dates.astype("datetime64[Y]").astype(int) + 1970
            for year in np.unique(years):
                total = share.values[:, years == year].sum(axis=1)
                bad = np.flatnonzero(total > cap_year * (1 + rtol))
                if bad.size:
                    where = _label(ds, "path", int(bad[0]))
                    problems.append(
                        f"share_post adds up to {total[bad[0]]:.6g} in {year} at {where}, above "
                        f"the per-year cap {cap_year:g}"
                        + (f" (and {bad.size - 1} more paths)" if bad.size > 1 else "")
                    )
    return problems


def check_result(ds: xr.Dataset, rtol: float = RTOL) -> None:
    """Raise ``ValueError`` unless ``ds`` passes basic sanity checks; all problems at once.

    Checks, on the variables the result has:

    * every value is finite (``check_finite``, which raises first);
    * counts (members, claims, joiners, stranded members ...) are never negative; ``members`` equals
      ``eligible + waiting``; ``active`` is 0 or 1; ``closure_period`` is -1 (never) or a
      period index;
    * money is conserved every period: ``benefits + fees == members_paid + backstop +
      shortfall (+ reserve_draw)``, and ``liability == backstop + shortfall - recovered +
      runoff (+ reserve_draw)``, each within ``rtol`` of the sum of the absolute values of
      its terms (for a streaming result, on the means);
    * ``share_post`` never exceeds the recorded scenario's per-period cap, and on a full
      result its sum over a calendar year never exceeds the per-year cap.

    Examples
    --------
    >>> from engine.simulate import simulate
    >>> from engine.scenario import load_scenario
    >>> check_result(simulate(load_scenario("scenarios/kangai.toml"), paths=2, years=0.5))
    """
    check_finite(ds)
    problems: list[str] = []
    for name in (*COUNT_VARS, *PATH_INT_VARS):
        if name in ds and name != "closure_period":
            var = _ordered(ds[name])
            mask = var.values < 0
            if mask.any():
                problems.append("negative count: " + _first(ds, var, mask))
    if "closure_period" in ds:
        var = _ordered(ds["closure_period"])
        periods = ds.sizes.get("period", 0)
        mask = (var.values < -1) | (var.values >= periods)
        if mask.any():
            problems.append(f"not -1 or a period index below {periods}: " + _first(ds, var, mask))
    if "active" in ds and ds["active"].dtype.kind in "iu":
        var = _ordered(ds["active"])
        mask = (var.values != 0) & (var.values != 1)
        if mask.any():
            problems.append("not 0 or 1: " + _first(ds, var, mask))
    if (
        all(n in ds for n in ("members", "eligible", "waiting"))
        and ds["members"].dtype.kind in "iu"
    ):
        var = _ordered(ds["members"] - ds["eligible"] - ds["waiting"]).rename("difference")
        mask = var.values != 0
        if mask.any():
            problems.append("members != eligible + waiting: " + _first(ds, var, mask))
    m = _means(ds)
    extra = [n for n in OPTIONAL_OUT if n in m]
    if all(n in m for n in (*MONEY_IN, *MONEY_OUT)):
        terms = [m[n] for n in (*MONEY_IN, *MONEY_OUT, *extra)]
        lhs = m["benefits"] + m["fees"]
        rhs = sum((m[n] for n in (*MONEY_OUT, *extra)), xr.zeros_like(lhs))
        label = " + ".join((*MONEY_OUT, *extra))
        label = f"money conservation (benefits + fees == {label})"
        problems += _identity(m, label, lhs, rhs, _scale(*terms), rtol)
    if all(n in m for n in ("liability", *LIABILITY)):
        terms = [m[n] for n in ("liability", *LIABILITY, *extra)]
        rhs = m["backstop"] + m["shortfall"] - m["recovered"] + m["runoff"]
        rhs = sum((m[n] for n in extra), rhs)
        label = "liability == backstop + shortfall - recovered + runoff" + "".join(
            f" + {n}" for n in extra
        )
        problems += _identity(m, label, m["liability"], rhs, _scale(*terms), rtol)
    problems += _cap_problems(ds, rtol)
    if problems:
        raise InputError("result fails its checks: " + "; ".join(problems))
