"""Jitted kernels: arrays and scalars in, arrays out. No I/O, no objects, no validation.

State of one path: ``members[tenure, sex, age, class]`` (int64). Tenure 0 holds seasoned
eligible members; tenures ``1 .. window`` eligible members still inside the audit window
(stricter audits); tenures above ``window`` members in the waiting period, who make no
claims. Joiners enter at the highest tenure and count down one tenure a period. Claims
approved in period t are held in ``pending[(t + lag) % (lag + 1), age]`` by the claimant's
age and shared in period t + lag.

Scalar parameters travel in two arrays, ``par`` (float64) and ``ipar`` (int64), indexed by
the constants below; ``engine.simulate.KernelInputs`` builds them from a scenario.

Each path draws from its own streams, seeded from the run's key, the path index, the period
and the step only, so results do not depend on chunking or threads, any path can be
replayed alone, and lever settings compared on the same seed share their random numbers.
"""

import numpy as np
from numba import prange

from engine._jit import jit
from engine.rng import binomial, poisson, seed_stream

COUNT_VARS = (
    "members",
    "sharing",
    "eligible",
    "waiting",
    "impaired",
    "claims",
    "approved",
    "cases_paid",
    "failures",
    "aged_out",
    "joiners",
    "exits",
    "deaths",
    "lapses",
    "active",
)
"""Per path and period counts, in the order of the kernel's ``counts`` output."""

MONEY_VARS = (
    "benefits",
    "fees",
    "share_pre",
    "share_post",
    "members_paid",
    "backstop",
    "shortfall",
    "recovered",
    "runoff",
    "liability",
    "prepay_pool",
    "revenue",
    "platform_cost",
    "net_cash",
    "reserve_draw",
    "reserve",
)
"""Per path and period amounts (yuan), in the order of the kernel's ``money`` output."""

TOTAL_VARS = (
    "liability_pv",
    "backstop_pv",
    "shortfall_pv",
    "runoff_pv",
    "share_total",
    "platform_result",
    "log_weight",
    "cost_martingale",
    "reserve_pv",
    "stranded_contributions",
)
"""Per path totals, in the order of the kernel's ``totals`` output."""

PATH_INT_VARS = ("closure_period", "stranded_members")
"""Per path integers, in the order of the kernel's ``path_ints`` output."""

# indices into par (float64)
(
    CAP_CASE,
    CAP_PERIOD,
    CAP_YEAR,
    MEMBER_FEE,
    FAILURE,
    RECOVERY,
    PREPAY,
    MIN_BALANCE,
    TOPUP,
    REF_SHARE,
    PRICE_RATE,
    ELASTICITY_STD,
    ELASTICITY_IMP,
    JOIN_ELASTICITY,
    IMPAIRED_F0,
    IMPAIRED_GAMMA,
    FIXED_COST,
    COST_CASE,
    COST_JOINER,
    THETA,
    RESERVE0,
    RESERVE_TRIGGER,
    RESERVE_RATE,
    TRANSFER_COST,
) = range(24)
N_PAR = 24

# indices into ipar (int64)
(
    LAG,
    NOTICE,
    MAX_AGE,
    N_ELIG,
    WAITING_SHARE,
    CLAIMANTS_LEAVE,
    MIN_MEMBERS,
    EXITS_ON,
    MORTALITY_ON,
    TRANSFER,
) = range(10)
N_IPAR = 10


@jit
def step_illness(
    st, m, tot, hazard, approval, n_elig, claimants_leave, pending_row, case_cost, tilt, acc
):
    """Steps 1-2: Poisson claims of eligible cohorts, audit by tenure, approved claimants
    leave. Returns (claims, approved).

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
                        lam = n * h
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
def step_lapses(st, m, tot, n_sharing_tenures, leave_p):
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
    return lapses


@jit
def step_exits(st, m, tot, base_exit, mortality, price_hazard, mortality_on):
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
    return exits, deaths


@jit
def step_joiners(st, m, tot, expected, weights, impaired_fraction):
    """Step 7: Poisson joiners by sex, age and class, entering the waiting period."""
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
            joiners += k0 + k1
    tot[entry] += joiners
    return joiners


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
            for s in range(n_sex):
                for c in range(n_class):
                    m[w, s, n_age - 1, c] += m[w, s, n_age - 2, c]
                    for a in range(n_age - 2, 0, -1):
                        m[w, s, a, c] = m[w, s, a - 1, c]
                    m[w, s, 0, c] = 0
                    for a in range(max_age + 1, n_age):
                        tot[w] -= m[w, s, a, c]
                        aged_out += m[w, s, a, c]
                        m[w, s, a, c] = 0
    return aged_out


ILLNESS, DEDUCTION, FLOWS = range(3)
"""Sub-streams of a period (engine.rng.seed_stream): stream = 3 * period + step."""


@jit
def run_path(
    key,
    path,
    members0,
    hazard,
    approval,
    benefit,
    case_cost,
    base_exit,
    mortality,
    join_weights,
    join_expected,
    age_up,
    new_year,
    discount,
    par,
    ipar,
    counts,
    money,
    totals,
    path_ints,
):
    """Simulate one path over ``counts.shape[0]`` periods, writing its rows of the outputs.

    Each period's illness, deductions and flows draw from their own sub-streams of the
    path, so the numbers of one step do not depend on how many draws another step made.
    """
    st = np.empty(4, dtype=np.uint64)
    m = members0.copy()
    tot = np.zeros(m.shape[0], dtype=np.int64)  # members per tenure, kept in step with m
    for w in range(m.shape[0]):
        tot[w] = m[w].sum()
    lag = ipar[LAG]
    n_elig = ipar[N_ELIG]
    n_share_ten = m.shape[0] if ipar[WAITING_SHARE] else n_elig
    pending = np.zeros((lag + 1, m.shape[2]), dtype=np.int64)
    price_hazard = np.zeros(2)
    tilt = par[THETA] * case_cost
    acc = np.zeros(2)
    prepay = par[PREPAY]
    pool = tot.sum() * prepay
    ytd = 0.0
    reserve = par[RESERVE0]
    contributed = 0.0  # average past contributions of a current member
    phase = 0  # 0 open, 1 closure announced (notice), 2 ended
    notice_left = 0
    path_ints[0] = -1
    for t in range(counts.shape[0]):
        if phase == 2:
            continue  # outputs stay zero
        start_members = tot.sum()
        seed_stream(key, path, 3 * t + ILLNESS, st)
        claims, approved = step_illness(
            st,
            m,
            tot,
            hazard,
            approval,
            n_elig,
            ipar[CLAIMANTS_LEAVE],
            pending[(t + lag) % (lag + 1)],
            case_cost,
            tilt,
            acc,
        )
        eligible, waiting = tenure_sums(tot, n_elig)
        sharing = eligible + waiting if ipar[WAITING_SHARE] else eligible
        share = backstop = shortfall = recovered = runoff = paid = reserve_draw = 0.0
        failures = lapses = joiners = exits = deaths = 0
        due = 0.0
        if phase == 1:
            sharing = 0
            cases, benefits, cost, _, _ = share_cases(
                pending[t % (lag + 1)], benefit, case_cost, 1, np.inf
            )
            runoff = benefits
            benefits = cost = 0.0
        else:
            cases, benefits, cost, share, backstop = share_cases(
                pending[t % (lag + 1)], benefit, case_cost, sharing, par[CAP_CASE]
            )
            if reserve > 0.0 and share > par[RESERVE_TRIGGER]:
                reserve_draw = min(reserve, (share - par[RESERVE_TRIGGER]) * sharing)
                reserve -= reserve_draw
                share -= reserve_draw / sharing
            if share > par[CAP_PERIOD]:
                backstop += (share - par[CAP_PERIOD]) * sharing
                share = par[CAP_PERIOD]
            if new_year[t]:
                ytd = 0.0
            if share > par[CAP_YEAR] - ytd:
                backstop += (share - (par[CAP_YEAR] - ytd)) * sharing
                share = par[CAP_YEAR] - ytd
            ytd += share
            due = share + par[MEMBER_FEE]
            need = due * sharing
            seed_stream(key, path, 3 * t + DEDUCTION, st)
            if sharing > 0:
                contributed += due * sharing / (eligible + waiting)
            if prepay > 0.0:
                holders = tot.sum()
                if start_members > 0:
                    pool *= holders / start_members  # claimants leave with their balance
                paid = min(pool, need)
                pool -= paid
                shortfall = need - paid
                if sharing > 0 and (shortfall > 0.0 or pool < par[MIN_BALANCE] * sharing):
                    per_short = shortfall / sharing
                    balance = pool / holders
                    if par[TOPUP] < 1.0:
                        lapses = step_lapses(st, m, tot, n_share_ten, 1.0 - par[TOPUP])
                    stayers = sharing - lapses
                    recovered = stayers * per_short
                    units = max(1.0, np.ceil((per_short + par[MIN_BALANCE] - balance) / prepay))
                    pool += stayers * (units * prepay - per_short) - lapses * balance
            else:
                if par[FAILURE] > 0.0:
                    failures = binomial(st, sharing, par[FAILURE])
                shortfall = failures * due
                recovered = par[RECOVERY] * shortfall
                paid = need - shortfall
            # step 7: membership flows, priced on the share just paid
            seed_stream(key, path, 3 * t + FLOWS, st)
            ratio = due / par[REF_SHARE] if par[REF_SHARE] > 0.0 else 1.0
            before = tot.sum()
            if ipar[EXITS_ON]:
                price_hazard[0] = par[PRICE_RATE] * ratio ** par[ELASTICITY_STD]
                price_hazard[1] = par[PRICE_RATE] * ratio ** par[ELASTICITY_IMP]
                exits, deaths = step_exits(
                    st, m, tot, base_exit, mortality, price_hazard, ipar[MORTALITY_ON]
                )
            if prepay > 0.0 and before > 0:
                pool *= (before - exits - deaths) / before
            if join_expected[t] > 0.0:
                expected = join_expected[t] * max(ratio, 0.5) ** -par[JOIN_ELASTICITY]
                f = min(1.0, par[IMPAIRED_F0] * ratio ** par[IMPAIRED_GAMMA])
                joiners = step_joiners(st, m, tot, expected, join_weights, f)
                pool += joiners * prepay
                if joiners > 0:
                    contributed *= (tot.sum() - joiners) / tot.sum()

        aged_out = age_and_wait(m, tot, age_up[t], ipar[MAX_AGE])
        if prepay > 0.0:
            left = tot.sum()
            pool = pool * left / (left + aged_out) if left + aged_out > 0 else 0.0
        eligible, waiting = tenure_sums(tot, n_elig)
        impaired = impaired_members(m, tot)
        if phase == 0:
            after = eligible + waiting if ipar[WAITING_SHARE] else eligible
            if after < ipar[MIN_MEMBERS]:
                phase = 1
                notice_left = ipar[NOTICE]
                path_ints[0] = t
        elif phase == 1:
            notice_left -= 1
        if phase == 1 and notice_left == 0:
            phase = 2
            runoff += pending_benefits(pending, benefit)
            left = tot.sum()
            path_ints[1] = left
            totals[9] = left * contributed
            if ipar[TRANSFER]:
                runoff += left * par[TRANSFER_COST]
            m[:] = 0
            tot[:] = 0
            pool = 0.0
            eligible = waiting = impaired = 0

        liability = backstop + shortfall - recovered + runoff + reserve_draw
        revenue = cost - benefits + par[MEMBER_FEE] * sharing
        reserve += par[RESERVE_RATE] * revenue
        platform_cost = par[FIXED_COST] + par[COST_CASE] * claims + par[COST_JOINER] * joiners
        net = revenue - platform_cost - liability
        counts[t, 0] = eligible + waiting
        counts[t, 1] = sharing
        counts[t, 2] = eligible
        counts[t, 3] = waiting
        counts[t, 4] = impaired
        counts[t, 5] = claims
        counts[t, 6] = approved
        counts[t, 7] = cases
        counts[t, 8] = failures
        counts[t, 9] = aged_out
        counts[t, 10] = joiners
        counts[t, 11] = exits
        counts[t, 12] = deaths
        counts[t, 13] = lapses
        counts[t, 14] = 1 if phase == 0 or path_ints[0] == t else 0
        money[t, 0] = benefits
        money[t, 1] = revenue
        money[t, 2] = cost / sharing if sharing > 0 else 0.0
        money[t, 3] = share if sharing > 0 else 0.0
        money[t, 4] = paid
        money[t, 5] = backstop
        money[t, 6] = shortfall
        money[t, 7] = recovered
        money[t, 8] = runoff
        money[t, 9] = liability
        money[t, 10] = pool
        money[t, 11] = revenue
        money[t, 12] = platform_cost
        money[t, 13] = net
        money[t, 14] = reserve_draw
        money[t, 15] = reserve
        d = discount[t]
        totals[0] += liability * d
        totals[1] += backstop * d
        totals[2] += (shortfall - recovered) * d
        totals[3] += runoff * d
        totals[4] += due if sharing > 0 else 0.0
        totals[5] += net
        totals[8] += reserve_draw * d
    totals[6] = acc[0]
    totals[7] = acc[1]


@jit(parallel=True)
def run_paths(
    key,
    first_path,
    members0,
    hazard,
    approval,
    benefit,
    case_cost,
    base_exit,
    mortality,
    join_weights,
    join_expected,
    age_up,
    new_year,
    discount,
    par,
    ipar,
    counts,
    money,
    totals,
    path_ints,
):
    """Simulate paths ``first_path ..`` into ``counts[path, period, var]``,
    ``money[path, period, var]``, ``totals[path, var]`` and ``path_ints[path, var]``
    (all zeroed first), in parallel over paths."""
    for i in prange(counts.shape[0]):
        counts[i] = 0
        money[i] = 0.0
        totals[i] = 0.0
        path_ints[i] = 0
        run_path(
            key,
            first_path + i,
            members0,
            hazard,
            approval,
            benefit,
            case_cost,
            base_exit,
            mortality,
            join_weights,
            join_expected,
            age_up,
            new_year,
            discount,
            par,
            ipar,
            counts[i],
            money[i],
            totals[i],
            path_ints[i],
        )
