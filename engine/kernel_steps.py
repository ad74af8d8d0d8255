"""The kernel's steps over a path's members: jitted, arrays and scalars in, arrays out.

``m[tenure, sex, age, class]`` holds the members (int64) and ``tot[tenure]`` their number
per tenure, kept in step (empty tenures are skipped); with duration factors ``dm[slot, sex,
age, class]`` the tenure-0 members by duration slot (see engine.kernel). Each step draws
from the generator state it is given (``st``; ``dst`` for the split of leavers over duration
slots), in C order over the cohorts, as tests/reference.py does.
"""

import numpy as np

from engine import kernel_inputs as P
from engine._jit import jit
from engine.rng import binomial, poisson

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
def cap_share(share, backstop, sharing, params, t, reserve, ytd, new_year):
    """Steps 4-5: reserve draw, per-period and calendar-year caps on the share per member;
    the platform backs the excess (added to ``backstop``).

    Returns (share, backstop, reserve_draw, reserve, ytd)."""
    reserve_draw = 0.0
    if reserve > 0.0 and share > params[t, P.RESERVE_TRIGGER]:
        reserve_draw = min(reserve, (share - params[t, P.RESERVE_TRIGGER]) * sharing)
        reserve -= reserve_draw
        share -= reserve_draw / sharing
    if share > params[t, P.CAP_PERIOD]:
        backstop += (share - params[t, P.CAP_PERIOD]) * sharing
        share = params[t, P.CAP_PERIOD]
    if new_year:
        ytd = 0.0
    if share > params[t, P.CAP_YEAR] - ytd:
        backstop += (share - (params[t, P.CAP_YEAR] - ytd)) * sharing
        share = params[t, P.CAP_YEAR] - ytd
    return share, backstop, reserve_draw, reserve, ytd + share


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
    if sharing > 0 and (shortfall > 0.0 or pool < params[t, P.MIN_BALANCE] * sharing):
        per_short = shortfall / sharing
        balance = pool / holders
        if params[t, P.TOPUP] < 1.0:
            lapses = step_lapses(
                st, dst, m, dm, tot, n_share_ten, 1.0 - params[t, P.TOPUP], duration_on, ones
            )
        stayers = sharing - lapses
        recovered = stayers * per_short
        units = max(1.0, np.ceil((per_short + params[t, P.MIN_BALANCE] - balance) / prepay))
        pool += stayers * (units * prepay - per_short) - lapses * balance
    return paid, shortfall, recovered, lapses, pool


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
