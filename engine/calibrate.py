"""Fit the incidence multiplier to a platform's published case counts.

Model
-----
A CSV gives, per period t, the sharing members ``m_t`` and the approved cases ``c_t``. The
cases are taken as Poisson with mean

    mu_t = m_t * hbar(k) * exp(beta * years_t),
    hbar(k) = sum over sex and age of w[s, a] * -ln(1 - min(q[s, a] k, 1)) / 24,

where ``q`` is the plan's incidence table, ``w`` the members' age/sex mix (kept **fixed over
time**: ageing, joins and selection are not modelled), ``k`` the incidence multiplier and
``beta`` an optional trend per year, ``years_t`` counted from the first period in the file.
``k`` absorbs everything that scales the claim rate: the approval rate, the coverage, the
population's health. Cases shared with a payment lag are matched to the members of the
period in which they are shared.

The default mix is the engine's starting population for the plan (``initial_members``: the
plan's ages in the CNNIC age mix, half men, everyone eligible). Intervals are profile
likelihood intervals. Periods with a missing count are left out of the likelihood.
"""

import csv
import datetime as dt
import io
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import optimize, special, stats

from engine.expected import hazard
from engine.plans import get_plan
from engine.scenario import load_scenario, scenario_from_dict
from engine.simulate import initial_members
from engine.tables import AGES, incidence_by_sex

REQUIRED = ("period", "members", "cases")
OPTIONAL = ("paid", "share")
_BAND = re.compile(r"(cases|members)_(\d+)_(\d+)")
_DAYS_PER_YEAR = 365.25
DISPERSION_ALPHA = 0.05
"""Significance level of the Pearson over-dispersion test."""


@dataclass(frozen=True)
class Estimate:
    """A fitted value with its confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


@dataclass(frozen=True, eq=False)
class Calibration:
    """The result of ``calibrate``.

    Attributes
    ----------
    k, trend : Estimate
        The incidence multiplier (at the first period) and the trend per year (None
        without ``trend``), Poisson fit.
    bands : dict
        ``(lo, hi) -> Estimate``: one multiplier per age band given in the data, with the
        overall trend held fixed.
    mean_paid : Estimate or None
        Mean amount paid per case (when the data have ``paid``), to compare with
        ``plan_benefit`` and ``plan_case_cost``, the plan's mean benefit and mean cost with
        fees per case under the mix at the fitted ``k``.
    pearson, df, dispersion, p_value, overdispersed
        Pearson's statistic, its degrees of freedom, their ratio and the upper-tail p-value
        of the chi-square test against the Poisson model; ``overdispersed`` when below
        ``DISPERSION_ALPHA``.
    nb_k, nb_alpha
        When over-dispersed: ``k`` from the negative-binomial (NB2, variance
        ``mu + alpha mu^2``) fit of the same mean, and its ``alpha``.
    loglik, periods_used
        The Poisson log-likelihood at the fit and the number of periods in it.
    data, fitted, fitted_share, mix
        The observations, the fitted cases and shares of every period (NaN where members
        are missing) and the mix used; ``to_frame`` puts them side by side. A fitted share
        is the fitted cases' cost with fees per member, under the plan's per-case and
        per-period caps (not its yearly cap).
    """

    plan: str
    tier: str
    table: str
    level: float
    source: str
    k: Estimate
    trend: Estimate | None
    bands: dict[tuple[int, int], Estimate]
    mean_paid: Estimate | None
    plan_benefit: float
    plan_case_cost: float
    loglik: float
    periods_used: int
    pearson: float
    df: int
    dispersion: float
    p_value: float
    overdispersed: bool
    nb_k: Estimate | None
    nb_alpha: float | None
    data: pd.DataFrame = field(repr=False)
    fitted: np.ndarray = field(repr=False)
    fitted_share: np.ndarray = field(repr=False)
    mix: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Observed and fitted cases (and shares) per period, missing periods as NaN.

        Examples
        --------
        >>> cal.to_frame().columns.tolist()[:4]  # doctest: +SKIP
        ['members', 'cases', 'fitted_cases', 'pearson_residual']
        """
        d = self.data
        out = pd.DataFrame(
            {"members": d["members"], "cases": d["cases"], "fitted_cases": self.fitted},
            index=d.index,
        )
        out["pearson_residual"] = (out["cases"] - out["fitted_cases"]) / np.sqrt(
            out["fitted_cases"].where(out["fitted_cases"] > 0)
        )
        if "paid" in d:
            out["paid"] = d["paid"]
        if "share" in d:
            out["share"] = d["share"]
            out["fitted_share"] = self.fitted_share
        return out

    def plot(self, ax: Axes | None = None) -> Figure:
        """Observed against fitted cases per period; a new Figure unless ``ax`` is given.

        Examples
        --------
        >>> cal.plot().savefig("fit.png")  # doctest: +SKIP
        """
        if ax is None:
            fig = Figure(figsize=(8, 4))
            ax = fig.subplots()
        frame = self.to_frame()
        ax.plot(frame.index, frame["fitted_cases"], "-", label=f"fitted, k = {self.k.value:.3g}")
        ax.plot(frame.index, frame["cases"], "o", markersize=3, label="observed")
        ax.set_xlabel("period")
        ax.set_ylabel("approved cases")
        ax.set_title(f"{self.source}: {self.plan} {self.tier}, table {self.table}")
        ax.legend()
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        return figure


# --------------------------------------------------------------------------- reading


LARGEST = 1e13
"""The largest count or amount a cell may hold (members, cases, yuan)."""


def _cell(text: str, where: str, whole: bool) -> float:
    """A count (``whole``) or an amount from one cell; NaN when empty."""
    text = text.strip()
    if not text:
        return math.nan
    kind = "a whole number" if whole else "a number"
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {shown} is not {kind}") from None
    too_big = math.isinf(value) and "inf" not in text.lower()  # digits beyond float range
    if too_big or value > LARGEST:
        raise ValueError(f"{where}: {shown} is above {LARGEST:.0e}, more than any platform")
    if not math.isfinite(value) or (whole and value != round(value)):
        raise ValueError(f"{where}: {shown} is not {kind}")
    if value < 0:
        raise ValueError(f"{where}: {shown} is negative")
    return value


def read_observations(path: str | Path) -> pd.DataFrame:
    """Read and check a CSV of published platform data.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header. Required columns: ``period`` (ISO date, increasing),
        ``members`` (sharing members) and ``cases`` (approved cases shared in the period),
        whole numbers >= 0; optional ``paid`` and ``share`` (yuan), and band pairs
        ``cases_<lo>_<hi>`` with ``members_<lo>_<hi>`` (ages lo to hi inclusive). Other
        columns are ignored. Empty cells are allowed.

    Returns
    -------
    pandas.DataFrame
        One float column per numeric column (NaN for empty cells), indexed by ``period``.

    Raises
    ------
    ValueError
        For a malformed file, naming the row (lines of the file, the header being row 1)
        and the column, e.g. ``data.csv row 7, column cases: 'abc' is not a whole number``.

    Examples
    --------
    >>> df = read_observations("data.csv")  # doctest: +SKIP
    >>> df[["members", "cases"]].head()  # doctest: +SKIP
    """
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not a CSV text file (it is not UTF-8)") from None
    if not text.strip():
        raise ValueError(f"{name}: the file is empty; expected a header {','.join(REQUIRED)}")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise ValueError(f"{name} row {reader.line_num}: not a valid CSV ({exc})") from None
    for column in REQUIRED:
        if column not in header:
            raise ValueError(
                f"{name} row 1, column {column}: missing from the header "
                f"(required: {', '.join(REQUIRED)}; found: {', '.join(header)})"
            )
    repeated = [column for column, n in Counter(header).items() if n > 1]
    if repeated:
        raise ValueError(f"{name} row 1, column {repeated[0]}: appears more than once")
    bands = [c for c in header if _BAND.fullmatch(c)]
    for column in bands:
        kind, lo, hi = _BAND.fullmatch(column).groups()  # type: ignore[union-attr]
        other = f"{'members' if kind == 'cases' else 'cases'}_{lo}_{hi}"
        if other not in header:
            raise ValueError(f"{name} row 1, column {other}: missing (needed with {column})")
        if not int(lo) <= int(hi) <= AGES[-1]:
            raise ValueError(f"{name} row 1, column {column}: ages {lo}-{hi} are not a band")
    numeric = ["members", "cases", *[c for c in OPTIONAL if c in header], *bands]
    if not rows:
        raise ValueError(f"{name}: no data rows below the header")
    dates: list[dt.date] = []
    values: list[list[float]] = []
    for line, row in rows:
        if len(row) != len(header):
            raise ValueError(
                f"{name} row {line}: {len(row)} cells, but the header has {len(header)} columns"
            )
        cells = dict(zip(header, row, strict=True))
        where = f"{name} row {line}, column period"
        try:
            date = dt.date.fromisoformat(cells["period"].strip())
        except ValueError:
            raise ValueError(
                f"{where}: {cells['period']!r} is not an ISO date (YYYY-MM-DD)"
            ) from None
        if dates and date <= dates[-1]:
            raise ValueError(f"{where}: {date} does not come after the row above ({dates[-1]})")
        dates.append(date)
        values.append(
            [_cell(cells[c], f"{name} row {line}, column {c}", c not in OPTIONAL) for c in numeric]
        )
    frame = pd.DataFrame(values, columns=numeric, index=pd.DatetimeIndex(dates, name="period"))
    lines = [line for line, _ in rows]
    pairs = [("members", "cases")] + [(f"members_{c[6:]}", c) for c in bands if c[0] == "c"]
    for members_column, cases_column in pairs:
        _check_cases_below_members(frame, members_column, cases_column, name, lines)
    frame.attrs["source"] = name
    return frame


def _check_cases_below_members(
    frame: pd.DataFrame, members_column: str, cases_column: str, name: str, lines: list[int]
) -> None:
    """Refuse a row whose cases are not fewer than its members (a claimant is a member, and
    the hazard of a whole pool falling ill in half a month is beyond any table)."""
    members, cases = frame[members_column].to_numpy(), frame[cases_column].to_numpy()
    bad = np.flatnonzero((cases > 0) & (cases >= members))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} row {lines[i]}, column {cases_column}: {cases[i]:g} cases among "
            f"{members[i]:g} members ({members_column}); cases must be fewer than members"
        )


def _check_frame(data: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("members", "cases") if c not in data]
    if missing:
        raise ValueError(f"data: column(s) {', '.join(missing)} missing")
    if not isinstance(data.index, pd.DatetimeIndex) or not data.index.is_monotonic_increasing:
        raise ValueError("data: the index must be increasing period dates")
    numbers = data.select_dtypes("number")
    if (numbers < 0).any().any():
        raise ValueError("data: counts and amounts must be >= 0")
    return data.astype(float)


# --------------------------------------------------------------------------- model


def default_mix(plan: str, tier: str | None = None) -> np.ndarray:
    """The members' age/sex mix ``[sex, age]`` (sums to 1) the engine starts a plan with.

    It is ``engine.simulate.initial_members`` of a scenario with the plan and the default
    population (CNNIC age mix within the plan's ages, half men), summed over tenure and
    risk class.

    Examples
    --------
    >>> mix = default_mix("xianghubao")
    >>> mix.shape, round(float(mix.sum()), 6), float(mix[:, 60:].sum())
    ((2, 106), 1.0, 0.0)
    """
    data: dict[str, Any] = {"plan": {"preset": plan}, "population": {"members": 10**9}}
    if tier is not None:
        data["plan"]["tier"] = tier
    members = initial_members(scenario_from_dict(data)).sum(axis=(0, 3)).astype(float)
    return members / members.sum()


def mean_hazard(k: float, mix: np.ndarray, q: np.ndarray) -> float:
    """Per-period hazard ``sum(mix * -ln(1 - min(q k, 1)) / 24)`` (inf if q k reaches 1).

    Examples
    --------
    >>> q = np.full((2, 106), 0.024)
    >>> round(mean_hazard(0.5, np.full((2, 106), 1 / 212), q), 6)
    0.000503
    """
    w = mix > 0
    return float((mix[w] * hazard(q[w] * k)).sum())


def _k_from_hazard(h: float, mix: np.ndarray, q: np.ndarray) -> float:
    """The multiplier whose mean hazard is ``h`` (hbar is increasing in k)."""
    if h <= 0:
        return 0.0
    if not math.isfinite(h):
        return math.inf
    k_max = 1.0 / q[mix > 0].max()
    hi = min(2 * h * 24 / float((mix * q).sum()), k_max)
    while mean_hazard(hi, mix, q) < h:
        hi = min(2 * hi, k_max * (1 - 1e-15))
    return float(optimize.brentq(lambda k: mean_hazard(k, mix, q) - h, 0.0, hi, xtol=1e-14))


def _nll(c: np.ndarray, eta: np.ndarray, r: float) -> float:
    """Negative log-likelihood without the constant sum(log c!), at linear predictor ``eta``.

    Poisson when ``r`` is inf, else negative binomial with size ``r`` (alpha = 1 / r).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mu = np.exp(eta)
        if math.isinf(r):
            value = float(np.sum(mu - c * eta))
        else:
            # log Gamma(c + r) - log Gamma(r), accurate for large r
            cp = np.maximum(c, 1.0)
            ratio = np.where(c > 0, special.gammaln(cp) - special.betaln(cp, r), 0.0)
            value = -float(np.sum(ratio - r * np.log1p(mu / r) + c * (eta - np.log(r + mu))))
    return value if math.isfinite(value) else math.inf


def _newton(
    c: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    r: float,
    params: list[float | None],
    start: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Minimise ``_nll`` over theta and beta where ``params`` holds None.

    The mean is ``exp(offset + theta + beta x)``. The likelihood is concave in (theta,
    beta) at a fixed ``r``, so Newton's method with step halving converges.
    """
    free = [i for i, v in enumerate(params) if v is None]
    p = np.array([start[i] if v is None else v for i, v in enumerate(params)], dtype=float)

    def value(p: np.ndarray) -> float:
        return _nll(c, offset + p[0] + p[1] * x, r)

    current = value(p)
    for _ in range(200):
        if not free:
            break
        with np.errstate(over="ignore"):
            mu = np.exp(offset + p[0] + p[1] * x)
        if math.isinf(r):
            d, w = mu - c, mu
        else:  # r (mu - c) / (r + mu) and r mu (r + c) / (r + mu)^2, without overflow
            share = 1.0 / (1.0 + r / mu)  # mu / (r + mu), 1 when mu overflows
            d = r * (share - c / (r + mu))
            w = (r + c) * share * (r / (r + mu))
        cols = [np.ones_like(x), x]
        g = np.array([(cols[i] * d).sum() for i in free])
        h = np.array([[(cols[i] * cols[j] * w).sum() for j in free] for i in free])
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(h)) or not h[0, 0] > 0:
            break  # the likelihood is flat or out of range here: keep the best point so far
        if len(free) == 1:
            step = g / h[0]
        else:
            det = h[0, 0] * h[1, 1] - h[0, 1] ** 2
            if not det > 0:
                raise ValueError("the trend cannot be fitted: the periods have no spread")
            step = (
                np.array([h[1, 1] * g[0] - h[0, 1] * g[1], h[0, 0] * g[1] - h[0, 1] * g[0]]) / det
            )
        t = 1.0
        while t > 1e-12:
            trial = p.copy()
            trial[free] -= t * step
            new = value(trial)
            if new <= current:
                break
            t /= 2
        else:
            break
        p, current = trial, new
        if np.abs(t * step).max() < 1e-11:
            break
    return current, p


_GAMMA_BOUNDS = (-20.0, 5.0)


def _fit(
    c: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    *,
    trend: bool,
    nb: bool,
    start: np.ndarray,
    fixed: dict[int, float] | None = None,
) -> tuple[float, np.ndarray]:
    """Maximum likelihood over the free parameters (theta, beta, log alpha).

    beta is 0 without ``trend``, log alpha unused without ``nb``; ``fixed`` holds theta
    (0) or beta (1) at a value. Returns the minimum of ``_nll`` and the parameters.
    """
    fixed = fixed or {}
    params = [fixed.get(0), fixed.get(1, None if trend else 0.0)]

    def at(gamma: float) -> tuple[float, np.ndarray]:
        r = math.exp(-gamma) if nb else math.inf
        return _newton(c, offset, x, r, params, start)

    if not nb:
        value, p = at(0.0)
        return value, np.array([p[0], p[1], start[2]])
    res = optimize.minimize_scalar(
        lambda g: at(g)[0], bounds=_GAMMA_BOUNDS, method="bounded", options={"xatol": 1e-7}
    )
    value, p = at(float(res.x))
    return value, np.array([p[0], p[1], float(res.x)])


def _interval(
    profile: Callable[[float], float], theta_hat: float, nll_hat: float, crit: float, step: float
) -> tuple[float, float]:
    """Profile likelihood interval in theta: where 2 (nll(theta) - nll_hat) = crit."""

    def excess(t: float) -> float:
        return 2 * (profile(t) - nll_hat) - crit

    bounds = []
    for sign in (-1.0, 1.0):
        inner, outer = theta_hat, theta_hat + sign * step
        for _ in range(60):
            if excess(outer) > 0:
                break
            inner, outer = outer, theta_hat + 2 * (outer - theta_hat)
        else:
            bounds.append(sign * math.inf)
            continue
        bounds.append(float(optimize.brentq(excess, inner, outer, xtol=1e-10, rtol=1e-12)))
    return bounds[0], bounds[1]


def _profile_fit(
    c: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    *,
    trend: bool,
    nb: bool,
    level: float,
    which: int = 0,
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The maximum likelihood parameters, the minimum, and the profile likelihood interval
    of parameter ``which`` (0: theta, 1: beta)."""
    crit = float(stats.chi2.ppf(level, 1))
    total = float(c.sum())
    if total == 0:
        # no cases: theta -> -inf; with neither trend nor dispersion the bound is explicit
        upper = math.log(crit / 2 / float(np.exp(offset).sum()))
        return np.array([-math.inf, 0.0, _GAMMA_BOUNDS[0]]), 0.0, (-math.inf, upper)
    start = np.array([math.log(total / float(np.exp(offset).sum())), 0.0, math.log(0.01)])
    nll_hat, params = _fit(c, offset, x, trend=trend, nb=nb, start=start)

    def profile(value: float) -> float:
        return _fit(c, offset, x, trend=trend, nb=nb, start=params, fixed={which: value})[0]

    step = 1 / math.sqrt(total) / (1.0 if which == 0 else max(float(x.std()), 1e-3))
    bounds = _interval(profile, float(params[which]), nll_hat, crit, step)
    return params, nll_hat, bounds


def _estimate(
    theta: float, bounds: tuple[float, float], mix: np.ndarray, q: np.ndarray
) -> Estimate:
    k = [_k_from_hazard(math.exp(t), mix, q) for t in (theta, *bounds)]
    return Estimate(*k)


def _mean_paid(data: pd.DataFrame, level: float) -> Estimate | None:
    """Ratio estimate of the amount paid per case, periods as the sampling units."""
    both = data[["paid", "cases"]].dropna()
    n, cases = len(both), float(both["cases"].sum())
    if n < 2 or cases == 0:
        return None
    ratio = float(both["paid"].sum()) / cases
    resid = both["paid"] - ratio * both["cases"]
    se = math.sqrt(n / (n - 1) * float((resid**2).sum())) / cases
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return Estimate(ratio, ratio - half, ratio + half)


def calibrate(
    data: str | Path | pd.DataFrame,
    plan: str,
    tier: str | None = None,
    *,
    table: str = "ci25",
    trend: bool = False,
    level: float = 0.95,
    mix: np.ndarray | None = None,
) -> Calibration:
    """Fit the incidence multiplier ``k`` (and a yearly trend) to observed case counts.

    Parameters
    ----------
    data : str, Path or pandas.DataFrame
        A CSV file (see ``read_observations``) or a DataFrame like the one it returns.
    plan : str
        The plan preset whose incidence ages, benefits and caps apply (``huzhu plans``).
    tier : str, optional
        The plan's tier; its first by default.
    table : str
        Incidence definition, ``"ci25"`` or ``"ci6"``.
    trend : bool
        Also fit ``beta``, the trend per year; ``k`` is then the multiplier at the first
        period.
    level : float
        Confidence level of the intervals.
    mix : numpy.ndarray, optional
        The members' age/sex mix ``[2, 106]`` (men first), fixed over time; by default
        ``default_mix(plan, tier)``.

    Returns
    -------
    Calibration
        Estimates with profile likelihood intervals, the dispersion test and the
        per-period fit.

    Examples
    --------
    >>> dates = pd.date_range("2020-01-01", periods=24, freq="SMS")
    >>> df = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=dates)
    >>> cal = calibrate(df, "xianghubao")
    >>> cal.k.low < cal.k.value < cal.k.high, cal.overdispersed
    (True, False)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    preset = get_plan(plan)
    tier = tier if tier is not None else next(iter(preset.tiers))
    preset.tier(tier)
    q = incidence_by_sex(table)
    if isinstance(data, pd.DataFrame):
        source = str(data.attrs.get("source", "data"))
        frame = _check_frame(data)
    else:
        frame = read_observations(data)
        source = Path(data).name
    if mix is None:
        mix = default_mix(plan, tier)
    mix = np.asarray(mix, dtype=float)
    if mix.shape != q.shape or (mix < 0).any() or mix.sum() <= 0:
        raise ValueError(f"mix must be an array [2, {AGES.size}] of weights >= 0, not all 0")
    mix = mix / mix.sum()
    if mean_hazard(1.0, mix, q) == 0:
        raise ValueError(f"table {table} gives no incidence at the ages of the mix")

    x = ((frame.index - frame.index[0]).days / _DAYS_PER_YEAR).to_numpy(dtype=float)
    used = frame[["members", "cases"]].notna().all(axis=1).to_numpy() & (
        frame["members"].to_numpy() > 0
    )
    c, m, xu = frame["cases"].to_numpy()[used], frame["members"].to_numpy()[used], x[used]
    if c.sum() == 0:
        raise ValueError(f"{source}: no period has both members and a positive count of cases")
    if trend and np.unique(xu).size < 2:
        raise ValueError(f"{source}: a trend needs at least 2 periods with members and cases")

    params, nll_hat, bounds = _profile_fit(c, np.log(m), xu, trend=trend, nb=False, level=level)
    theta, beta = float(params[0]), float(params[1])
    k = _estimate(theta, bounds, mix, q)
    trend_estimate = None
    if trend:
        _, _, beta_bounds = _profile_fit(
            c, np.log(m), xu, trend=True, nb=False, level=level, which=1
        )
        trend_estimate = Estimate(beta, *beta_bounds)

    h_hat = math.exp(theta)
    fitted = frame["members"].to_numpy() * h_hat * np.exp(beta * x)
    mu = fitted[used]
    pearson = float(((c - mu) ** 2 / mu).sum())
    df = int(used.sum()) - (2 if trend else 1)
    p_value = float(stats.chi2.sf(pearson, df)) if df > 0 else math.nan
    overdispersed = df > 0 and p_value < DISPERSION_ALPHA

    nb_k = nb_alpha = None
    if overdispersed:
        nb_params, _, nb_bounds = _profile_fit(c, np.log(m), xu, trend=trend, nb=True, level=level)
        nb_k = _estimate(float(nb_params[0]), nb_bounds, mix, q)
        nb_alpha = math.exp(float(nb_params[2]))

    bands = {}
    for column in frame.columns:
        match = _BAND.fullmatch(column)
        if not match or match.group(1) != "cases":
            continue
        lo, hi = int(match.group(2)), int(match.group(3))
        band_mix = mix * ((AGES >= lo) & (AGES <= hi))
        if band_mix.sum() == 0:
            raise ValueError(f"{source} column {column}: the mix has no members aged {lo}-{hi}")
        band_mix = band_mix / band_mix.sum()
        pair = frame[[f"members_{lo}_{hi}", column]].to_numpy()
        ok = ~np.isnan(pair).any(axis=1) & (pair[:, 0] > 0)
        if not ok.any():
            continue
        bp, _, bb = _profile_fit(
            pair[ok, 1],
            np.log(pair[ok, 0]) + beta * x[ok],
            x[ok],
            trend=False,
            nb=False,
            level=level,
        )
        bands[(lo, hi)] = _estimate(float(bp[0]), bb, band_mix, q)

    # cases by age under the mix at the fitted k, and what they cost
    with np.errstate(invalid="ignore"):  # ages nobody has, with certain illness: 0 * inf
        by_age = np.where(mix > 0, mix * hazard(q * k.value), 0.0).sum(axis=0)
    by_age = by_age / by_age.sum()
    cost = preset.case_cost_by_age(tier)
    members_all = frame["members"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        per_case = (by_age * np.minimum(cost / members_all[:, None], preset.cap_per_case)).sum(1)
    fitted_share = np.minimum(fitted * per_case, preset.cap_per_period)

    return Calibration(
        plan=plan,
        tier=tier,
        table=table,
        level=level,
        source=source,
        k=k,
        trend=trend_estimate,
        bands=bands,
        mean_paid=_mean_paid(frame, level) if "paid" in frame else None,
        plan_benefit=float((by_age * preset.benefit_by_age(tier)).sum()),
        plan_case_cost=float((by_age * cost).sum()),
        loglik=-nll_hat - float(special.gammaln(c + 1).sum()),
        periods_used=int(used.sum()),
        pearson=pearson,
        df=df,
        dispersion=pearson / df if df > 0 else math.nan,
        p_value=p_value,
        overdispersed=bool(overdispersed),
        nb_k=nb_k,
        nb_alpha=nb_alpha,
        data=frame,
        fitted=fitted,
        fitted_share=fitted_share,
        mix=mix,
    )


# --------------------------------------------------------------------------- outputs


def write_scenario(
    cal: Calibration, path: str | Path, base: str | Path | Mapping[str, Any] | None = None
) -> Path:
    """Write a scenario TOML that continues the observed platform; check that it loads.

    Parameters
    ----------
    cal : Calibration
        The fit.
    path : str or Path
        The file to write.
    base : str, Path or mapping, optional
        A scenario file, or its parsed data, whose other settings are kept.

    Returns
    -------
    Path
        ``path``, once the written file has loaded with ``load_scenario``.

    Notes
    -----
    It sets ``[plan]`` preset and tier, ``[population] members`` (the last observed),
    ``[incidence]`` table and ``multiplier`` (the fitted ``k``; with a trend, the multiplier
    reached at the start, and ``trend_per_year = exp(beta) - 1`` so the simulation carries the
    fitted trend on) and ``[run] start`` (the first 1st or 15th of a month after the last
    observed period). Everything else comes from ``base`` (a scenario file or its parsed
    data), or the defaults. A custom ``mix`` given to ``calibrate`` is not carried over: the
    scenario uses its ``population.age_mix``.

    Examples
    --------
    >>> write_scenario(cal, "calibrated.toml")  # doctest: +SKIP
    PosixPath('calibrated.toml')
    """
    path = Path(path)
    if base is None:
        data: dict[str, Any] = {}
    elif isinstance(base, Mapping):
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    else:
        data = tomllib.loads(Path(base).read_text(encoding="utf-8"))
    frame = cal.data
    members = frame["members"].dropna()
    start = (frame.index[-1] + pd.offsets.SemiMonthBegin()).date()
    multiplier = cal.k.value
    if cal.trend is not None:
        q = incidence_by_sex(cal.table)
        years = (pd.Timestamp(start) - frame.index[0]).days / _DAYS_PER_YEAR
        h = mean_hazard(cal.k.value, cal.mix, q) * math.exp(cal.trend.value * years)
        multiplier = _k_from_hazard(h, cal.mix, q)
    data.setdefault("name", f"{cal.plan} calibrated")
    data["description"] = (
        f"calibrated to {cal.source} ({cal.periods_used} periods to {frame.index[-1].date()}): "
        f"k = {cal.k} at {cal.level:.0%}"
        + (f", trend {cal.trend} per year" if cal.trend is not None else "")
    )
    data["plan"] = {**data.get("plan", {}), "preset": cal.plan, "tier": cal.tier}
    data["population"] = {**data.get("population", {}), "members": int(members.iloc[-1])}
    data["incidence"] = {**data.get("incidence", {}), "table": cal.table, "multiplier": multiplier}
    if cal.trend is not None:  # hazard x exp(beta years) goes on: (1 + trend) ** years
        data["incidence"]["trend_per_year"] = math.expm1(cal.trend.value)
    data["run"] = {**data.get("run", {}), "start": start}
    scenario_from_dict(data, str(path))
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    load_scenario(path)
    return path


def report(cal: Calibration, rows: int = 12) -> str:
    """A readable report: fitted values, the dispersion test, observed against fitted.

    Examples
    --------
    >>> print(report(cal))  # doctest: +SKIP
    """
    from engine.cli.table import table as _table

    plan = get_plan(cal.plan)
    pct = f"{cal.level:.0%}"
    frame = cal.to_frame()
    cases = frame["cases"][frame["fitted_cases"].notna()].sum()
    lines = [
        f"{cal.source}: {cal.periods_used} of {len(frame)} periods used, {cases:,.0f} cases; "
        f"plan {cal.plan} ({plan.name}), tier {cal.tier}, table {cal.table}",
        "",
        f"incidence multiplier k   {cal.k.value:.4f}   {pct} interval "
        f"{cal.k.low:.4f} - {cal.k.high:.4f} (Poisson, profile likelihood)",
    ]
    if cal.trend is not None:
        t = cal.trend
        lines.append(
            f"trend per year           {t.value:+.4f}   {pct} interval {t.low:+.4f} - "
            f"{t.high:+.4f} (k is the multiplier at {frame.index[0].date()})"
        )
    for (lo, hi), e in cal.bands.items():
        lines.append(
            f"k at ages {lo}-{hi}".ljust(25) + f"{e.value:.4f}   {pct} interval "
            f"{e.low:.4f} - {e.high:.4f}"
        )
    if cal.mean_paid is not None:
        e = cal.mean_paid
        lines.append(
            f"paid per case            {e.value:,.0f} yuan   {pct} interval {e.low:,.0f} - "
            f"{e.high:,.0f}; plan under the mix: benefit {cal.plan_benefit:,.0f}, "
            f"with fees {cal.plan_case_cost:,.0f}"
        )
    verdict = (
        "over-dispersed relative to Poisson"
        if cal.overdispersed
        else "consistent with Poisson"
        if cal.df > 0
        else "not testable"
    )
    lines += [
        "",
        f"dispersion: Pearson X2 = {cal.pearson:,.1f} on {cal.df} df, ratio {cal.dispersion:.2f}, "
        f"p = {cal.p_value:.3g}: {verdict} (test at {DISPERSION_ALPHA:g})",
    ]
    if cal.nb_k is not None:
        lines.append(
            f"negative binomial (NB2)  k = {cal.nb_k.value:.4f}   {pct} interval "
            f"{cal.nb_k.low:.4f} - {cal.nb_k.high:.4f}, alpha = {cal.nb_alpha:.3g}"
        )
    shown = frame.tail(rows)
    table_rows = []
    for date, (_, r) in zip(shown.index, shown.iterrows(), strict=True):
        row = [
            str(date.date()),
            "-" if np.isnan(r["members"]) else f"{r['members']:,.0f}",
            "-" if np.isnan(r["cases"]) else f"{r['cases']:,.0f}",
            "-" if np.isnan(r["fitted_cases"]) else f"{r['fitted_cases']:,.1f}",
        ]
        if "share" in shown:
            row += [
                "-" if np.isnan(r["share"]) else f"{r['share']:.4f}",
                "-" if np.isnan(r["fitted_share"]) else f"{r['fitted_share']:.4f}",
            ]
        table_rows.append(row)
    header = ["period", "members", "cases", "fitted"]
    if "share" in shown:
        header += ["share", "fitted share"]
    which = f"last {len(shown)} of {len(frame)} periods" if len(shown) < len(frame) else "all"
    lines += ["", f"observed and fitted ({which}):", _table(table_rows, header)]
    return "\n".join(lines)
