"""Fit incidence to what platforms publish: annual cases, a membership history.

Model
-----
With the eligible members ``n`` of every period t by join period s and (sex, age, class)
cell from ``engine.exposure``, the cases shared in calendar year y have mean

    mu_y = a * sum over t with year(t + L) = y, s <= t - W, cells of
           n[t, s, cell] h(q[sex, age] m[class] k) f[j(t - s)] (1 + trend)^(t / 24),

with ``h(x) = -ln(1 - min(x, 1)) / 24`` the kernel's hazard, ``q`` the incidence table,
``m`` the class multipliers (1 and ``incidence.impaired_multiplier``), ``k`` the incidence
multiplier, ``f`` the duration factors by policy year ``j = (t - s) // 24`` (the last one
repeated) and the trend multiplying the hazard as the kernel's do, ``W`` the waiting
periods, ``a`` the approval rate and ``L`` the payment lag. The annual counts are
Poisson; ``k``, ``trend`` and ``f`` are fitted by maximum likelihood (Fisher scoring) with
profile likelihood intervals. Pearson's statistic on the degrees of
freedom left after the fit measures the over-dispersion; when it is significant the
intervals are also given widened by it (profile quasi-likelihood).
"""

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import tomli_w
from scipy import special, stats

from engine.annual_data import Annual
from engine.errors import InputError
from engine.exposure import (
    Exposure,
    Membership,
    exposure,
    membership_from_path,
    membership_from_scenario,
)
from engine.likelihood import Estimate, dispersion_test, profile_interval
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import Incidence, Run, Scenario, load_scenario, scenario_from_dict
from engine.tables import AGES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# --------------------------------------------------------------------------- fit


class _Model:
    """Annual means and their derivatives in the parameters (log k, log(1 + trend),
    log f_j of the fitted policy years)."""

    def __init__(
        self,
        exp: Exposure,
        years: np.ndarray,
        trend: bool,
        log_f: np.ndarray,
        fitted: int,
        beta: float = 0.0,
    ) -> None:
        self.exp, self.trend, self.log_f, self.fitted, self.beta = exp, trend, log_f, fitted, beta
        row = {int(y): i for i, y in enumerate(years)}
        self.row = np.array([row.get(int(y), -1) for y in exp.year])
        self.in_rows = self.row >= 0
        self.t = np.arange(exp.year.size) / PERIODS_PER_YEAR
        self.n_rows = years.size

    def names(self) -> list[str]:
        return ["multiplier", *(["trend"] if self.trend else [])] + [
            f"duration_{j}" for j in range(self.fitted)
        ]

    def log_scale(self, p: np.ndarray) -> np.ndarray:
        """log of duration factor x trend, ``[period, policy year]``."""
        log_f = self.log_f.copy()
        log_f[: self.fitted] = p[1 + self.trend :]
        beta = p[1] if self.trend else self.beta
        return log_f[None, :] + beta * self.t[:, None]

    def by_period(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cases incurred per period and cell, their derivative in log k per period, and
        in the log scale per period and policy year; inf where q k reaches 1."""
        w, a = self.exp.weights, self.exp.rate
        with np.errstate(over="ignore"):
            x = math.exp(p[0]) * a
            scale = np.exp(self.log_scale(p))
        if np.any(x >= 1):
            t_all, years = w.shape[:2]
            return (
                np.full((t_all, a.size), np.inf),
                np.full(t_all, np.inf),
                np.full((t_all, years), np.inf),
            )
        h = -np.log1p(-x) / PERIODS_PER_YEAR
        ws = self.exp.approval * w * scale[:, :, None]
        mu = (ws * h).sum(axis=1)
        d_k = (ws * (x / (1 - x) / PERIODS_PER_YEAR)).sum(axis=(1, 2))
        return mu, d_k, (ws * h).sum(axis=2)

    def mean(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected cases of each row and their Jacobian ``[row, parameter]``."""
        mu_tc, d_k, d_s = self.by_period(p)
        if not np.isfinite(d_s).all():
            return np.full(self.n_rows, np.inf), np.zeros((self.n_rows, p.size))
        r = self.row[self.in_rows]
        mu = np.bincount(r, mu_tc.sum(axis=1)[self.in_rows], self.n_rows)
        cols = [d_k]
        if self.trend:
            cols.append(d_s.sum(axis=1) * self.t)
        cols += [d_s[:, j] for j in range(self.fitted)]
        jac = np.stack([np.bincount(r, c[self.in_rows], self.n_rows) for c in cols], axis=1)
        return mu, jac


def _nll(c: np.ndarray, mu: np.ndarray) -> float:
    """Poisson negative log-likelihood without sum(log c!); inf off the model's range."""
    if not np.all(np.isfinite(mu)) or np.any((mu <= 0) & (c > 0)):
        return math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(mu - np.where(c > 0, c * np.log(mu), 0.0)))


def _score(
    model: _Model, c: np.ndarray, start: np.ndarray, fixed: dict[int, float] | None = None
) -> tuple[float, np.ndarray]:
    """Fisher scoring with step halving over the parameters not in ``fixed``."""
    p = start.astype(float).copy()
    for i, v in (fixed or {}).items():
        p[i] = v
    free = [i for i in range(p.size) if i not in (fixed or {})]
    mu, jac = model.mean(p)
    current = _nll(c, mu)
    for _ in range(100):
        if not free or not math.isfinite(current):
            break
        j = jac[:, free]
        grad = j.T @ (1 - c / mu)
        info = (j / mu[:, None]).T @ j
        step = np.linalg.lstsq(info, grad, rcond=None)[0]
        t = 1.0
        while t > 1e-10:
            trial = p.copy()
            trial[free] -= t * step
            mu_trial, jac_trial = model.mean(trial)
            new = _nll(c, mu_trial)
            if new <= current:
                break
            t /= 2
        else:
            break
        p, current, mu, jac = trial, new, mu_trial, jac_trial
        if np.abs(t * step).max() < 1e-9:
            break
    return current, p


@dataclass(frozen=True, eq=False)
class AnnualCalibration:
    """The result of ``calibrate_annual``.

    Attributes
    ----------
    multiplier, trend : Estimate
        The incidence multiplier (at the grid's start, at the ultimate duration) and the
        trend per year (None when not fitted; ``fixed_trend`` then applies).
    duration_factors : tuple
        Per policy year, an Estimate where fitted, a float where held (the last repeated).
    sd_log : dict
        Standard deviation on the log scale of each fitted parameter (of ``1 + trend`` for
        the trend), from the width of its interval.
    pearson, deviance, df, dispersion, p_value, overdispersed
        Goodness of fit: Pearson's X2 and the deviance on ``df`` = rows - parameters
        degrees of freedom, X2 / df, the chi-square p-value of X2 and whether it is below
        ``DISPERSION_ALPHA``.
    quasi : dict or None
        When over-dispersed: the intervals widened by the dispersion.
    years : pandas.DataFrame
        By year: observed and fitted cases and shares, mean members and their mean age.
    """

    source: str
    level: float
    start: pd.Timestamp
    multiplier: Estimate
    trend: Estimate | None
    fixed_trend: float
    duration_factors: tuple[Estimate | float, ...]
    sd_log: dict[str, float]
    loglik: float
    pearson: float
    deviance: float
    df: int
    dispersion: float
    p_value: float
    overdispersed: bool
    quasi: dict[str, Estimate] | None
    years: pd.DataFrame = field(repr=False)

    def plot(self, ax: "Axes | None" = None) -> "Figure":
        """Observed and fitted cases by year; a new Figure unless ``ax`` is given."""
        from matplotlib.figure import Figure

        if ax is None:
            ax = Figure(figsize=(6, 4)).subplots()
        y = self.years
        ax.plot(y.index, y["fitted_cases"], "-", label=f"fitted, k = {self.multiplier.value:.3g}")
        ax.plot(y.index, y["cases"], "o", label="published")
        ax.set_xticks(list(y.index))
        ax.set_xlabel("year")
        ax.set_ylabel("cases")
        ax.set_title(self.source)
        ax.legend()
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        return figure

    def factors(self) -> list[float]:
        """The duration factors as numbers (fitted values where fitted)."""
        return [f.value if isinstance(f, Estimate) else f for f in self.duration_factors]


def _transform(name: str, v: float) -> float:
    return math.expm1(v) if name == "trend" else math.exp(v)


def _intervals(
    model: _Model, c: np.ndarray, p_hat: np.ndarray, nll_hat: float, crit: float
) -> dict[str, tuple[float, float]]:
    """Profile likelihood bounds of every parameter on its log scale."""
    mu, jac = model.mean(p_hat)
    cov = np.linalg.pinv((jac / mu[:, None]).T @ jac)
    out = {}
    for i, name in enumerate(model.names()):

        def profile(v: float, i: int = i) -> float:
            # start where the others would be if the likelihood were quadratic
            start = p_hat + cov[:, i] / cov[i, i] * (v - p_hat[i])
            return _score(model, c, start, {i: v})[0]

        step = math.sqrt(max(cov[i, i], 1e-12)) * math.sqrt(crit)
        out[name] = profile_interval(profile, float(p_hat[i]), nll_hat, crit, step)
    return out


def calibrate_annual(
    data: Annual,
    scenario: Scenario,
    membership: Membership | None = None,
    *,
    trend: bool = False,
    policy_years: int = 0,
    mix: np.ndarray | None = None,
    level: float = 0.95,
) -> AnnualCalibration:
    """Fit the incidence multiplier, and optionally a trend and duration factors, to
    annual case counts.

    Parameters
    ----------
    data : Annual
        Cases (and shares) by year; see ``annual_from_published`` and ``read_annual``.
    scenario : Scenario
        The plan and its rules (ages, waiting period, table, class multipliers, approval,
        payment lag), the mixes unless ``mix`` is given, and the trend and duration
        factors held where not fitted (``incidence.trend_per_year``,
        ``incidence.duration_factors``, where the scenario has them).
    membership : Membership, optional
        The history; by default ``data``'s milestones, else the scenario's growth curve.
    trend : bool
        Fit the trend per year (the data need 2 years or more).
    policy_years : int
        Fit duration factors for policy years 0 .. policy_years - 1, relative to 1 from
        policy year ``policy_years`` on (the ultimate).
    mix : numpy.ndarray, optional
        An age/sex mix ``[2, 106]`` for starting members and joiners alike.
    level : float
        Confidence level of the intervals.

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> from engine.annual_data import annual_from_published
    >>> from engine.tables import published
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 0}})
    >>> cal = calibrate_annual(annual_from_published(published()), s, policy_years=1)
    >>> cal.df, cal.multiplier.low < cal.multiplier.value < cal.multiplier.high
    (0, True)
    """
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    rows = data.rows
    if membership is None:
        membership = _membership(data, scenario)
    held = tuple(getattr(scenario.incidence, "duration_factors", ()) or (1.0,))
    log_f = np.log(np.ones(policy_years + 1) if policy_years else np.asarray(held, float))
    fixed_trend = 0.0 if trend else float(getattr(scenario.incidence, "trend_per_year", 0.0))
    exp = exposure(scenario, membership, log_f.size, mix)
    years = rows.index.to_numpy()
    _check_covered(exp, membership, years, data.source)
    c = rows["cases"].to_numpy(dtype=float)
    model = _Model(exp, years, trend, log_f, policy_years, math.log1p(fixed_trend))
    _check_identifiable(model, c, data.source)
    start = np.zeros(len(model.names()))
    start[0] = -30.0  # where h(x) = x / PERIODS_PER_YEAR to double precision
    start[0] = math.log(c.sum() / model.mean(start)[0].sum()) - 30.0
    nll_hat, p_hat = _score(model, c, start)
    crit = float(stats.chi2.ppf(level, 1))
    bounds = _intervals(model, c, p_hat, nll_hat, crit)
    mu = model.mean(p_hat)[0]
    test = dispersion_test(c, mu, p_hat.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviance = float(2 * np.sum(np.where(c > 0, c * np.log(c / mu), 0.0) - (c - mu)))
    estimates = _estimates(model, p_hat, bounds)
    quasi = None
    if test.overdispersed:
        quasi = _estimates(
            model, p_hat, _intervals(model, c, p_hat, nll_hat, crit * test.pearson / test.df)
        )
    z = float(stats.norm.ppf(0.5 + level / 2))
    factors: list[Estimate | float] = [math.exp(v) for v in log_f]
    for j in range(policy_years):
        factors[j] = estimates[f"duration_{j}"]
    return AnnualCalibration(
        source=data.source,
        level=level,
        start=exp.dates[0],
        multiplier=estimates["multiplier"],
        trend=estimates.get("trend"),
        fixed_trend=fixed_trend,
        duration_factors=tuple(factors),
        sd_log={name: (lo - hi) / (-2 * z) for name, (lo, hi) in bounds.items()},
        loglik=-nll_hat - float(special.gammaln(c + 1).sum()),
        pearson=test.pearson,
        deviance=deviance,
        df=test.df,
        dispersion=test.ratio,
        p_value=test.p_value,
        overdispersed=test.overdispersed,
        quasi=quasi,
        years=_by_year(model, p_hat, rows, scenario),
    )


def _membership(data: Annual, scenario: Scenario) -> Membership:
    """The data's milestones to the end of their last year, else the scenario's growth."""
    if data.milestones is None:
        return membership_from_scenario(scenario)
    until = pd.Timestamp(int(data.rows.index.max()) + 1, 1, 1)
    return membership_from_path(data.milestones.index, data.milestones, until)


def _estimates(
    model: _Model, p_hat: np.ndarray, bounds: dict[str, tuple[float, float]]
) -> dict[str, Estimate]:
    """Each parameter with its interval, back from its log scale."""
    return {
        name: Estimate(*(_transform(name, v) for v in (p_hat[i], *bounds[name])))
        for i, name in enumerate(model.names())
    }


def _check_covered(exp: Exposure, membership: Membership, years: np.ndarray, source: str) -> None:
    """Every year must lie inside the history: from its start (or from the launch, when
    the history starts with no members) to past its end."""
    start = exp.dates[0]
    launch = membership.seasoned + membership.waiting.sum() == 0
    first = start.year if launch or (start.month, start.day) == (1, 1) else start.year + 1
    # the year of the period after the last one shared
    after = pd.date_range(start, periods=exp.year.size + exp.lag + 1, freq="SMS")[-1]
    last = exp.year[-1] if after.year > exp.year[-1] else exp.year[-1] - 1
    outside = years[(years < first) | (years > last)]
    if outside.size:
        raise InputError(
            f"{source}: year {outside[0]} is outside the membership history "
            f"({exp.dates[0].date()} to {exp.dates[-1].date()})"
        )


def _check_identifiable(model: _Model, c: np.ndarray, source: str) -> None:
    """Refuse fits the data cannot carry, with the reason."""
    names = model.names()
    if c.sum() == 0:
        raise InputError(f"{source}: no year has a positive count of cases")
    if len(names) > c.size:
        raise InputError(
            f"{source}: {len(names)} parameters ({', '.join(names)}) cannot be fitted to "
            f"{c.size} year(s); fit fewer (trend, policy_years)"
        )
    exposed = model.exp.weights[model.in_rows].sum(axis=(0, 2))
    for j in range(model.fitted):
        if exposed[j] <= 0:
            raise InputError(
                f"{source}: policy year {j} has no eligible members in the years given, "
                "so its duration factor cannot be fitted"
            )
    if exposed.sum() <= 0:
        raise InputError(f"{source}: no eligible members in the years given")
    start = np.zeros(len(names))
    start[0] = -30.0
    jac = model.mean(start)[1]
    if np.linalg.matrix_rank(jac / np.abs(jac).max(axis=0), tol=1e-9) < len(names):
        raise InputError(
            f"{source}: {', '.join(names)} cannot be told apart with these years "
            "(their exposures are proportional); fit fewer"
        )


def _by_year(model: _Model, p: np.ndarray, rows: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Observed and fitted cases and shares, mean members and mean age, by year."""
    exp, plan = model.exp, scenario.plan
    mu_tc = model.by_period(p)[0]
    lag, t_all = scenario.claims.payment_lag, exp.year.size
    sharing = exp.members.sum(axis=1)
    if not scenario.waiting_members_share:
        sharing = exp.weights.sum(axis=(1, 2))
    n_share = sharing[np.minimum(np.arange(t_all) + lag, t_all - 1)]
    cost = plan.case_cost_by_age(scenario.tier)[exp.cell_age]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_case = np.where(
            n_share[:, None] > 0, np.minimum(cost / n_share[:, None], plan.cap_per_case), 0
        )
    share_t = np.minimum((mu_tc * per_case).sum(axis=1), plan.cap_per_period)
    period_year = exp.dates.year.to_numpy()
    out = rows.reindex(columns=["cases", "share"]).copy()
    out["fitted_cases"] = [mu_tc[model.exp.year == y].sum() for y in out.index]
    out["pearson_residual"] = (out["cases"] - out["fitted_cases"]) / np.sqrt(out["fitted_cases"])
    out["fitted_share"] = [share_t[model.exp.year == y].sum() for y in out.index]
    ages = exp.members @ (AGES + 0.5)
    members = exp.members.sum(axis=1)
    out["mean_members"] = [members[period_year == y].mean() for y in out.index]
    with np.errstate(invalid="ignore"):
        out["mean_age"] = [
            ages[period_year == y].sum() / members[period_year == y].sum() for y in out.index
        ]
    return out


# --------------------------------------------------------------------------- outputs


def report(cal: AnnualCalibration) -> str:
    """The fitted values with their intervals, the goodness of fit, the years side by side.

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> from engine.annual_data import annual_from_published
    >>> from engine.tables import published
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 0}})
    >>> cal = calibrate_annual(annual_from_published(published()), s, policy_years=1)
    >>> print(report(cal).splitlines()[0])
    published: 2 year(s), 85,203 cases; membership from 2018-10-15
    """
    from engine.cli.table import table as _table

    lines = [
        f"{cal.source}: {len(cal.years)} year(s), {cal.years['cases'].sum():,.0f} cases; "
        f"membership from {cal.start.date()}",
        "",
        cal.multiplier.line("incidence multiplier", cal.level) + " (Poisson, profile likelihood)",
    ]
    if cal.trend is not None:
        lines.append(cal.trend.line("trend per year", cal.level, "+.4f"))
    elif cal.fixed_trend:
        lines.append(f"trend per year           {cal.fixed_trend:+.4f}   held")
    for j, f in enumerate(cal.duration_factors):
        last = j == len(cal.duration_factors) - 1
        label = f"duration factor, year {j}{'+' if last else ''}".ljust(25)
        if isinstance(f, Estimate):
            lines.append(f.line(label, cal.level))
        else:
            lines.append(f"{label}{f:.4f}   held")
    if cal.df > 0:
        verdict = (
            "over-dispersed relative to Poisson" if cal.overdispersed else "consistent with Poisson"
        )
        lines += [
            "",
            f"fit: Pearson X2 = {cal.pearson:,.1f}, deviance {cal.deviance:,.1f} on {cal.df} df, "
            f"dispersion {cal.dispersion:.2f}, p = {cal.p_value:.3g}: {verdict}",
        ]
    else:
        lines += ["", "fit: as many parameters as years, so the fit is exact and not testable"]
    if cal.quasi is not None:
        lines.append(
            "intervals widened by the dispersion: "
            + "; ".join(f"{n} {e.low:.4g} - {e.high:.4g}" for n, e in cal.quasi.items())
        )
    rows = [
        [
            str(y),
            f"{r['cases']:,.0f}",
            f"{r['fitted_cases']:,.0f}",
            "-" if math.isnan(r["share"]) else f"{r['share']:.2f}",
            f"{r['fitted_share']:.2f}",
            f"{r['mean_members']:,.0f}",
            f"{r['mean_age']:.1f}",
        ]
        for y, r in cal.years.iterrows()
    ]
    header = ["year", "cases", "fitted", "share", "fitted share", "mean members", "mean age"]
    return "\n".join([*lines, "", _table(rows, header)])


def fitted_fields(cal: AnnualCalibration, start: str | dt.date) -> dict[str, float | list[float]]:
    """The ``[incidence]`` fields of a scenario starting at ``start`` that the fit gives:
    the multiplier (moved by the trend from the fit's start to ``start``), the trend and
    duration factors where fitted, and standard deviations on the log scale.

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> from engine.annual_data import annual_from_published
    >>> from engine.tables import published
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 0}})
    >>> cal = calibrate_annual(annual_from_published(published()), s, policy_years=1)
    >>> fields = fitted_fields(cal, "2018-10-15")
    >>> sorted(fields), fields["duration_factors"][-1]
    (['duration_factors', 'duration_factors_sd_log', 'multiplier', 'multiplier_sd_log'], 1.0)
    """
    first = pd.date_range(pd.Timestamp(start), periods=1, freq="SMS")[0]
    periods = round((first - cal.start).days / (365.25 / PERIODS_PER_YEAR))
    trend = cal.trend.value if cal.trend is not None else cal.fixed_trend
    out: dict[str, float | list[float]] = {
        "multiplier": cal.multiplier.value * (1 + trend) ** (periods / PERIODS_PER_YEAR),
        "multiplier_sd_log": cal.sd_log["multiplier"],
    }
    if cal.trend is not None:
        out["trend_per_year"] = cal.trend.value
        out["trend_sd_log"] = cal.sd_log["trend"]
    fitted = [j for j, f in enumerate(cal.duration_factors) if isinstance(f, Estimate)]
    if fitted:
        out["duration_factors"] = cal.factors()
        out["duration_factors_sd_log"] = [
            cal.sd_log.get(f"duration_{j}", 0.0) for j in range(len(cal.duration_factors))
        ]
    return out


def write_annual_scenario(
    cal: AnnualCalibration, path: str | Path, base: str | Path | Mapping[str, Any]
) -> Path:
    """Write ``base`` with the fitted ``[incidence]`` fields; check that it loads.

    Every other field of ``base`` is kept. A fitted value the scenario schema has no field
    for yet is written as a comment at the top, with the intervals of every fit.

    Examples
    --------
    >>> from engine.scenario import scenario_from_dict
    >>> from engine.annual_data import annual_from_published
    >>> from engine.tables import published
    >>> s = scenario_from_dict({"plan": {"preset": "xianghubao"}, "population": {"members": 0}})
    >>> cal = calibrate_annual(annual_from_published(published()), s, policy_years=1)
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "fitted.toml"
    >>> base = {"plan": {"preset": "xianghubao"}, "population": {"members": 75_000_000}}
    >>> load_scenario(write_annual_scenario(cal, out, base)).population.members
    75000000
    """
    path = Path(path)
    if isinstance(base, Mapping):
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    else:
        data = tomllib.loads(Path(base).read_text(encoding="utf-8"))
    start = data.get("run", {}).get("start", Run().start)
    known = Incidence.model_fields
    fields = fitted_fields(cal, start)
    incidence = dict(data.get("incidence", {}))
    comments = [
        f"# calibrated to {cal.source} (years {', '.join(map(str, cal.years.index))}), "
        f"{cal.level:.0%} profile likelihood intervals:",
        f"#   multiplier {cal.multiplier} at {cal.start.date()}",
    ]
    if cal.trend is not None:
        comments.append(f"#   trend per year {cal.trend}")
    for j, f in enumerate(cal.duration_factors):
        if isinstance(f, Estimate):
            comments.append(f"#   duration factor of policy year {j}: {f}")
    for name, value in fields.items():
        if name in known:
            incidence[name] = value
        else:
            shown = [round(v, 4) for v in value] if isinstance(value, list) else round(value, 4)
            comments.append(f"# incidence.{name} = {shown} (not a scenario field yet)")
    data["incidence"] = incidence
    scenario_from_dict(data, str(path))
    path.write_text("\n".join(comments) + "\n" + tomli_w.dumps(data), encoding="utf-8")
    load_scenario(path)
    return path
