"""Jitted kernels: arrays and scalars in, arrays out. No I/O, no objects, no validation.

State of one path: ``members[tenure, sex, age, class]`` (int64). ``tenure`` 0 holds the
eligible members; ``tenure`` w > 0 holds members with w periods of waiting left. Claims
approved in period t are held in ``pending[(t + lag) % (lag + 1), age]`` by the claimant's
age and shared in period t + lag.

Each path draws from its own stream, seeded from the run's key and the path index only, so
results do not depend on chunking or threads, and any path can be replayed alone.
"""

import numpy as np
from numba import prange

from engine._jit import jit
from engine.rng import binomial, poisson, seed_path

COUNT_VARS = (
    "members",
    "sharing",
    "eligible",
    "waiting",
    "claims",
    "approved",
    "cases_paid",
    "failures",
    "aged_out",
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
    "liability",
)
"""Per path and period amounts (yuan), in the order of the kernel's ``money`` output."""

TOTAL_VARS = ("liability_pv", "backstop_pv", "shortfall_pv", "share_total")
"""Per path totals, in the order of the kernel's ``totals`` output."""


@jit
def step_illness(st, m, hazard, approval_rate, claimants_leave, pending_row):
    """Step 1-2: Poisson claims of eligible cohorts, audit, approved claimants leave.

    Returns (claims, approved, eligible members left).
    """
    claims = 0
    approved = 0
    eligible = 0
    _, n_sex, n_age, n_class = m.shape
    for s in range(n_sex):
        for a in range(n_age):
            for c in range(n_class):
                n = m[0, s, a, c]
                if n == 0:
                    continue
                h = hazard[s, a, c]
                k = n if h == np.inf else min(poisson(st, n * h), n)
                claims += k
                if approval_rate < 1.0:
                    k = binomial(st, k, approval_rate)
                approved += k
                pending_row[a] += k
                if claimants_leave:
                    n -= k
                    m[0, s, a, c] = n
                eligible += n
    return claims, approved, eligible


@jit
def share_cases(pending_row, benefit, case_cost, sharing, cap_case):
    """Step 3-5 for the cases due now: cost, per-case capped share, per-case backstop.

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
def age_and_wait(m, age_up, max_age):
    """End of period: waiting counts down; on anniversaries everyone ages and those past
    ``max_age`` leave. Returns (members who left at the maximum age, members still waiting).
    """
    n_ten, n_sex, n_age, n_class = m.shape
    for w in range(1, n_ten):
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    m[w - 1, s, a, c] += m[w, s, a, c]
                    m[w, s, a, c] = 0
    aged_out = 0
    if age_up:
        for w in range(n_ten):
            for s in range(n_sex):
                for c in range(n_class):
                    m[w, s, n_age - 1, c] += m[w, s, n_age - 2, c]
                    for a in range(n_age - 2, 0, -1):
                        m[w, s, a, c] = m[w, s, a - 1, c]
                    m[w, s, 0, c] = 0
                    for a in range(max_age + 1, n_age):
                        aged_out += m[w, s, a, c]
                        m[w, s, a, c] = 0
    waiting = 0
    for w in range(1, n_ten):
        waiting += m[w].sum()
    return aged_out, waiting


@jit
def run_path(
    st,
    members0,
    hazard,
    benefit,
    case_cost,
    approval_rate,
    claimants_leave,
    lag,
    cap_case,
    cap_period,
    cap_year,
    member_fee,
    failure_rate,
    recovery_rate,
    waiting_share,
    max_age,
    age_up,
    new_year,
    discount,
    counts,
    money,
    totals,
):
    """Simulate one path over ``counts.shape[0]`` periods, writing its rows of the outputs."""
    m = members0.copy()
    pending = np.zeros((lag + 1, m.shape[2]), dtype=np.int64)
    waiting = m.sum() - m[0].sum()
    ytd = 0.0
    for t in range(counts.shape[0]):
        claims, approved, eligible = step_illness(
            st, m, hazard, approval_rate, claimants_leave, pending[(t + lag) % (lag + 1)]
        )
        sharing = eligible + waiting if waiting_share else eligible
        cases, benefits, cost, share, backstop = share_cases(
            pending[t % (lag + 1)], benefit, case_cost, sharing, cap_case
        )
        if share > cap_period:
            backstop += (share - cap_period) * sharing
            share = cap_period
        if new_year[t]:
            ytd = 0.0
        if share > cap_year - ytd:
            backstop += (share - (cap_year - ytd)) * sharing
            share = cap_year - ytd
        ytd += share
        due = share + member_fee
        failures = binomial(st, sharing, failure_rate) if failure_rate > 0.0 else 0
        shortfall = failures * due
        recovered = recovery_rate * shortfall
        liability = backstop + shortfall - recovered

        counts[t, 0] = eligible + waiting
        counts[t, 1] = sharing
        counts[t, 2] = eligible
        counts[t, 3] = waiting
        counts[t, 4] = claims
        counts[t, 5] = approved
        counts[t, 6] = cases
        counts[t, 7] = failures
        money[t, 0] = benefits
        money[t, 1] = cost - benefits + member_fee * sharing
        money[t, 2] = cost / sharing if sharing > 0 else 0.0
        money[t, 3] = share if sharing > 0 else 0.0
        money[t, 4] = due * sharing - shortfall
        money[t, 5] = backstop
        money[t, 6] = shortfall
        money[t, 7] = recovered
        money[t, 8] = liability
        totals[0] += liability * discount[t]
        totals[1] += backstop * discount[t]
        totals[2] += (shortfall - recovered) * discount[t]
        totals[3] += money[t, 3] + member_fee

        counts[t, 8], waiting = age_and_wait(m, age_up[t], max_age)


@jit(parallel=True)
def run_paths(
    key,
    first_path,
    members0,
    hazard,
    benefit,
    case_cost,
    approval_rate,
    claimants_leave,
    lag,
    cap_case,
    cap_period,
    cap_year,
    member_fee,
    failure_rate,
    recovery_rate,
    waiting_share,
    max_age,
    age_up,
    new_year,
    discount,
    counts,
    money,
    totals,
):
    """Simulate paths ``first_path ..`` into ``counts[path, period, var]``,
    ``money[path, period, var]`` and ``totals[path, var]`` (zeroed first), in parallel."""
    for i in prange(counts.shape[0]):
        st = np.empty(4, dtype=np.uint64)
        seed_path(key, first_path + i, st)
        totals[i, :] = 0.0
        run_path(
            st,
            members0,
            hazard,
            benefit,
            case_cost,
            approval_rate,
            claimants_leave,
            lag,
            cap_case,
            cap_period,
            cap_year,
            member_fee,
            failure_rate,
            recovery_rate,
            waiting_share,
            max_age,
            age_up,
            new_year,
            discount,
            counts[i],
            money[i],
            totals[i],
        )
