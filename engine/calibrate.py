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

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import optimize, special, stats

from engine.errors import InputError
from engine.expected import hazard
from engine.likelihood import DISPERSION_ALPHA, Estimate, dispersion_test, profile_fit
from engine.period_data import BAND_COLUMN, check_frame, read_observations
from engine.plans import PERIODS_PER_YEAR, Plan, get_plan
from engine.scenario import load_scenario, scenario_from_dict
from engine.scenario_inputs import initial_members
from engine.tables import AGES, incidence_by_sex

__all__ = [
    "DISPERSION_ALPHA",
    "Calibration",
    "Estimate",
    "calibrate",
    "default_mix",
    "mean_hazard",
    "read_observations",
    "report",
    "write_scenario",
]

_DAYS_PER_YEAR = 365.25


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
        >>> dates = pd.date_range("2020-01-01", periods=24, freq="SMS")
        >>> data = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=dates)
        >>> cal = calibrate(data, "xianghubao")
        >>> cal.to_frame().columns.tolist()
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
        >>> dates = pd.date_range("2020-01-01", periods=24, freq="SMS")
        >>> data = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=dates)
        >>> cal = calibrate(data, "xianghubao")
        >>> [line.get_label() for line in cal.plot().axes[0].get_lines()]
        ['fitted, k = 0.493', 'observed']
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


# --------------------------------------------------------------------------- model


def default_mix(plan: str, tier: str | None = None) -> np.ndarray:
    """The members' age/sex mix ``[sex, age]`` (sums to 1) the engine starts a plan with.

    It is ``engine.scenario_inputs.initial_members`` of a scenario with the plan and the default
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
    hi = min(2 * h * PERIODS_PER_YEAR / float((mix * q).sum()), k_max)
    while mean_hazard(hi, mix, q) < h:
        hi = min(2 * hi, k_max * (1 - 1e-15))
    return float(optimize.brentq(lambda k: mean_hazard(k, mix, q) - h, 0.0, hi, xtol=1e-14))


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


def _check_mix(
    mix: np.ndarray | None, plan: str, tier: str, q: np.ndarray, table: str
) -> np.ndarray:
    """The mix as weights summing to 1 (the plan's default when None)."""
    mix = np.asarray(default_mix(plan, tier) if mix is None else mix, dtype=float)
    if mix.shape != q.shape:
        problem = f"shape {mix.shape}"
    elif not (np.isfinite(mix).all() and (mix >= 0).all()):
        problem = "a negative or non-finite weight"
    elif mix.sum() <= 0:
        problem = f"sum {mix.sum():g}"
    else:
        problem = ""
    if problem:
        raise InputError(
            f"mix must be an array [2, {AGES.size}] of weights >= 0, not all 0; got {problem}"
        )
    mix = mix / mix.sum()
    if mean_hazard(1.0, mix, q) == 0:
        raise InputError(f"table {table!r} gives no incidence at the ages of the mix")
    return mix


def _observations(data: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The checked observations and the name of their source."""
    if isinstance(data, pd.DataFrame):
        return check_frame(data), str(data.attrs.get("source", "data"))
    return read_observations(data), Path(data).name


def _bands(
    frame: pd.DataFrame,
    source: str,
    mix: np.ndarray,
    q: np.ndarray,
    beta: float,
    x: np.ndarray,
    level: float,
) -> dict[tuple[int, int], Estimate]:
    """One multiplier per age band of the data (``cases_LO_HI`` with ``members_LO_HI``), the
    overall trend ``beta`` held fixed."""
    bands = {}
    for column in frame.columns:
        match = BAND_COLUMN.fullmatch(column)
        if not match or match.group(1) != "cases":
            continue
        lo, hi = int(match.group(2)), int(match.group(3))
        band_mix = mix * ((AGES >= lo) & (AGES <= hi))
        if band_mix.sum() == 0:
            raise InputError(
                f"{source} column {column}: the mix has no members "
                f"aged {lo}-{hi}; a band needs members of the plan's ages"
            )
        pair = frame[[f"members_{lo}_{hi}", column]].to_numpy()
        ok = ~np.isnan(pair).any(axis=1) & (pair[:, 0] > 0)
        if not ok.any():
            continue
        offset = np.log(pair[ok, 0]) + beta * x[ok]
        bp, _, bb = profile_fit(pair[ok, 1], offset, x[ok], trend=False, nb=False, level=level)
        bands[(lo, hi)] = _estimate(float(bp[0]), bb, band_mix / band_mix.sum(), q)
    return bands


def _costs(
    frame: pd.DataFrame, preset: Plan, tier: str, mix: np.ndarray, q: np.ndarray, k: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cases' age distribution under the mix at ``k``, the cost with fees of a case by
    age and the cost per member and case of every period under the per-case cap."""
    with np.errstate(invalid="ignore"):  # ages nobody has, with certain illness: 0 * inf
        by_age = np.where(mix > 0, mix * hazard(q * k), 0.0).sum(axis=0)
    by_age = by_age / by_age.sum()
    cost = preset.case_cost_by_age(tier)
    members = frame["members"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        per_case = (by_age * np.minimum(cost / members[:, None], preset.cap_per_case)).sum(1)
    return by_age, cost, per_case


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
        Confidence level of the intervals, between 0 and 1.
    mix : numpy.ndarray, optional
        The members' age/sex mix ``[2, 106]`` (men first), fixed over time; by default
        ``default_mix(plan, tier)``.

    Returns
    -------
    Calibration
        Estimates with profile likelihood intervals, the dispersion test and the
        per-period fit.

    Raises
    ------
    InputError
        For a bad file or frame, an unknown plan, tier or table, a level outside (0, 1), a
        bad mix, or data that carry no fit (no cases; a trend from one period).

    Examples
    --------
    >>> dates = pd.date_range("2020-01-01", periods=24, freq="SMS")
    >>> df = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=dates)
    >>> cal = calibrate(df, "xianghubao")
    >>> cal.k.low < cal.k.value < cal.k.high, cal.overdispersed
    (True, False)
    >>> calibrate(df, "xianghubao", level=95)
    Traceback (most recent call last):
    ...
    engine.errors.InputError: level must be between 0 and 1, got 95
    """
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    preset = get_plan(plan)
    tier = tier if tier is not None else next(iter(preset.tiers))
    preset.tier(tier)
    q = incidence_by_sex(table)
    frame, source = _observations(data)
    mix = _check_mix(mix, plan, tier, q, table)
    x = ((frame.index - frame.index[0]).days / _DAYS_PER_YEAR).to_numpy(dtype=float)
    members = frame["members"].to_numpy()
    used = frame[["members", "cases"]].notna().all(axis=1).to_numpy() & (members > 0)
    c, m, xu = frame["cases"].to_numpy()[used], members[used], x[used]
    if c.sum() == 0:
        raise InputError(f"{source}: no period has both members and a positive count of cases")
    if trend and np.unique(xu).size < 2:
        raise InputError(f"{source}: a trend needs at least 2 periods with members and cases")
    params, nll_hat, bounds = profile_fit(c, np.log(m), xu, trend=trend, nb=False, level=level)
    theta, beta = float(params[0]), float(params[1])
    k = _estimate(theta, bounds, mix, q)
    trend_estimate = None
    if trend:
        fit = profile_fit(c, np.log(m), xu, trend=True, nb=False, level=level, which=1)
        trend_estimate = Estimate(beta, *fit[2])
    fitted = members * math.exp(theta) * np.exp(beta * x)
    test = dispersion_test(c, fitted[used], 2 if trend else 1)
    nb_k = nb_alpha = None
    if test.overdispersed:
        nb_params, _, nb_bounds = profile_fit(c, np.log(m), xu, trend=trend, nb=True, level=level)
        nb_k = _estimate(float(nb_params[0]), nb_bounds, mix, q)
        nb_alpha = math.exp(float(nb_params[2]))
    by_age, cost, per_case = _costs(frame, preset, tier, mix, q, k.value)
    return Calibration(
        plan=plan,
        tier=tier,
        table=table,
        level=level,
        source=source,
        k=k,
        trend=trend_estimate,
        bands=_bands(frame, source, mix, q, beta, x, level),
        mean_paid=_mean_paid(frame, level) if "paid" in frame else None,
        plan_benefit=float((by_age * preset.benefit_by_age(tier)).sum()),
        plan_case_cost=float((by_age * cost).sum()),
        loglik=-nll_hat - float(special.gammaln(c + 1).sum()),
        periods_used=int(used.sum()),
        pearson=test.pearson,
        df=test.df,
        dispersion=test.ratio,
        p_value=test.p_value,
        overdispersed=test.overdispersed,
        nb_k=nb_k,
        nb_alpha=nb_alpha,
        data=frame,
        fitted=fitted,
        fitted_share=np.minimum(fitted * per_case, preset.cap_per_period),
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
    >>> dates = pd.date_range("2020-01-01", periods=24, freq="SMS")
    >>> data = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=dates)
    >>> cal = calibrate(data, "xianghubao")
    >>> import tempfile
    >>> out = write_scenario(cal, Path(tempfile.mkdtemp()) / "calibrated.toml")
    >>> s = load_scenario(out)
    >>> s.population.members, str(s.run.start), round(s.incidence.multiplier, 4)
    (1000000, '2021-01-01', 0.4929)
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
    >>> dates = pd.date_range("2020-01-01", periods=24, freq="SMS")
    >>> data = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=dates)
    >>> cal = calibrate(data, "xianghubao")
    >>> print(report(cal).splitlines()[2])
    incidence multiplier k   0.4929   95% interval 0.4641 - 0.5228 (Poisson, profile likelihood)
    """

    plan = get_plan(cal.plan)
    pct = f"{cal.level:.0%}"
    frame = cal.to_frame()
    cases = frame["cases"][frame["fitted_cases"].notna()].sum()
    lines = [
        f"{cal.source}: {cal.periods_used} of {len(frame)} periods used, {cases:,.0f} cases; "
        f"plan {cal.plan} ({plan.name}), tier {cal.tier}, table {cal.table}",
        "",
        cal.k.line("incidence multiplier k", cal.level) + " (Poisson, profile likelihood)",
    ]
    if cal.trend is not None:
        lines.append(
            cal.trend.line("trend per year", cal.level, "+.4f")
            + f" (k is the multiplier at {frame.index[0].date()})"
        )
    for (lo, hi), e in cal.bands.items():
        lines.append(e.line(f"k at ages {lo}-{hi}", cal.level))
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
    lines += ["", *_fit_table(frame, rows)]
    return "\n".join(lines)


def _fit_table(frame: pd.DataFrame, rows: int) -> list[str]:
    """The last ``rows`` periods, observed against fitted, with a line saying which."""
    from engine.cli.table import table as _table

    def cell(value: float, spec: str) -> str:
        return "-" if np.isnan(value) else format(value, spec)

    shown = frame.tail(rows)
    table_rows = []
    for date, (_, r) in zip(shown.index, shown.iterrows(), strict=True):
        row = [str(date.date()), cell(r["members"], ",.0f"), cell(r["cases"], ",.0f")]
        row.append(cell(r["fitted_cases"], ",.1f"))
        if "share" in shown:
            row += [cell(r["share"], ".4f"), cell(r["fitted_share"], ".4f")]
        table_rows.append(row)
    header = ["period", "members", "cases", "fitted"]
    if "share" in shown:
        header += ["share", "fitted share"]
    which = f"last {len(shown)} of {len(frame)} periods" if len(shown) < len(frame) else "all"
    return [f"observed and fitted ({which}):", _table(table_rows, header)]
