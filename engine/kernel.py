"""The kernel: one path's periods, in parallel over paths. Jitted, arrays and scalars in,
arrays out; no I/O, no objects, no validation.

State of one path (``PathState``): ``members[tenure, sex, age, class]`` (int64). Tenure 0
holds seasoned eligible members; tenures ``1 .. window`` eligible members still inside the
audit window (stricter audits); tenures above ``window`` members in the waiting period, who
make no claims. Joiners enter at the highest tenure and count down one tenure a period.
Claims approved in period t are held in ``pending[(t + lag) % (lag + 1), age]`` by the
claimant's age and shared in period t + lag. With duration factors, the members of tenure 0
still inside the select period are also kept by duration: ``durations[j, sex, age, class]``
holds those ``entry + j`` periods from joining (``entry`` the joiners' tenure); the rest of
tenure 0 is past the last factor. Members of a tenure above 0 joined ``entry - tenure``
periods ago.

The inputs are declared in engine.kernel_inputs (``P``): ``inputs`` the arrays and
``rules`` the fixed integers (named tuples), ``params`` the table of float parameters by
period, read by named columns (``params[t, P.CAP_CASE]``);
``engine.simulate.KernelInputs.args()`` builds them from a scenario. A period is a sequence
of steps of one job each (illness, sharing and caps, deduction, flows, the end of the
period, closure, writing), each writing its outputs into the period's rows by the names of
the table of output variables (engine.variables); the cohort steps are in
engine.kernel_steps, the closure's cost in engine.kernel_closure.

Each path draws from its own streams, seeded from the run's key, the path index, the period
and the step only, so results do not depend on chunking or threads, any path can be
replayed alone, and lever settings compared on the same seed share their random numbers.
"""

from typing import NamedTuple

import numpy as np
from numba import prange

from engine import kernel_inputs as P
from engine._jit import jit
from engine.kernel_closure import closure_time, exit_cost
from engine.kernel_steps import (  # noqa: F401 (the streams, read by the reference)
    CLOSURE_STREAM,
    DEDUCTION,
    DISPERSION_STREAM,
    DURATION_STREAM,
    FLOWS,
    ILLNESS,
    MULTIPLIER_STREAM,
    SHOCK_STREAM,
    TREND_STREAM,
    WAVE_STREAM,
    advance_durations,
    age_and_wait,
    cap_share,
    deduct_prepay,
    impaired_members,
    pending_benefits,
    remove_members,
    share_cases,
    step_arrears,
    step_exits,
    step_illness,
    step_joiners,
    tenure_sums,
)
from engine.rng import beta_mean_sd, binomial, gamma, normal, poisson, seed_stream
from engine.variables import COUNT_VARS, MONEY_VARS, PATH_INT_VARS, TOTAL_VARS

# where the kernel writes each output, by name (engine.variables holds the table)
_C, _M, _T, _P = (v.index for v in (COUNT_VARS, MONEY_VARS, TOTAL_VARS, PATH_INT_VARS))
MEMBERS, SHARING, ELIGIBLE, WAITING = _C("members"), _C("sharing"), _C("eligible"), _C("waiting")
IMPAIRED, CLAIMS, APPROVED, CASES_PAID = (
    _C("impaired"),
    _C("claims"),
    _C("approved"),
    _C("cases_paid"),
)
FAILURES, AGED_OUT, JOINERS, EXITS = _C("failures"), _C("aged_out"), _C("joiners"), _C("exits")
DEATHS, LAPSES, ACTIVE, REMOVED = _C("deaths"), _C("lapses"), _C("active"), _C("removed")
BENEFITS, FEES, SHARE_PRE, SHARE_POST = (
    _M("benefits"),
    _M("fees"),
    _M("share_pre"),
    _M("share_post"),
)
MEMBERS_PAID, BACKSTOP, SHORTFALL = _M("members_paid"), _M("backstop"), _M("shortfall")
RECOVERED, RUNOFF, LIABILITY = _M("recovered"), _M("runoff"), _M("liability")
PREPAY_POOL, PLATFORM_COST, NET_CASH = _M("prepay_pool"), _M("platform_cost"), _M("net_cash")
RESERVE_DRAW, RESERVE, ARREARS = _M("reserve_draw"), _M("reserve"), _M("arrears")
WRITTEN_OFF, NOTICE_PAID, EXIT_COST = _M("written_off"), _M("notice_paid"), _M("exit_cost")
LIABILITY_PV, BACKSTOP_PV, SHORTFALL_PV = _T("liability_pv"), _T("backstop_pv"), _T("shortfall_pv")
RUNOFF_PV, SHARE_TOTAL, PLATFORM_RESULT = _T("runoff_pv"), _T("share_total"), _T("platform_result")
LOG_WEIGHT, COST_MARTINGALE, RESERVE_PV = _T("log_weight"), _T("cost_martingale"), _T("reserve_pv")
NOTICE_MARTINGALE = _T("notice_martingale")
STRANDED_CONTRIBUTIONS = _T("stranded_contributions")
CLOSURE_PERIOD, STRANDED_MEMBERS, CLOSURE_CAUSE = (
    _P("closure_period"),
    _P("stranded_members"),
    _P("closure_cause"),
)

NEVER, CAUSE_MEMBERS, CAUSE_DATE, CAUSE_HAZARD = range(4)
"""Values of ``closure_cause``: never closed, below the minimum, on the date, the hazard."""

OPEN, NOTICE, ENDED, RUNOFF_PERIOD = range(4)
"""Phases of a path: open, in the notice, ended, the run-off period after an unpaid notice."""


class PathState(NamedTuple):
    """One path's arrays, changed in place period by period."""

    m: np.ndarray
    """Members ``[tenure, sex, age, class]``."""
    dm: np.ndarray
    """Tenure-0 members by duration slot ``[slot, sex, age, class]``."""
    tot: np.ndarray
    """Members per tenure, kept in step with ``m``."""
    pending: np.ndarray
    """Approved claims by the row of the period they are shared in ``[lag + 1, age]``."""
    joined: np.ndarray
    """The period's joiners ``[sex, age, class]`` (for the duration slots)."""
    held: np.ndarray
    """Members in arrears by failures in a row."""
    owed: np.ndarray
    """What they owe (yuan)."""
    acc: np.ndarray
    """The log likelihood ratio, the cost martingale and its part from the notice."""
    st: np.ndarray
    """The generator of the step."""
    dst: np.ndarray
    """The generator of the split of leavers over duration slots."""
    ones: np.ndarray
    """Weight 1 per duration slot."""
    tilt: np.ndarray
    """Importance-sampling tilt ``[regime, age]``."""
    tilt_notice: np.ndarray
    """The tilt in the periods of a closure notice ``[regime, age]``."""
    known: np.ndarray
    """The path's incidence factor from its parameter draws ``[period]``."""
    shocks: np.ndarray
    """The period's incidence shock factor ``[period]``."""
    price_hazard: np.ndarray
    """The period's price-driven exit hazard ``[class]``."""


@jit
def path_factors(key, path, params, known, shocks):
    """The path's incidence factors, 1 where the fields are 0: ``known[t]`` from its
    parameter draws (a mean-one lognormal multiplier ``exp(s Z - s**2 / 2)`` and a mean-one
    trend ``exp(u_t Z' - u_t**2 / 2)``, ``u_t = trend_sd * years``, each one normal per
    path), ``shocks[t]`` from the period's draws (a gamma factor with mean 1 and variance
    ``DISPERSION``, times ``1 + k * SHOCK_SIZE`` with ``k`` ~ Poisson(``SHOCK_RATE``))."""
    st = np.empty(4, dtype=np.uint64)
    known[:] = 1.0
    shocks[:] = 1.0
    s = params[0, P.MULTIPLIER_SD]
    if s > 0.0:
        seed_stream(key, path, MULTIPLIER_STREAM, st)
        known[:] = np.exp(s * normal(st) - 0.5 * s * s)
    if (params[:, P.TREND_SD] > 0.0).any():
        seed_stream(key, path, TREND_STREAM, st)
        z = normal(st)
        for t in range(known.size):
            u = params[t, P.TREND_SD]
            if u > 0.0:
                known[t] *= np.exp(u * z - 0.5 * u * u)
    for t in range(shocks.size):
        a = params[t, P.DISPERSION]
        if a > 0.0:
            seed_stream(key, path, DISPERSION_STREAM + t, st)
            shocks[t] = gamma(st, 1.0 / a) * a
        if params[t, P.SHOCK_RATE] > 0.0:
            seed_stream(key, path, SHOCK_STREAM + t, st)
            shocks[t] *= 1.0 + poisson(st, params[t, P.SHOCK_RATE]) * params[t, P.SHOCK_SIZE]


@jit
def new_state(key, path, inputs, params, rules, periods):
    """The path's state at the start: the starting members, nothing pending, the path's
    incidence factors drawn (``path_factors``)."""
    m = inputs.members0.copy()
    dm = inputs.durations0.copy()
    tot = np.zeros(m.shape[0], dtype=np.int64)
    for w in range(m.shape[0]):
        tot[w] = m[w].sum()
    tilt = np.empty(inputs.case_cost.shape)
    tilt_notice = np.empty(inputs.case_cost.shape)
    for r in range(tilt.shape[0]):
        tilt[r] = params[0, P.TILT] * inputs.case_cost[r]
        tilt_notice[r] = params[0, P.TILT_NOTICE] * inputs.case_cost[r]
    held = np.zeros(max(rules.remove_after - 1, 1), dtype=np.int64)
    known = np.empty(periods)
    shocks = np.empty(periods)
    path_factors(key, path, params, known, shocks)
    return PathState(
        m,
        dm,
        tot,
        np.zeros((rules.lag + 1, m.shape[2]), dtype=np.int64),
        np.zeros(m.shape[1:], dtype=np.int64),
        held,
        np.zeros(held.size),
        np.zeros(3),
        np.empty(4, dtype=np.uint64),
        np.empty(4, dtype=np.uint64),
        np.ones(dm.shape[0]),
        tilt,
        tilt_notice,
        known,
        shocks,
        np.zeros(2),
    )


@jit
def illness_step(key, path, t, phase, s, inputs, params, rules, c):
    """Illness and audit (not in the run-off period): claims and approvals of the period."""
    if rules.duration_on:
        seed_stream(key, path, DURATION_STREAM + t, s.dst)
    if phase == RUNOFF_PERIOD:
        return
    seed_stream(key, path, 3 * t + ILLNESS, s.st)
    r = inputs.regime[t]
    lag = rules.lag
    factor = (
        params[t, P.INCIDENCE] * params[t, P.CLAIMS_RUSH]
        if phase == NOTICE
        else params[t, P.INCIDENCE]
    )
    factor *= s.known[t] * s.shocks[t]
    before = s.acc[1]
    c[CLAIMS], c[APPROVED] = step_illness(
        s.st, s.dst, s.m, s.dm, s.tot, inputs.hazard[r], inputs.approval[r], rules.n_elig,
        rules.claimants_leave, s.pending[(t + lag) % (lag + 1)], inputs.case_cost[r],
        s.tilt_notice[r] if phase == NOTICE else s.tilt[r], s.acc, factor,
        inputs.tenure_factor, inputs.slot_factor, rules.duration_on != 0,
    )  # fmt: skip
    if phase == NOTICE:
        s.acc[2] += s.acc[1] - before


@jit
def share_step(t, phase, s, inputs, params, rules, reserve, ytd, c, v):
    """Sharing and caps: the cases due, the share per member after the per-case cap, the
    reserve and the period and year caps; in a paid notice the platform pays the benefits
    (run-off), in an unpaid one the cases with their fees; in the run-off period every
    pending claim. The fees, and the reserve fed from them. Returns (due, reserve, ytd)."""
    r = inputs.regime[t]
    ben, cc = inputs.benefit[r], inputs.case_cost[r]
    row = s.pending[t % (rules.lag + 1)]
    eligible, waiting = tenure_sums(s.tot, rules.n_elig)
    sharing = eligible + waiting if rules.waiting_share else eligible
    pay_notice = rules.pay_notice != 0
    share = backstop = reserve_draw = due = 0.0
    if phase == RUNOFF_PERIOD:
        sharing = 0
        cases, benefits, cost = 0, 0.0, 0.0
        v[RUNOFF] = pending_benefits(s.pending, ben)
    elif phase == NOTICE:
        if pay_notice:
            sharing = 0
        cases, benefits, cost, _, _ = share_cases(row, ben, cc, 1, np.inf)
        if pay_notice:
            v[RUNOFF] = benefits
            benefits = cost = 0.0
    else:
        cases, benefits, cost, share, backstop = share_cases(
            row, ben, cc, sharing, params[t, P.CAP_CASE]
        )
        share, backstop, reserve_draw, reserve, ytd = cap_share(
            share, backstop, sharing, params, t, reserve, ytd, inputs.new_year[t]
        )
        due = share + params[t, P.MEMBER_FEE]
    fees = cost - benefits + params[t, P.MEMBER_FEE] * sharing
    if phase == NOTICE and not pay_notice:  # the platform pays the cases in full
        v[NOTICE_PAID] = benefits + fees
    else:
        reserve += params[t, P.RESERVE_RATE] * fees
    c[SHARING], c[CASES_PAID] = sharing, cases
    v[BENEFITS], v[FEES], v[BACKSTOP] = benefits, fees, backstop
    v[RESERVE_DRAW], v[RESERVE] = reserve_draw, reserve
    if sharing > 0:
        v[SHARE_PRE], v[SHARE_POST] = cost / sharing, share
    return due, reserve, ytd


@jit
def deduction_step(key, path, t, s, params, rules, due, start, state, c, v):
    """Deduction of ``due`` from each sharing member: the prepay pool with top-ups and
    lapses, or binomial failures at the period's rate (a beta draw with ``failure_sd``),
    with arrears when on. ``state`` is (pool, contributed, last_sharing), returned updated;
    ``start`` the members at the start of the period."""
    pool, contributed, last_sharing = state
    sharing = c[SHARING]
    need = due * sharing
    seed_stream(key, path, 3 * t + DEDUCTION, s.st)
    if sharing > 0:
        contributed += due * sharing / s.tot.sum()
    n_share_ten = s.m.shape[0] if rules.waiting_share else rules.n_elig
    duration_on = rules.duration_on != 0
    prepay = params[0, P.PREPAY]
    if prepay > 0.0:
        paid, shortfall, recovered, c[LAPSES], pool = deduct_prepay(
            s.st, s.dst, s.m, s.dm, s.tot, params, t, pool, need, sharing, start, n_share_ten,
            prepay, duration_on, s.ones,
        )  # fmt: skip
    else:
        rate = params[t, P.FAILURE_RATE]
        if params[t, P.FAILURE_SD] > 0.0 and rate > 0.0:
            seed_stream(key, path, WAVE_STREAM + t, s.st)
            rate = beta_mean_sd(s.st, rate, params[t, P.FAILURE_SD])
            seed_stream(key, path, 3 * t + DEDUCTION, s.st)
        failures = 0
        recovered = 0.0
        if rules.arrears_on:
            failures, recovered, removed, v[WRITTEN_OFF] = step_arrears(
                s.st, s.held, s.owed, sharing, last_sharing, rate, due, rules.remove_after,
                params[t, P.BACKPAY],
            )  # fmt: skip
            if removed > 0:
                removed = remove_members(
                    s.st, s.dst, s.m, s.dm, s.tot, n_share_ten, removed, duration_on, s.ones
                )
            last_sharing = sharing - removed
            c[REMOVED] = removed
        elif rate > 0.0:
            failures = binomial(s.st, sharing, rate)
        shortfall = failures * due
        if not rules.arrears_on:
            recovered = params[t, P.RECOVERY_RATE] * shortfall
        paid = need - shortfall
        c[FAILURES] = failures
    v[MEMBERS_PAID], v[SHORTFALL], v[RECOVERED] = paid, shortfall, recovered
    return pool, contributed, last_sharing


@jit
def flows_step(key, path, t, s, inputs, params, rules, due, pool, contributed, c):
    """Membership flows, priced on the share just paid: exits (base and price-driven by
    class), deaths, joiners. Returns (pool, contributed)."""
    seed_stream(key, path, 3 * t + FLOWS, s.st)
    r = inputs.regime[t]
    prepay = params[0, P.PREPAY]
    ratio = due / params[t, P.REF_SHARE] if params[t, P.REF_SHARE] > 0.0 else 1.0
    before = s.tot.sum()
    exits = deaths = joiners = 0
    if rules.exits_on:
        s.price_hazard[0] = params[t, P.PRICE_RATE] * ratio ** params[t, P.ELASTICITY_STANDARD]
        s.price_hazard[1] = params[t, P.PRICE_RATE] * ratio ** params[t, P.ELASTICITY_IMPAIRED]
        exits, deaths = step_exits(
            s.st, s.dst, s.m, s.dm, s.tot, inputs.base_exit[r], inputs.mortality[r],
            s.price_hazard, rules.mortality_on, rules.duration_on != 0, s.ones,
        )  # fmt: skip
    if prepay > 0.0 and before > 0:
        pool *= (before - exits - deaths) / before
    if inputs.join_expected[t] > 0.0:
        expected = inputs.join_expected[t] * max(ratio, 0.5) ** -params[t, P.JOIN_ELASTICITY]
        f = min(1.0, params[t, P.IMPAIRED_SHARE] * ratio ** params[t, P.IMPAIRED_SENSITIVITY])
        s.joined[:] = 0
        joiners = step_joiners(s.st, s.m, s.tot, expected, inputs.join_weights[r], f, s.joined)
        pool += joiners * prepay
        if joiners > 0:
            contributed *= (s.tot.sum() - joiners) / s.tot.sum()
    c[EXITS], c[DEATHS], c[JOINERS] = exits, deaths, joiners
    return pool, contributed


@jit
def end_step(t, s, inputs, params, rules, pool, c):
    """End of the period: duration slots move on, tenures count down, on anniversaries
    everyone ages and those past the maximum age leave (their balances with them).
    Returns the pool."""
    if rules.duration_on:
        advance_durations(s.dm, s.m, s.joined, inputs.age_up[t], rules.max_age)
        s.joined[:] = 0
    aged_out = age_and_wait(s.m, s.tot, inputs.age_up[t], rules.max_age)
    if params[0, P.PREPAY] > 0.0:
        left = s.tot.sum()
        pool = pool * left / (left + aged_out) if left + aged_out > 0 else 0.0
    c[AGED_OUT] = aged_out
    return pool


@jit
def closure_step(t, phase, state, s, inputs, params, rules, v, totals, path_ints):
    """Closure: while open, the exit cost, and the notice announced when the sharing members
    fall below the minimum, on the date or in the path's outside-closure period (``state``
    is (notice_left, outside, contributed, pool)); at the end of the notice the pending
    claims are run off (in the next period after an unpaid notice), the members still in
    are stranded (transferred at a cost when on) and their arrears written off.

    Returns (phase, notice_left, pool)."""
    notice_left, outside, contributed, pool = state
    if phase == OPEN:
        v[EXIT_COST] = exit_cost(t, s.m, s.pending, inputs, params, rules, s.known)
        eligible, waiting = tenure_sums(s.tot, rules.n_elig)
        after = eligible + waiting if rules.waiting_share else eligible
        cause = NEVER
        if after < rules.min_members:
            cause = CAUSE_MEMBERS
        elif t == rules.announce:
            cause = CAUSE_DATE
        elif t == outside:
            cause = CAUSE_HAZARD
        if cause != NEVER:
            phase, notice_left = NOTICE, rules.notice
            path_ints[CLOSURE_PERIOD], path_ints[CLOSURE_CAUSE] = t, cause
    elif phase == NOTICE:
        notice_left -= 1
    elif phase == RUNOFF_PERIOD:
        phase = ENDED
    if phase == NOTICE and notice_left == 0:
        phase = ENDED if rules.pay_notice or t == s.known.size - 1 else RUNOFF_PERIOD
        if phase == ENDED:
            v[RUNOFF] += pending_benefits(s.pending, inputs.benefit[inputs.regime[t]])
        left = s.tot.sum()
        path_ints[STRANDED_MEMBERS] = left
        totals[STRANDED_CONTRIBUTIONS] = left * contributed
        if rules.transfer:
            v[RUNOFF] += left * params[t, P.TRANSFER_COST]
        s.m[:] = 0
        s.dm[:] = 0
        s.tot[:] = 0
        pool = 0.0
        v[WRITTEN_OFF] += s.owed.sum()
        s.held[:] = 0
        s.owed[:] = 0.0
    return phase, notice_left, pool


@jit
def write_period(t, unpaid, phase, due, pool, s, params, rules, d, c, v, totals, path_ints):
    """The period's members at its end, liability, costs and net cash, from what the steps
    wrote into its rows ``c`` and ``v``; the path's discounted (``d``) totals."""
    eligible, waiting = tenure_sums(s.tot, rules.n_elig)
    c[MEMBERS], c[ELIGIBLE], c[WAITING] = eligible + waiting, eligible, waiting
    c[IMPAIRED] = impaired_members(s.m, s.tot)
    c[ACTIVE] = 1 if phase == OPEN or path_ints[CLOSURE_PERIOD] == t else 0
    liability = v[BACKSTOP] + v[SHORTFALL] - v[RECOVERED] + v[RUNOFF] + v[RESERVE_DRAW]
    if unpaid:
        liability += v[NOTICE_PAID]
    platform_cost = (
        params[t, P.FIXED_COST]
        + params[t, P.COST_PER_CASE] * c[CLAIMS]
        + params[t, P.COST_PER_JOINER] * c[JOINERS]
    )
    net = v[FEES] - platform_cost - liability
    v[LIABILITY], v[PLATFORM_COST], v[NET_CASH] = liability, platform_cost, net
    v[PREPAY_POOL], v[ARREARS] = pool, s.owed.sum()
    totals[LIABILITY_PV] += liability * d
    totals[BACKSTOP_PV] += v[BACKSTOP] * d
    totals[SHORTFALL_PV] += (v[SHORTFALL] - v[RECOVERED]) * d
    totals[RUNOFF_PV] += v[RUNOFF] * d
    totals[SHARE_TOTAL] += due if c[SHARING] > 0 else 0.0
    totals[PLATFORM_RESULT] += net
    totals[RESERVE_PV] += v[RESERVE_DRAW] * d


@jit
def run_path(key, path, inputs, params, rules, counts, money, totals, path_ints):
    """Simulate one path over ``counts.shape[0]`` periods into its rows of the outputs
    (zeroed first; the periods after the path ended stay zero).

    Each period's illness, deductions and flows draw from their own sub-streams of the
    path, so the numbers of one step do not depend on how many draws another step made.
    """
    counts[:] = 0
    money[:] = 0.0
    totals[:] = 0.0
    path_ints[:] = 0
    path_ints[CLOSURE_PERIOD] = -1
    s = new_state(key, path, inputs, params, rules, counts.shape[0])
    outside = closure_time(key, path, inputs.closure_p) if rules.hazard_on else -1
    pool = s.tot.sum() * params[0, P.PREPAY]
    ytd = contributed = 0.0
    reserve = params[0, P.RESERVE]  # contributed: average past contributions of a member
    phase = notice_left = last_sharing = 0
    for t in range(counts.shape[0]):
        if phase == ENDED:
            break
        c, v = counts[t], money[t]
        start = s.tot.sum()
        unpaid = phase == NOTICE and rules.pay_notice == 0
        illness_step(key, path, t, phase, s, inputs, params, rules, c)
        due, reserve, ytd = share_step(t, phase, s, inputs, params, rules, reserve, ytd, c, v)
        if phase == OPEN:
            pool, contributed, last_sharing = deduction_step(
                key, path, t, s, params, rules, due, start, (pool, contributed, last_sharing),
                c, v,
            )  # fmt: skip
            pool, contributed = flows_step(
                key, path, t, s, inputs, params, rules, due, pool, contributed, c
            )
        pool = end_step(t, s, inputs, params, rules, pool, c)
        phase, notice_left, pool = closure_step(
            t, phase, (notice_left, outside, contributed, pool), s, inputs, params, rules, v,
            totals, path_ints,
        )  # fmt: skip
        write_period(
            t, unpaid, phase, due, pool, s, params, rules, inputs.discount[t], c, v, totals,
            path_ints,
        )  # fmt: skip
    totals[LOG_WEIGHT], totals[COST_MARTINGALE] = s.acc[0], s.acc[1]
    totals[NOTICE_MARTINGALE] = s.acc[2]


@jit(parallel=True)
def run_paths(key, first_path, inputs, params, rules, counts, money, totals, path_ints):
    """Simulate paths ``first_path ..`` into ``counts[path, period, var]``,
    ``money[path, period, var]``, ``totals[path, var]`` and ``path_ints[path, var]``, in
    parallel over paths (``run_paths(key, first, *KernelInputs.args(), *outputs)``)."""
    for i in prange(counts.shape[0]):
        run_path(
            key, first_path + i, inputs, params, rules, counts[i], money[i], totals[i], path_ints[i]
        )
