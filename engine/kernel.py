"""Jitted kernels: arrays and scalars in, arrays out. No I/O, no objects, no validation.

State of one path: ``members[tenure, sex, age, class]`` (int64). Tenure 0 holds seasoned
eligible members; tenures ``1 .. window`` eligible members still inside the audit window
(stricter audits); tenures above ``window`` members in the waiting period, who make no
claims. Joiners enter at the highest tenure and count down one tenure a period. Claims
approved in period t are held in ``pending[(t + lag) % (lag + 1), age]`` by the claimant's
age and shared in period t + lag.

Parameters that may change during a run travel in ``table[period, parameter]`` (float64,
indexed by the constants below), the arrays that a dated change may alter with a leading
regime axis (``hazard[regime[t]]``), and the fixed ones in ``ipar`` (int64);
``engine.simulate.KernelInputs`` builds them from a scenario.

With duration factors, the members of tenure 0 still inside the select period are also
kept by duration: ``durations[j, sex, age, class]`` holds those ``entry + j`` periods from
joining (``entry`` the joiners' tenure); the rest of tenure 0 is past the last factor.
Members of a tenure above 0 joined ``entry - tenure`` periods ago.

Each path draws from its own streams, seeded from the run's key, the path index, the period
and the step only, so results do not depend on chunking or threads, any path can be
replayed alone, and lever settings compared on the same seed share their random numbers.
"""

import numpy as np
from numba import prange

from engine._jit import jit
from engine.kernel_inputs import (  # noqa: F401 (indices read by name elsewhere)
    CLAIMANTS_LEAVE,
    ELASTICITY_IMP,
    ELASTICITY_STD,
    EXITS_ON,
    MAX_AGE,
    MEMBER_FEE,
    N_ELIG,
    PRICE_RATE,
    REF_SHARE,
    WAITING_SHARE,
)
from engine.rng import beta_mean_sd, binomial, gamma, normal, poisson, seed_stream, uniform
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
STRANDED_CONTRIBUTIONS = _T("stranded_contributions")
CLOSURE_PERIOD, STRANDED_MEMBERS, CLOSURE_CAUSE = (
    _P("closure_period"),
    _P("stranded_members"),
    _P("closure_cause"),
)

OPEN, CAUSE_MEMBERS, CAUSE_DATE, CAUSE_HAZARD = range(4)
"""Values of ``closure_cause``: never closed, below the minimum, on the date, the hazard."""


@jit
def thin(st, dm, s, a, c, n, x, slot_w, rest_w):
    """Remove ``x`` of the ``n`` members of cohort ``(0, s, a, c)`` from its duration slots:
    slot ``j`` loses a binomial share in proportion to ``dm[j] * slot_w[j]``, the members past
    the select period (weight ``rest_w`` each) lose the rest."""
    if x <= 0:
        return
    if x >= n:
        dm[:, s, a, c] = 0
        return
    tracked = 0
    weight = 0.0
    for j in range(dm.shape[0]):
        tracked += dm[j, s, a, c]
    weight = (n - tracked) * rest_w
    for j in range(dm.shape[0]):
        weight += dm[j, s, a, c] * slot_w[j]
    left = x
    for j in range(dm.shape[0]):
        nj = dm[j, s, a, c]
        if nj == 0 or left == 0:
            continue
        wj = nj * slot_w[j]
        y = min(binomial(st, left, wj / weight), nj) if weight > 0.0 else 0
        dm[j, s, a, c] = nj - y
        left -= y
        weight -= wj
    excess = left - (n - tracked)  # more removed than members past the select period
    for j in range(dm.shape[0]):
        if excess <= 0:
            break
        y = min(excess, dm[j, s, a, c])
        dm[j, s, a, c] -= y
        excess -= y


@jit
def exposure(n, dm, s, a, c, slot_w, rest_w):
    """Members of cohort ``(0, s, a, c)`` weighted by their duration factors."""
    tracked = 0
    for j in range(dm.shape[0]):
        tracked += dm[j, s, a, c]
    x = (n - tracked) * rest_w
    for j in range(dm.shape[0]):
        x += dm[j, s, a, c] * slot_w[j]
    return x


@jit
def step_illness(st, dst, m, dm, tot, hazard, approval, n_elig, claimants_leave, pending_row,
                 case_cost, tilt, acc, factor, tenure_w, slot_w, duration_on):  # fmt: skip
    """Steps 1-2: Poisson claims of eligible cohorts, audit by tenure, approved claimants
    leave. Returns (claims, approved).

    A cohort's mean is ``n * h * factor`` with ``n`` its members weighted by the duration
    factors (``tenure_w`` by tenure, ``slot_w`` for the duration slots of tenure 0).
    With ``tilt[a] != 0`` (importance sampling) counts are drawn with mean
    ``lam * exp(tilt[a])`` and ``acc[0]`` gathers the log likelihood ratio
    ``lam (exp(tilt) - 1) - tilt * count``. ``acc[1]`` gathers the martingale
    ``case_cost * (count - lam)``, whose expectation is exactly zero (a control variate).
    """
    claims = 0
    approved = 0
    _, n_sex, n_age, n_class = m.shape
    for w in range(n_elig):
        if tot[w] == 0:
            continue
        slots = duration_on and w == 0
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    n = m[w, s, a, c]
                    if n == 0:
                        continue
                    h = hazard[s, a, c]
                    if h == np.inf:
                        k = n
                    else:
                        x = (
                            exposure(n, dm, s, a, c, slot_w, tenure_w[0])
                            if slots
                            else n * tenure_w[w]
                        )
                        lam = x * (h * factor)
                        if tilt[a] != 0.0:
                            k = poisson(st, lam * np.exp(tilt[a]))
                            acc[0] += lam * np.expm1(tilt[a]) - tilt[a] * k
                        else:
                            k = poisson(st, lam)
                        acc[1] += case_cost[a] * (k - lam)
                        k = min(k, n)
                    claims += k
                    if approval[w] < 1.0:
                        k = binomial(st, k, approval[w])
                    approved += k
                    pending_row[a] += k
                    if claimants_leave:
                        m[w, s, a, c] = n - k
                        tot[w] -= k
                        if slots:
                            thin(dst, dm, s, a, c, n, k, slot_w, tenure_w[0])
    return claims, approved


@jit
def tenure_sums(tot, n_elig):
    """(eligible, waiting) members from the members per tenure ``tot``."""
    return tot[:n_elig].sum(), tot[n_elig:].sum()


@jit
def impaired_members(m, tot):
    """Members of the impaired class (class 1)."""
    total = 0
    for w in range(m.shape[0]):
        if tot[w] != 0:
            total += m[w, :, :, 1].sum()
    return total


@jit
def share_cases(pending_row, benefit, case_cost, sharing, cap_case):
    """Steps 3-5 for the cases due now: cost, per-case capped share, per-case backstop.

    Returns (cases, benefits, cost, share per member, backstop); empties ``pending_row``.
    """
    cases = 0
    benefits = 0.0
    cost = 0.0
    share = 0.0
    backstop = 0.0
    for a in range(pending_row.size):
        na = pending_row[a]
        if na == 0:
            continue
        pending_row[a] = 0
        cases += na
        benefits += na * benefit[a]
        cc = case_cost[a]
        cost += na * cc
        if sharing == 0:
            backstop += na * cc
        elif cc / sharing > cap_case:
            share += na * cap_case
            backstop += na * (cc - cap_case * sharing)
        else:
            share += na * (cc / sharing)
    return cases, benefits, cost, share, backstop


@jit
def pending_benefits(pending, benefit):
    """Benefits of every approved claim still waiting to be shared; empties ``pending``."""
    total = 0.0
    for r in range(pending.shape[0]):
        for a in range(pending.shape[1]):
            if pending[r, a] != 0:
                total += pending[r, a] * benefit[a]
                pending[r, a] = 0
    return total


@jit
def step_lapses(st, dst, m, dm, tot, n_sharing_tenures, leave_p, duration_on, ones):
    """Prepay plans: sharing members who do not top up leave. Returns the count."""
    lapses = 0
    _, n_sex, n_age, n_class = m.shape
    for w in range(n_sharing_tenures):
        if tot[w] == 0:
            continue
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    n = m[w, s, a, c]
                    if n != 0:
                        x = binomial(st, n, leave_p)
                        m[w, s, a, c] = n - x
                        tot[w] -= x
                        lapses += x
                        if duration_on and w == 0:
                            thin(dst, dm, s, a, c, n, x, ones, 1.0)
    return lapses


@jit
def remove_members(st, dst, m, dm, tot, n_sharing_tenures, removed, duration_on, ones):
    """Remove ``removed`` sharing members at random (sequential binomials over cohorts)."""
    pool = tot[:n_sharing_tenures].sum()
    left = removed
    _, n_sex, n_age, n_class = m.shape
    for w in range(n_sharing_tenures):
        if tot[w] == 0:
            continue
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    n = m[w, s, a, c]
                    if n == 0 or left == 0:
                        continue
                    x = min(binomial(st, left, n / pool), n) if pool > n else min(left, n)
                    pool -= n
                    left -= x
                    m[w, s, a, c] = n - x
                    tot[w] -= x
                    if duration_on and w == 0:
                        thin(dst, dm, s, a, c, n, x, ones, 1.0)
    return removed - left


@jit
def step_exits(st, dst, m, dm, tot, base_exit, mortality, price_hazard, mortality_on,
               duration_on, ones):  # fmt: skip
    """Step 7: voluntary exits (base + price-sensitive hazard by class) and deaths.

    Returns (exits, deaths)."""
    exits = 0
    deaths = 0
    n_ten, n_sex, n_age, n_class = m.shape
    for w in range(n_ten):
        if tot[w] == 0:
            continue
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    n = m[w, s, a, c]
                    if n == 0:
                        continue
                    hz = base_exit[s, a] + price_hazard[c]
                    if hz <= 0.0:
                        continue
                    x = binomial(st, n, -np.expm1(-hz))
                    m[w, s, a, c] = n - x
                    tot[w] -= x
                    d = binomial(st, x, mortality[s, a] / hz) if mortality_on and x > 0 else 0
                    deaths += d
                    exits += x - d
                    if duration_on and w == 0:
                        thin(dst, dm, s, a, c, n, x, ones, 1.0)
    return exits, deaths


@jit
def step_joiners(st, m, tot, expected, weights, impaired_fraction, joined):
    """Step 7: Poisson joiners by sex, age and class, entering the waiting period
    (also counted in ``joined[sex, age, class]``)."""
    joiners = 0
    entry = m.shape[0] - 1
    for s in range(weights.shape[0]):
        for a in range(weights.shape[1]):
            wsa = weights[s, a]
            if wsa == 0.0:
                continue
            k0 = poisson(st, expected * wsa * (1.0 - impaired_fraction))
            k1 = poisson(st, expected * wsa * impaired_fraction)
            m[entry, s, a, 0] += k0
            m[entry, s, a, 1] += k1
            joined[s, a, 0] += k0
            joined[s, a, 1] += k1
            joiners += k0 + k1
    tot[entry] += joiners
    return joiners


@jit
def age_up_one(x, max_age):
    """Everyone in ``x[sex, age, class]`` a year older; returns those past ``max_age``
    (removed). The oldest age keeps its members."""
    n_sex, n_age, n_class = x.shape
    out = 0
    for s in range(n_sex):
        for c in range(n_class):
            x[s, n_age - 1, c] += x[s, n_age - 2, c]
            for a in range(n_age - 2, 0, -1):
                x[s, a, c] = x[s, a - 1, c]
            x[s, 0, c] = 0
            for a in range(max_age + 1, n_age):
                out += x[s, a, c]
                x[s, a, c] = 0
    return out


@jit
def age_and_wait(m, tot, age_up, max_age):
    """End of period: tenures count down; on anniversaries everyone ages and those past
    ``max_age`` leave. Returns the members who left at the maximum age."""
    n_ten, n_sex, n_age, n_class = m.shape
    for w in range(1, n_ten):
        if tot[w] == 0:
            continue
        tot[w - 1] += tot[w]
        tot[w] = 0
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    m[w - 1, s, a, c] += m[w, s, a, c]
                    m[w, s, a, c] = 0
    aged_out = 0
    if age_up:
        for w in range(n_ten):
            if tot[w] == 0:
                continue
            left = age_up_one(m[w], max_age)
            tot[w] -= left
            aged_out += left
    return aged_out


@jit
def advance_durations(dm, m, joined, age_up, max_age):
    """End of period, before ``age_and_wait``: duration slots move one period on (the last
    leaves the select period), members entering tenure 0 fill slot 0; then they age."""
    if dm.shape[0] == 0:
        return
    for j in range(dm.shape[0] - 1, 0, -1):
        dm[j] = dm[j - 1]
    dm[0] = m[1] if m.shape[0] > 1 else joined
    if age_up:
        for j in range(dm.shape[0]):
            age_up_one(dm[j], max_age)


ILLNESS, DEDUCTION, FLOWS = range(3)
"""Sub-streams of a period (engine.rng.seed_stream): stream = 3 * period + step."""

CLOSURE_STREAM = 1 << 62
"""Sub-stream of the path's outside-closure time (one draw per path)."""
WAVE_STREAM = (1 << 62) + 1
"""Sub-streams ``WAVE_STREAM + period`` of the period's failure rate."""
DURATION_STREAM = 1 << 61
"""Sub-streams ``DURATION_STREAM + period`` of the split of leavers over duration slots."""
MULTIPLIER_STREAM = 1 << 59
"""Sub-stream of the path's incidence multiplier (one normal draw per path)."""
TREND_STREAM = (1 << 59) + 1
"""Sub-stream of the path's incidence trend (one normal draw per path)."""
DISPERSION_STREAM = 1 << 60
"""Sub-streams ``DISPERSION_STREAM + period`` of the period's gamma factor."""
SHOCK_STREAM = (1 << 60) + (1 << 59)
"""Sub-streams ``SHOCK_STREAM + period`` of the period's number of shocks."""


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
    s = params.multiplier_sd[0]
    if s > 0.0:
        seed_stream(key, path, MULTIPLIER_STREAM, st)
        known[:] = np.exp(s * normal(st) - 0.5 * s * s)
    if (params.trend_sd > 0.0).any():
        seed_stream(key, path, TREND_STREAM, st)
        z = normal(st)
        for t in range(known.size):
            u = params.trend_sd[t]
            if u > 0.0:
                known[t] *= np.exp(u * z - 0.5 * u * u)
    for t in range(shocks.size):
        a = params.dispersion[t]
        if a > 0.0:
            seed_stream(key, path, DISPERSION_STREAM + t, st)
            shocks[t] = gamma(st, 1.0 / a) * a
        if params.shock_rate[t] > 0.0:
            seed_stream(key, path, SHOCK_STREAM + t, st)
            shocks[t] *= 1.0 + poisson(st, params.shock_rate[t]) * params.shock_size[t]


@jit
def exit_cost(t, m, pending, inputs, params, rules, known):
    """Expected cost to the platform of a closure announced at the end of period ``t``,
    given the path's state then (members ``m``, approved claims ``pending``, its known
    incidence factors ``known``): the notice periods' cases (benefits, or with an unpaid
    notice their full cost plus the members' fees), the claims pending at the end and the
    transfer cost. Claims are expected values (claimants leave in expectation, the future
    shocks have their mean, members in the select period count as seasoned); periods
    past the horizon use the last period's parameters."""
    regime, hazard, approval = inputs.regime, inputs.hazard, inputs.approval
    benefit, case_cost, tenure_w = inputs.benefit, inputs.case_cost, inputs.tenure_factor
    last = regime.size - 1
    lag = rules.lag
    n_elig = rules.n_elig
    n_ten, n_sex, n_age, n_class = m.shape
    n_share = n_ten if rules.waiting_share else n_elig
    pay_notice = rules.pay_notice != 0
    x = m.astype(np.float64)
    pend = pending.astype(np.float64)
    total = 0.0
    for j in range(1, rules.notice + 1):
        u = min(t + j, last)
        r = regime[u]
        shock = 1.0 + params.shock_rate[u] * params.shock_size[u]
        f = params.incidence[u] * params.claims_rush[u] * (known[u] * shock)
        row = (t + j + lag) % (lag + 1)
        for w in range(n_elig):
            for s in range(n_sex):
                for a in range(n_age):
                    for c in range(n_class):
                        n = x[w, s, a, c]
                        if n == 0.0:
                            continue
                        h = hazard[r, s, a, c]
                        k = n if h == np.inf else n * tenure_w[w] * (h * f)
                        k = min(k, n) * approval[r, w]
                        pend[row, a] += k
                        if rules.claimants_leave:
                            x[w, s, a, c] = n - k
        sharing = 0.0
        for w in range(n_share):
            for s in range(n_sex):
                for a in range(n_age):
                    for c in range(n_class):
                        sharing += x[w, s, a, c]
        due = (t + j) % (lag + 1)
        for a in range(n_age):
            if pend[due, a] != 0.0:
                total += pend[due, a] * (benefit[r, a] if pay_notice else case_cost[r, a])
                pend[due, a] = 0.0
        if not pay_notice:
            total += params.member_fee[u] * sharing
        for w in range(1, n_ten):
            x[w - 1] += x[w]
            x[w] = 0.0
        if inputs.age_up[u]:
            for w in range(n_ten):
                for s in range(n_sex):
                    for c in range(n_class):
                        x[w, s, n_age - 1, c] += x[w, s, n_age - 2, c]
                        for a in range(n_age - 2, 0, -1):
                            x[w, s, a, c] = x[w, s, a - 1, c]
                        x[w, s, 0, c] = 0.0
                        for a in range(rules.max_age + 1, n_age):
                            x[w, s, a, c] = 0.0
    end = min(t + rules.notice, last)
    paid_end = min(end + (0 if pay_notice or t + rules.notice >= last else 1), last)
    for r_ in range(pend.shape[0]):
        for a in range(n_age):
            if pend[r_, a] != 0.0:
                total += pend[r_, a] * benefit[regime[paid_end], a]
    if rules.transfer:
        left = 0.0
        for w in range(n_ten):
            for s in range(n_sex):
                for a in range(n_age):
                    for c in range(n_class):
                        left += x[w, s, a, c]
        total += left * params.transfer_cost[end]
    return total


@jit
def closure_time(key, path, closure_p):
    """The period in which an outside closure is announced (-1 if none in the horizon):
    the first period whose cumulative hazard ``-sum log(1 - p)`` reaches an exponential
    draw, so P(closed by period t) = 1 - prod(1 - p[:t + 1])."""
    st = np.empty(4, dtype=np.uint64)
    seed_stream(key, path, CLOSURE_STREAM, st)
    e = -np.log(uniform(st))
    cumulative = 0.0
    for t in range(closure_p.size):
        if closure_p[t] > 0.0:
            cumulative -= np.log1p(-closure_p[t])
            if cumulative >= e:
                return t
    return -1


@jit
def cap_share(share, backstop, sharing, params, t, reserve, ytd, new_year):
    """Steps 4-5: reserve draw, per-period and calendar-year caps on the share per member;
    the platform backs the excess (added to ``backstop``).

    Returns (share, backstop, reserve_draw, reserve, ytd)."""
    reserve_draw = 0.0
    if reserve > 0.0 and share > params.reserve_trigger[t]:
        reserve_draw = min(reserve, (share - params.reserve_trigger[t]) * sharing)
        reserve -= reserve_draw
        share -= reserve_draw / sharing
    if share > params.cap_period[t]:
        backstop += (share - params.cap_period[t]) * sharing
        share = params.cap_period[t]
    if new_year:
        ytd = 0.0
    if share > params.cap_year[t] - ytd:
        backstop += (share - (params.cap_year[t] - ytd)) * sharing
        share = params.cap_year[t] - ytd
    return share, backstop, reserve_draw, reserve, ytd + share


@jit
def step_arrears(st, held, owed, sharing, last_sharing, rate, due, remove_after, backpay):
    """Step 6 with arrears: ``held[j]`` members owe ``owed[j]`` after ``j + 1`` failures in a
    row (one bucket when never removed). A member in arrears fails again or pays, and when
    paying pays the arrears back with probability ``backpay`` (else they are written off);
    the ``remove_after``-th failure in a row removes the member. Members in arrears leave
    with the others (their arrears written off).

    Returns (failures, recovered, removed, written_off)."""
    written = 0.0
    if last_sharing > sharing:
        q = sharing / last_sharing
        for j in range(held.size):
            if held[j] > 0:
                keep = np.int64(held[j] * q)
                written += owed[j] * (held[j] - keep) / held[j]
                owed[j] *= keep / held[j]
                held[j] = keep
    new = binomial(st, max(sharing - held.sum(), 0), rate)
    failures = new
    if remove_after == 1:
        return failures, 0.0, new, written + new * due
    recovered = 0.0
    removed = 0
    top = held.size - 1
    for j in range(top, -1, -1):
        n = held[j]
        if n == 0:
            continue
        per = owed[j] / n
        again = binomial(st, n, rate)
        back = binomial(st, n - again, backpay)
        recovered += back * per
        written += (n - again - back) * per
        failures += again
        held[j] = 0
        owed[j] = 0.0
        if remove_after == 0:
            held[0], owed[0] = again, again * (per + due)
        elif j == top:
            removed += again
            written += again * (per + due)
        else:
            held[j + 1], owed[j + 1] = again, again * (per + due)
    held[0] += new
    owed[0] += new * due
    return failures, recovered, removed, written


@jit
def deduct_prepay(st, dst, m, dm, tot, params, t, pool, need, sharing, start_members, n_share_ten,
                  prepay, duration_on, ones):  # fmt: skip
    """Step 6 of prepay plans: the pool pays, members top up or lapse.

    Returns (paid, shortfall, recovered, lapses, pool)."""
    holders = tot.sum()
    if start_members > 0:
        pool *= holders / start_members  # claimants leave with their balance
    paid = min(pool, need)
    pool -= paid
    shortfall = need - paid
    recovered = 0.0
    lapses = 0
    if sharing > 0 and (shortfall > 0.0 or pool < params.min_balance[t] * sharing):
        per_short = shortfall / sharing
        balance = pool / holders
        if params.topup[t] < 1.0:
            lapses = step_lapses(
                st, dst, m, dm, tot, n_share_ten, 1.0 - params.topup[t], duration_on, ones
            )
        stayers = sharing - lapses
        recovered = stayers * per_short
        units = max(1.0, np.ceil((per_short + params.min_balance[t] - balance) / prepay))
        pool += stayers * (units * prepay - per_short) - lapses * balance
    return paid, shortfall, recovered, lapses, pool


@jit
def run_path(key, path, inputs, params, rules, counts, money, totals, path_ints):
    """Simulate one path over ``counts.shape[0]`` periods, writing its rows of the outputs.

    Each period's illness, deductions and flows draw from their own sub-streams of the
    path, so the numbers of one step do not depend on how many draws another step made.
    Phases: 0 open, 1 notice, 3 the run-off period after an unpaid notice, 2 ended.
    """
    hazard, approval, benefit, case_cost = (
        inputs.hazard,
        inputs.approval,
        inputs.benefit,
        inputs.case_cost,
    )
    base_exit, mortality, join_weights = inputs.base_exit, inputs.mortality, inputs.join_weights
    join_expected, age_up, new_year = inputs.join_expected, inputs.age_up, inputs.new_year
    discount, regime = inputs.discount, inputs.regime
    tenure_w, slot_w = inputs.tenure_factor, inputs.slot_factor
    st = np.empty(4, dtype=np.uint64)
    dst = np.empty(4, dtype=np.uint64)
    m = inputs.members0.copy()
    dm = inputs.durations0.copy()
    tot = np.zeros(m.shape[0], dtype=np.int64)  # members per tenure, kept in step with m
    for w in range(m.shape[0]):
        tot[w] = m[w].sum()
    lag = rules.lag
    n_elig = rules.n_elig
    n_share_ten = m.shape[0] if rules.waiting_share else n_elig
    duration_on = rules.duration_on != 0
    pay_notice = rules.pay_notice != 0
    pending = np.zeros((lag + 1, m.shape[2]), dtype=np.int64)
    price_hazard = np.zeros(2)
    tilt = np.empty(case_cost.shape)
    for r in range(case_cost.shape[0]):
        tilt[r] = params.tilt[0] * case_cost[r]
    acc = np.zeros(2)
    ones = np.ones(dm.shape[0])
    joined = np.zeros(m.shape[1:], dtype=np.int64)
    held = np.zeros(max(rules.remove_after - 1, 1), dtype=np.int64)  # members in arrears
    owed = np.zeros(held.size)
    last_sharing = 0
    prepay = params.prepay[0]
    pool = tot.sum() * prepay
    ytd = 0.0
    reserve = params.reserve[0]
    contributed = 0.0  # average past contributions of a current member
    phase = 0
    notice_left = 0
    path_ints[CLOSURE_PERIOD] = -1
    outside = closure_time(key, path, inputs.closure_p) if rules.hazard_on else -1
    known = np.empty(counts.shape[0])
    shocks = np.empty(counts.shape[0])
    path_factors(key, path, params, known, shocks)
    for t in range(counts.shape[0]):
        if phase == 2:
            continue  # outputs stay zero
        r = regime[t]
        ben, cc = benefit[r], case_cost[r]
        start_members = tot.sum()
        claims = approved = 0
        if duration_on:
            seed_stream(key, path, DURATION_STREAM + t, dst)
        if phase != 3:
            seed_stream(key, path, 3 * t + ILLNESS, st)
            factor = (
                params.incidence[t] * params.claims_rush[t] if phase == 1 else params.incidence[t]
            )
            factor *= known[t] * shocks[t]
            claims, approved = step_illness(
                st, dst, m, dm, tot, hazard[r], approval[r], n_elig, rules.claimants_leave,
                pending[(t + lag) % (lag + 1)], cc, tilt[r], acc, factor, tenure_w, slot_w,
                duration_on,
            )  # fmt: skip
        eligible, waiting = tenure_sums(tot, n_elig)
        sharing = eligible + waiting if rules.waiting_share else eligible
        share = backstop = shortfall = recovered = runoff = paid = reserve_draw = 0.0
        written = notice_paid = 0.0
        failures = lapses = joiners = exits = deaths = removed = 0
        due = 0.0
        unpaid = phase == 1 and not pay_notice
        if phase == 3:
            sharing = 0
            cases, benefits, cost = 0, 0.0, 0.0
            runoff = pending_benefits(pending, ben)
        elif phase == 1:
            if pay_notice:
                sharing = 0
            cases, benefits, cost, _, _ = share_cases(pending[t % (lag + 1)], ben, cc, 1, np.inf)
            if pay_notice:
                runoff = benefits
                benefits = cost = 0.0
            else:  # the platform pays the cases in full, fees included
                notice_paid = benefits + (cost - benefits + params.member_fee[t] * sharing)
        else:
            cases, benefits, cost, share, backstop = share_cases(
                pending[t % (lag + 1)], ben, cc, sharing, params.cap_case[t]
            )
            share, backstop, reserve_draw, reserve, ytd = cap_share(
                share, backstop, sharing, params, t, reserve, ytd, new_year[t]
            )
            due = share + params.member_fee[t]
            need = due * sharing
            seed_stream(key, path, 3 * t + DEDUCTION, st)
            if sharing > 0:
                contributed += due * sharing / (eligible + waiting)
            if prepay > 0.0:
                paid, shortfall, recovered, lapses, pool = deduct_prepay(
                    st, dst, m, dm, tot, params, t, pool, need, sharing, start_members, n_share_ten,
                    prepay, duration_on, ones,
                )  # fmt: skip
            else:
                rate = params.failure_rate[t]
                if params.failure_sd[t] > 0.0 and rate > 0.0:
                    seed_stream(key, path, WAVE_STREAM + t, st)
                    rate = beta_mean_sd(st, rate, params.failure_sd[t])
                    seed_stream(key, path, 3 * t + DEDUCTION, st)
                if rules.arrears_on:
                    failures, recovered, removed, written = step_arrears(
                        st, held, owed, sharing, last_sharing, rate, due, rules.remove_after,
                        params.backpay[t],
                    )  # fmt: skip
                    if removed > 0:
                        removed = remove_members(
                            st, dst, m, dm, tot, n_share_ten, removed, duration_on, ones
                        )
                    last_sharing = sharing - removed
                elif rate > 0.0:
                    failures = binomial(st, sharing, rate)
                shortfall = failures * due
                if not rules.arrears_on:
                    recovered = params.recovery_rate[t] * shortfall
                paid = need - shortfall
            # step 7: membership flows, priced on the share just paid
            seed_stream(key, path, 3 * t + FLOWS, st)
            ratio = due / params.ref_share[t] if params.ref_share[t] > 0.0 else 1.0
            before = tot.sum()
            if rules.exits_on:
                price_hazard[0] = params.price_rate[t] * ratio ** params.elasticity_standard[t]
                price_hazard[1] = params.price_rate[t] * ratio ** params.elasticity_impaired[t]
                exits, deaths = step_exits(
                    st, dst, m, dm, tot, base_exit[r], mortality[r], price_hazard,
                    rules.mortality_on, duration_on, ones,
                )  # fmt: skip
            if prepay > 0.0 and before > 0:
                pool *= (before - exits - deaths) / before
            if join_expected[t] > 0.0:
                expected = join_expected[t] * max(ratio, 0.5) ** -params.join_elasticity[t]
                f = min(1.0, params.impaired_share[t] * ratio ** params.impaired_sensitivity[t])
                joined[:] = 0
                joiners = step_joiners(st, m, tot, expected, join_weights[r], f, joined)
                pool += joiners * prepay
                if joiners > 0:
                    contributed *= (tot.sum() - joiners) / tot.sum()

        if duration_on:
            advance_durations(dm, m, joined, age_up[t], rules.max_age)
            joined[:] = 0
        aged_out = age_and_wait(m, tot, age_up[t], rules.max_age)
        if prepay > 0.0:
            left = tot.sum()
            pool = pool * left / (left + aged_out) if left + aged_out > 0 else 0.0
        eligible, waiting = tenure_sums(tot, n_elig)
        impaired = impaired_members(m, tot)
        exit_t = 0.0
        if phase == 0:
            exit_t = exit_cost(t, m, pending, inputs, params, rules, known)
            after = eligible + waiting if rules.waiting_share else eligible
            cause = OPEN
            if after < rules.min_members:
                cause = CAUSE_MEMBERS
            elif t == rules.announce:
                cause = CAUSE_DATE
            elif t == outside:
                cause = CAUSE_HAZARD
            if cause != OPEN:
                phase = 1
                notice_left = rules.notice
                path_ints[CLOSURE_PERIOD] = t
                path_ints[CLOSURE_CAUSE] = cause
        elif phase == 1:
            notice_left -= 1
        elif phase == 3:
            phase = 2
        if phase == 1 and notice_left == 0:
            last = t == counts.shape[0] - 1
            phase = 2 if pay_notice or last else 3
            if phase == 2:
                runoff += pending_benefits(pending, ben)
            left = tot.sum()
            path_ints[STRANDED_MEMBERS] = left
            totals[STRANDED_CONTRIBUTIONS] = left * contributed
            if rules.transfer:
                runoff += left * params.transfer_cost[t]
            m[:] = 0
            dm[:] = 0
            tot[:] = 0
            pool = 0.0
            eligible = waiting = impaired = 0
            written += owed.sum()
            held[:] = 0
            owed[:] = 0.0

        liability = backstop + shortfall - recovered + runoff + reserve_draw
        if unpaid:
            liability += notice_paid
        revenue = cost - benefits + params.member_fee[t] * sharing
        if not unpaid:
            reserve += params.reserve_rate[t] * revenue
        platform_cost = (
            params.fixed_cost[t]
            + params.cost_per_case[t] * claims
            + params.cost_per_joiner[t] * joiners
        )
        net = revenue - platform_cost - liability
        c, v, d = counts[t], money[t], discount[t]
        c[MEMBERS], c[SHARING], c[ELIGIBLE], c[WAITING] = (
            eligible + waiting,
            sharing,
            eligible,
            waiting,
        )
        c[IMPAIRED], c[CLAIMS], c[APPROVED], c[CASES_PAID] = impaired, claims, approved, cases
        c[FAILURES], c[AGED_OUT], c[JOINERS], c[EXITS] = failures, aged_out, joiners, exits
        c[DEATHS], c[LAPSES], c[REMOVED] = deaths, lapses, removed
        c[ACTIVE] = 1 if phase == 0 or path_ints[CLOSURE_PERIOD] == t else 0
        v[BENEFITS], v[FEES] = benefits, revenue
        v[SHARE_PRE] = cost / sharing if sharing > 0 else 0.0
        v[SHARE_POST] = share if sharing > 0 else 0.0
        v[MEMBERS_PAID], v[BACKSTOP], v[SHORTFALL], v[RECOVERED] = (
            paid,
            backstop,
            shortfall,
            recovered,
        )
        v[RUNOFF], v[LIABILITY], v[PREPAY_POOL] = runoff, liability, pool
        v[PLATFORM_COST], v[NET_CASH], v[RESERVE_DRAW], v[RESERVE] = (
            platform_cost,
            net,
            reserve_draw,
            reserve,
        )
        v[ARREARS], v[WRITTEN_OFF], v[NOTICE_PAID], v[EXIT_COST] = (
            owed.sum(),
            written,
            notice_paid,
            exit_t,
        )
        totals[LIABILITY_PV] += liability * d
        totals[BACKSTOP_PV] += backstop * d
        totals[SHORTFALL_PV] += (shortfall - recovered) * d
        totals[RUNOFF_PV] += runoff * d
        totals[SHARE_TOTAL] += due if sharing > 0 else 0.0
        totals[PLATFORM_RESULT] += net
        totals[RESERVE_PV] += reserve_draw * d
    totals[LOG_WEIGHT] = acc[0]
    totals[COST_MARTINGALE] = acc[1]


@jit(parallel=True)
def run_paths(key, first_path, inputs, params, rules, counts, money, totals, path_ints):
    """Simulate paths ``first_path ..`` into ``counts[path, period, var]``,
    ``money[path, period, var]``, ``totals[path, var]`` and ``path_ints[path, var]``
    (all zeroed first), in parallel over paths."""
    for i in prange(counts.shape[0]):
        counts[i] = 0
        money[i] = 0.0
        totals[i] = 0.0
        path_ints[i] = 0
        run_path(
            key, first_path + i, inputs, params, rules, counts[i], money[i], totals[i], path_ints[i]
        )
