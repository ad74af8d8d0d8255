"""Importance sampling aimed at a tail: choosing the exponential tilts of the claim counts.

A run with ``run.tilt = theta`` draws every cohort's claim count with mean
``lam * exp(theta * c_a)``, ``c_a`` the cost of one case at the claimant's age, and records
each path's likelihood ratio (``log_weight``); in the periods of a closure notice it uses
``run.tilt_notice`` instead. :mod:`engine.importance` turns such a run into weighted risk
measures. This module chooses the tilts: for a static pool's threshold
(:func:`choose_tilt`) or, from a short plain pilot run, for the VaR level of any outcome
(:func:`choose_tilt_for_level`, used by :func:`simulate_tail` and ``huzhu run
--tail-target``).

**The tilts for a level.** The tilts move only the Poisson claim counts, whose part of an
outcome ``X`` is the cost martingale ``M = sum c_a (N - lam)``, the sum of two uncorrelated
parts: ``M_open`` from the periods while the plan is open and ``M_notice``
(``notice_martingale``) from those of a closure notice. The pilot fits ``X`` by least
squares on the two parts, ``Y = b_o M_open + b_n M_notice``, and measures
``rho = corr(Y, X)``. A closure's run-off and the notice a platform pays follow the few
notice periods' claims, which the whole path's ``M`` dilutes: on 灯火互助 the fit raises
``rho`` from 0.34 (``M`` alone) to 0.74. Tilting part ``j`` so that its mean moves by
``kappa b_j var(M_j)`` shifts ``Y`` by ``mu`` of its standard deviations when
``kappa = mu / sd(Y)``, and gives log weights of variance about ``mu^2`` (the exponential
family of a normal vector shifted along ``b``). Standardised, ``X ~ rho Z + sqrt(1 - rho^2)
E`` with ``Z`` the part driven by ``Y`` and ``E`` what the tilts cannot move (membership
flows, lapses, closure draws, and the top-up rounding of prepaid plans). For the tail
probability ``p = 1 - level`` beyond ``x = Phi^-1(level)`` the second moment of
``w 1{X > x}`` under the tilt is ``exp(mu^2) Phi(-(x + rho mu))``, so the predicted
variance reduction against plain Monte Carlo is
``R = p (1 - p) / (exp(mu^2) Phi(-(x + rho mu)) - p^2)`` (:func:`predicted_reduction`).
``mu`` minimises that second moment, at most ``sqrt(MAX_LOG_WEIGHT_VAR)``; each ``theta``
solves the mean shift of its part exactly (the expected claims of its phase by case cost).
For ``rho = 1`` and no cap this is the classical ``mu = x``; for ``rho = 0.4`` it is
``mu = 0.62``, not ``rho x = 1.03``: aiming the whole distance to the quantile with the
claims alone overshoots and leaves the tail to a few heavy paths.

**When the tilt cannot help.** An outcome that the claims barely drive (``rho`` below
about 0.3 at 99.5%) has ``R`` below :data:`MIN_VARIANCE_REDUCTION`. Importance sampling
would then buy little and rest the tail on a few paths, so :func:`simulate_tail` runs plain
Monte Carlo instead and says so with a :class:`TailWarning`; its attrs record
``tail_fallback = 1``.
"""

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from engine import kernel_inputs as P
from engine.errors import InputError
from engine.importance import (
    COLUMNS,
    DERIVED,
    KNOWN_MEANS,
    MAX_WEIGHT_SHARE,
    MIN_ESS_ALL,
    MIN_ESS_SHARE,
    MIN_TAIL_PATHS,
    TailWarning,
    _effective_paths,
    _mean_se,
    _warn_unhealthy,
    control_variate,
    importance_weights,
    path_values,
    tail_estimates,
)
from engine.scenario import Scenario
from engine.scenario_inputs import prepare
from engine.sections import TILTS
from engine.simulate import resolve, simulate

__all__ = [
    "COLUMNS",
    "DERIVED",
    "KNOWN_MEANS",
    "MAX_WEIGHT_SHARE",
    "MIN_ESS_ALL",
    "MIN_ESS_SHARE",
    "MIN_TAIL_PATHS",
    "TailWarning",
    "TiltChoice",
    "choose_tilt",
    "choose_tilt_for_level",
    "control_variate",
    "importance_weights",
    "path_values",
    "predicted_reduction",
    "simulate_tail",
    "tail_estimates",
]

TILT_MAX = 1e-3
"""Largest ``|run.tilt|`` a scenario accepts (per yuan)."""

MAX_LOG_WEIGHT_VAR = 1.0
"""Largest predicted variance of the log weights that :func:`choose_tilt_for_level`
accepts (assumed; 0.5-2 are reasonable). Log weights over many periods are close to
normal: with variance ``s2`` the effective sample size of all weights is about
``n exp(-s2)`` (37% of the paths at 1) and the relative error of their mean
``sqrt((exp(s2) - 1) / n)``; without the cap a 240-period run's mean weight, 1 in
expectation, came out at 0.81."""

MIN_VARIANCE_REDUCTION = 1.2
"""Smallest predicted variance reduction (:func:`predicted_reduction`) for which
:func:`simulate_tail` tilts; below it it runs plain Monte Carlo (assumed; 1.1-2 are
reasonable). At 99.5% 1.2 needs ``rho`` of about 0.3. The prepaid plans' shortfalls have
``rho`` of 0.35-0.55 (the rounding of top-ups to whole prepayments, which the claims do not
move smoothly, is the rest): their tilt buys a reduction of 1.3-2, measured by
``python -m benchmarks.tail_agreement``; at 2 they ran plain Monte Carlo."""


class TiltChoice(NamedTuple):
    """A tilt chosen from a pilot run (:func:`choose_tilt_for_level`)."""

    theta: float
    """The tilt while the plan is open, per yuan (0: plain Monte Carlo)."""
    theta_notice: float
    """The tilt in the periods of a closure notice, per yuan."""
    correlation: float
    """``corr(Y, X)`` in the pilot: ``X`` the target, ``Y`` its least-squares fit on the
    cost martingale's parts while open and in a notice."""
    shift: float
    """``mu``: the tilts' shift of ``Y`` in its standard deviations."""
    reduction: float
    """Predicted variance reduction of the tail probability at the level."""
    target: str
    """The variable ``X`` aimed at (``period_cost`` when the target has no spread)."""


def predicted_reduction(
    correlation: float, level: float, max_shift: float | None = None
) -> tuple[float, float]:
    """The shift ``mu`` and the predicted variance reduction ``R`` of ``P(X > VaR)``.

    Minimises ``mu^2 + log Phi(-(x + |rho| mu))`` over ``0 <= mu <= max_shift`` (default
    ``2 x``), ``x = Phi^-1(level)``, and returns ``(mu, R)`` with
    ``R = p (1 - p) / (exp(mu^2) Phi(-(x + |rho| mu)) - p^2)`` (module docstring).

    Examples
    --------
    >>> mu, r = predicted_reduction(0.0, 0.995)
    >>> round(mu, 6), round(r, 6)  # nothing to tilt: plain Monte Carlo
    (0.0, 1.0)
    >>> mu, r = predicted_reduction(1.0, 0.995, max_shift=1.0)
    >>> round(mu, 3), round(r, 1)  # the cap binds; Phi(-3.576) = 1.745e-4
    (1.0, 11.1)
    """
    x = float(stats.norm.isf(1.0 - level))
    p = 1.0 - level
    rho = abs(correlation)
    bound = 2.0 * x if max_shift is None else max_shift

    def log_second(mu: float) -> float:
        return mu * mu + float(stats.norm.logsf(x + rho * mu))

    mu = 0.0
    if rho > 0 and bound > 0:
        found = optimize.minimize_scalar(log_second, bounds=(0.0, bound), method="bounded")
        if found.fun < log_second(0.0):
            mu = float(found.x)
    second = np.exp(log_second(mu))
    return mu, float(p * (1 - p) / (second - p * p))


def _pool_claims(scenario: Scenario, joiners: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """The starting pool's expected approved claims per period by case cost.

    Returns (claims, case costs, fixed cost): ``claims[j]`` cases of cost ``costs[j]``;
    cohorts certain to claim (infinite hazard) are not tilted and give the fixed cost. With
    ``joiners``, a plan that starts without eligible members gets the joiners' age mix (one
    member in all: only the mix matters to :func:`choose_tilt_for_level`).
    """
    inputs = prepare(scenario)
    n_elig = int(inputs.ipar[P.N_ELIG])
    members = inputs.members0[:n_elig] * inputs.approval[:n_elig, None, None, None]
    if joiners and not members.any():
        n_class = inputs.hazard.shape[-1]
        members = np.repeat(inputs.join_weights[None, :, :, None] / n_class, n_class, axis=3)
    finite = np.isfinite(inputs.hazard)
    hazard = np.where(finite, inputs.hazard, 0.0)
    lam_by_age = (members * hazard).sum(axis=(0, 1, 3))
    certain = (members * ~finite).sum(axis=(0, 1, 3))
    fixed = float(np.dot(certain, inputs.case_cost))
    costs = np.unique(inputs.case_cost[lam_by_age > 0])
    claims = np.array([lam_by_age[inputs.case_cost == cost].sum() for cost in costs])
    return claims, costs, fixed


def _tilt_for_mean(claims: np.ndarray, costs: np.ndarray, target: float) -> float:
    """The ``theta`` with ``sum claims * costs * exp(theta * costs) = target``."""

    def excess(theta: float) -> float:
        return float(np.dot(claims * costs, np.exp(theta * costs))) - target

    base = excess(0.0)
    if base == 0.0:
        return 0.0
    sign = 1.0 if base < 0 else -1.0
    edge = sign * min(TILT_MAX, 1.0 / float(costs.max()))
    while excess(edge) * base > 0:
        if abs(edge) >= TILT_MAX:
            raise InputError(
                f"target {target:,.2f} needs |tilt| > {TILT_MAX:g} per yuan "
                f"(mean without tilt {base + target:,.2f})"
            )
        edge = sign * min(TILT_MAX, 2 * abs(edge))
    return float(optimize.brentq(excess, min(0.0, edge), max(0.0, edge), xtol=1e-16))


def choose_tilt(scenario: Scenario, threshold: float, variable: str = "period_cost") -> float:
    """Tilt that centres a static pool's one-period cost on ``threshold``.

    Solves ``sum_a lam_a c_a exp(theta c_a) = s`` for ``theta`` (``scipy.optimize.brentq``),
    ``lam_a`` the starting pool's expected approved claims per period of case cost ``c_a``
    (``engine.simulate.prepare``). Under that tilt the event ``S > s`` is typical, which
    is near-optimal for ``P(S > s)`` and for the tail beyond it.

    Parameters
    ----------
    scenario : Scenario
        A static pool (``claims.claimants_leave = false``, no flows), run for one period.
    threshold : float
        The target, yuan.
    variable : {"period_cost", "backstop"}
        ``"period_cost"``: ``s = threshold``. ``"backstop"``: the platform's per-period cap
        backstop ``(S - cap * members)^+`` exceeds ``threshold`` exactly when
        ``S > threshold + cap * members``, so ``s`` is that (plans with a per-period or
        yearly cap and no per-case cap).

    Returns
    -------
    float
        ``theta`` per yuan, for ``scenario.replace(run={"tilt": theta})``.

    Raises
    ------
    ValueError
        For an unknown ``variable``, a pool without claims, or a target that needs
        ``|theta|`` above the scenario's bound 1e-3.

    Examples
    --------
    >>> from engine.plans import PERIODS_PER_YEAR
    >>> from engine.scenario import scenario_from_dict
    >>> pool = scenario_from_dict({"plan": {"preset": "kangai"},
    ...     "population": {"members": 1_000_000}, "run": {"years": 1 / PERIODS_PER_YEAR},
    ...     "claims": {"payment_lag": 0, "claimants_leave": False}})
    >>> theta = choose_tilt(pool, 1.5e7)
    >>> round(theta * 153_015, 3)  # a single case cost: log of the ratio of the means
    0.764
    """
    claims, costs, fixed = _pool_claims(scenario)
    if variable == "period_cost":
        target = threshold
    elif variable == "backstop":
        plan = scenario.plan
        cap = min(plan.cap_per_period, plan.cap_per_year)
        if np.isfinite(plan.cap_per_case) or not np.isfinite(cap):
            raise InputError(
                "variable 'backstop' needs a per-period or yearly cap without a per-case cap; "
                f"plan {plan.pinyin} has cap_per_case={plan.cap_per_case}, "
                f"cap_per_period={plan.cap_per_period}, cap_per_year={plan.cap_per_year}"
            )
        target = threshold + cap * _sharing(scenario)
    else:
        raise InputError(f"variable must be one of ['backstop', 'period_cost'], got {variable!r}")
    if claims.size == 0:
        raise InputError("the pool expects no claims: no tilt can reach a threshold")
    return _tilt_for_mean(claims, costs, target - fixed)


def _sharing(scenario: Scenario) -> int:
    """Members sharing the first period's cases in a static pool."""
    inputs = prepare(scenario)
    n_elig = int(inputs.ipar[P.N_ELIG])
    members0 = inputs.members0
    return int(members0.sum() if scenario.waiting_members_share else members0[:n_elig].sum())


def _log_weight_variance(theta: float, claims: np.ndarray, costs: np.ndarray) -> float:
    """Variance of the log weight under the tilt: ``theta^2 sum_a L_a c_a^2 exp(theta c_a)``
    (the log weight is ``-theta`` times the tilted claim cost, plus a constant)."""
    return float(theta**2 * np.dot(claims * costs**2, np.exp(theta * costs)))


def _cap_log_weight_variance(
    theta: float, claims: np.ndarray, costs: np.ndarray, cap: float
) -> float:
    """``theta``, or the tilt of the same sign whose log weights have the variance ``cap``
    when ``theta``'s would exceed it."""
    if _log_weight_variance(theta, claims, costs) <= cap:
        return theta

    def excess(t: float) -> float:
        return _log_weight_variance(t, claims, costs) - cap

    lo, hi = min(0.0, theta), max(0.0, theta)
    return float(optimize.brentq(excess, lo, hi, xtol=1e-16))


def _phase_claims(pilot: xr.Dataset, notice: int) -> tuple[float, float]:
    """The pilot's mean claims per path while open and in a closure notice (the ``notice``
    periods after the closure period)."""
    claims = np.asarray(pilot["claims"].values, dtype=float)
    closed = np.asarray(pilot["closure_period"].values)[:, None]
    t = np.arange(claims.shape[1])[None, :]
    in_notice = (closed >= 0) & (t > closed) & (t <= closed + notice)
    total, during = claims.sum(axis=1).mean(), (claims * in_notice).sum(axis=1).mean()
    return float(total - during), float(during)


def _linear_part(x: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares coefficients of ``x`` on the columns of ``parts`` (with a constant) and
    the correlation of ``x`` with the fitted combination (0 without spread)."""
    design = np.column_stack([np.ones(x.size), parts])
    coef = np.linalg.lstsq(design, x, rcond=None)[0][1:]
    fitted = parts @ coef
    if not (np.ptp(x) > 0 and np.ptp(fitted) > 0):
        return coef, 0.0
    return coef, float(np.corrcoef(fitted, x)[0, 1])


def _pilot_choice(
    pilot: xr.Dataset, scenario: Scenario, level: float, max_var: float | None, variable: str
) -> TiltChoice:
    """The tilts aimed at ``variable``'s VaR at ``level`` from a plain pilot run."""
    total = path_values(pilot, "cost_martingale")
    during = path_values(pilot, "notice_martingale")
    martingales = np.column_stack([total - during, during])  # open, notice: uncorrelated
    phase_claims = np.array(_phase_claims(pilot, scenario.termination.notice_periods))
    moving = (np.ptp(martingales, axis=0) > 0) & (phase_claims > 0)
    claims, costs, _ = _pool_claims(scenario, joiners=True)
    none = TiltChoice(0.0, 0.0, 0.0, 0.0, 1.0, variable)
    if claims.size == 0 or not moving.any():
        return none
    for name in dict.fromkeys((variable, "period_cost")):  # the target, else the claim cost
        coef, rho = _linear_part(path_values(pilot, name), martingales[:, moving])
        if rho > 0 and np.isfinite(rho):
            break
    else:
        return none
    mu, reduction = predicted_reduction(rho, level, None if max_var is None else np.sqrt(max_var))
    kappa = mu / float((martingales[:, moving] @ coef).std(ddof=1))
    thetas = np.zeros(2)
    for j, b in zip(np.flatnonzero(moving), coef, strict=True):
        phase = claims * phase_claims[j] / claims.sum()
        base = float(np.dot(phase, costs))
        shift = kappa * b * float(martingales[:, j].var(ddof=1))
        theta = _tilt_for_mean(phase, costs, base + shift) if shift else 0.0
        if max_var is not None:  # the phase's share of the log weights' variance
            share = (kappa * b * float(martingales[:, j].std(ddof=1)) / mu) ** 2 if mu else 0.0
            theta = _cap_log_weight_variance(theta, phase, costs, max_var * share)
        thetas[j] = theta
    return TiltChoice(float(thetas[0]), float(thetas[1]), rho, mu, reduction, name)


def choose_tilt_for_level(
    scenario: Scenario,
    level: float = 0.995,
    *,
    pilot_paths: int = 200,
    seed: int | np.random.SeedSequence | None = None,
    first_path: int = 0,
    threads: int | None = None,
    max_log_weight_var: float | None = MAX_LOG_WEIGHT_VAR,
    variable: str = "period_cost",
) -> TiltChoice:
    """Tilts aimed at the VaR at ``level`` of ``variable``, from a plain pilot run.

    A pilot without tilt (``pilot_paths`` paths from ``first_path`` on) gives the least-squares
    fit ``Y = b_o M_open + b_n M_notice`` of the target ``X`` (``variable``; ``period_cost``
    when the target has no spread or no correlation in the pilot) on the cost martingale's
    parts while open and in a closure notice, and ``rho = corr(Y, X)``. ``mu`` and the
    predicted reduction follow from :func:`predicted_reduction`. Each part's tilt solves
    ``sum_a L_a c_a (exp(theta c_a) - 1) = kappa b_j var(M_j)``, ``kappa = mu / sd(Y)``
    (``scipy.optimize.brentq``), ``L_a`` the expected claims of the phase by case cost ``c_a``:
    the starting pool's age mix scaled to the pilot's mean number of claims in the phase. It
    is then lowered, if need be, until the predicted variance of its log weights,
    ``theta^2 sum_a L_a c_a^2 exp(theta c_a)``, is at most its share of
    ``max_log_weight_var``. See the module docstring for the model behind the choice.

    Parameters
    ----------
    scenario : Scenario
        Any scenario; its tilt is ignored.
    level : float
        VaR level in (0.5, 1).
    pilot_paths : int
        Paths of the pilot run.
    seed : int, SeedSequence or None
        The pilot's seed; default the scenario's.
    first_path : int
        First path of the pilot: set it past the main run's paths so the pilot's paths are
        independent of them (:func:`simulate_tail` does).
    threads : int, optional
        Threads of the pilot run (default all cores).
    max_log_weight_var : float or None
        The cap on the variance of the log weights; None: no cap (a one-period tail far out
        wants the full tilt, at the price of the body's weights).
    variable : str
        The outcome aimed at (see :func:`path_values`); a liability that falls when claims
        rise gets a negative tilt.

    Returns
    -------
    TiltChoice
        ``theta`` and ``theta_notice`` per yuan (0 when the pilot has no claims or no
        spread), ``rho``, ``mu``, the predicted reduction and the variable aimed at.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> s = load_scenario("scenarios/meituan.toml").replace(run={"years": 1})
    >>> choice = choose_tilt_for_level(s, pilot_paths=40, variable="liability_pv")
    >>> choice.theta > 0, choice.correlation > 0.5, choice.reduction > 2
    (True, True, True)
    """
    if not 0.5 < level < 1.0:
        raise InputError(f"level must lie in (0.5, 1), got {level!r}")
    if pilot_paths < 2:
        raise InputError(f"pilot_paths must be >= 2, got {pilot_paths}")
    plain = scenario.replace(run=dict.fromkeys(TILTS, 0.0))
    pilot = simulate(plain, pilot_paths, seed, first_path=first_path, threads=threads)
    return _pilot_choice(pilot, scenario, level, max_log_weight_var, variable)


def _warn_fallback(choice: TiltChoice, level: float, paths: int, least: float) -> None:
    """TailWarning when the tilt's predicted variance reduction is below ``least``."""
    beyond = paths * (1 - level)
    need = (
        f"; {paths:,} plain paths leave {beyond:.1f} beyond the VaR: about "
        f"{10 / (1 - level):,.0f} give VaR and TVaR with their errors"
        if beyond < 10
        else ""
    )
    warnings.warn(
        f"{choice.target}: the claim counts that importance sampling tilts explain "
        f"{100 * choice.correlation**2:.0f}% of its variance in the pilot (correlation "
        f"{choice.correlation:.2f}); a tilt would cut the variance at {level:g} by a predicted "
        f"{choice.reduction:.2f}x, below {least:g}x: plain Monte Carlo "
        f"estimates reported{need}",
        TailWarning,
        stacklevel=3,
    )


def simulate_tail(
    scenario: Scenario,
    level: float = 0.995,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    years: float | None = None,
    pilot_paths: int = 200,
    variables: Sequence[str] = ("liability_pv", "period_cost"),
    threads: int | None = None,
    max_log_weight_var: float | None = MAX_LOG_WEIGHT_VAR,
    min_reduction: float = MIN_VARIANCE_REDUCTION,
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Importance-sampled run aimed at the tail at ``level``, with its risk measures.

    Fixes the seed (:func:`engine.simulate.resolve`), chooses the tilts aimed at the first
    of ``variables`` (:func:`choose_tilt_for_level`) from ``pilot_paths`` plain paths
    numbered after the main run's, runs ``paths`` tilted paths and estimates each of
    ``variables`` (:func:`tail_estimates`) at ``level``. Below ``min_reduction`` the run is
    plain (tilts 0) and a :class:`TailWarning` says why. Same arguments, same tilts and run.

    Parameters
    ----------
    scenario : Scenario
        Any scenario; its own tilt is replaced.
    level : float
        The VaR/TVaR level to aim at and report, in (0.5, 1).
    paths, seed, years : optional
        As for :func:`engine.simulate.simulate` (default the scenario's ``[run]`` values).
    pilot_paths : int
        Paths of the plain pilot run that sets the tilt.
    variables : sequence of str
        Variables to estimate (see :func:`tail_estimates`).
    threads : int, optional
        Threads of both runs (default all cores).
    max_log_weight_var : float or None
        As for :func:`choose_tilt_for_level`.
    min_reduction : float
        Smallest predicted variance reduction worth a tilt (0: always tilt).

    Returns
    -------
    ds : xarray.Dataset
        The run; attrs added: ``tilt``, ``tilt_notice``, ``tail_level``, ``pilot_paths``,
        ``tail_correlation``, ``tail_shift``, ``tail_predicted_reduction`` (the
        :class:`TiltChoice`) and ``tail_fallback`` (1 when plain Monte Carlo was run).
    table : pandas.DataFrame
        Rows ``(variable, statistic)``, columns as in :func:`tail_estimates`.

    Warns
    -----
    TailWarning
        When the run falls back to plain Monte Carlo or the weights degenerate or are
        unhealthy.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> s = load_scenario("scenarios/xianghubao.toml")
    >>> ds, table = simulate_tail(s, paths=200, years=1, pilot_paths=40)
    >>> float(table.loc[("liability_pv", "TVaR 99.5%"), "estimate"]) > 0
    True
    """
    scenario = resolve(scenario, paths, seed, years)
    choice = choose_tilt_for_level(
        scenario,
        level,
        pilot_paths=pilot_paths,
        first_path=scenario.run.paths,
        threads=threads,
        max_log_weight_var=max_log_weight_var,
        variable=variables[0],
    )
    fallback = choice.reduction < min_reduction
    if fallback:
        _warn_fallback(choice, level, scenario.run.paths, min_reduction)
        choice = choice._replace(theta=0.0, theta_notice=0.0)
    tilts = dict(zip(TILTS, choice[:2], strict=True))
    ds = simulate(scenario.replace(run=tilts), threads=threads)
    ds.attrs.update(tail_level=level, pilot_paths=pilot_paths, tail_fallback=int(fallback))
    return ds, _estimate(ds, choice, variables, level)


def _estimate(
    ds: xr.Dataset, choice: TiltChoice, variables: Sequence[str], level: float
) -> pd.DataFrame:
    """Record ``choice`` in ``ds``'s attrs and estimate ``variables`` at ``level``; warn
    when all the weights are unhealthy."""
    ds.attrs.update(
        **dict(zip(TILTS, choice[:2], strict=True)),
        tail_correlation=choice.correlation,
        tail_shift=choice.shift,
        tail_predicted_reduction=choice.reduction,
    )
    table = pd.concat(
        {name: tail_estimates(ds, name, levels=(level,)) for name in variables},
        names=["variable", "statistic"],
    )
    w = importance_weights(ds)
    w_mean, w_se = _mean_se(w)
    _warn_unhealthy(w_mean, w_se, _effective_paths(w)[0], w.size)
    return table
