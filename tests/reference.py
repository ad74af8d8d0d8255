"""A plain-NumPy reference of the kernel's period step, drawing through the same scalar
generator functions in the same order, so both must agree exactly on every number."""

import numpy as np

from engine.rng import binomial, poisson, seed_path


def seq_sum(x):
    """Left-to-right float sum, the kernel's order (NumPy's sum is pairwise)."""
    return float(np.cumsum(x)[-1])


def reference_path(key, path, inputs, scenario):
    """One path of ``scenario`` as (counts [period, var], money [period, var], totals [var])."""
    plan, fee = scenario.plan, scenario.plan.tier_fee(scenario.tier)
    claims_cfg, ded = scenario.claims, scenario.deduction
    member_fee = fee.per_member_month / 2
    st = np.empty(4, dtype=np.uint64)
    seed_path(key, np.int64(path), st)
    m = inputs.members0.copy()
    lag = claims_cfg.payment_lag
    pending = np.zeros((lag + 1, m.shape[2]), dtype=np.int64)
    ytd = 0.0
    periods = scenario.periods
    counts = np.zeros((periods, 9), dtype=np.int64)
    money = np.zeros((periods, 9))
    totals = np.zeros(4)
    for t in range(periods):
        eligible = m[0]
        drawn = np.zeros_like(eligible)
        approved = np.zeros_like(eligible)
        for idx in zip(*np.nonzero(eligible), strict=True):  # C order, as the kernel walks
            h = inputs.hazard[idx]
            k = (
                eligible[idx]
                if h == np.inf
                else min(poisson(st, float(eligible[idx] * h)), eligible[idx])
            )
            drawn[idx] = k
            approved[idx] = (
                binomial(st, k, claims_cfg.approval_rate) if claims_cfg.approval_rate < 1 else k
            )
        pending[(t + lag) % (lag + 1)] += approved.sum(axis=(0, 2))
        if claims_cfg.claimants_leave:
            m[0] -= approved
        n_eligible = int(m[0].sum())
        waiting = int(m[1:].sum())
        sharing = n_eligible + waiting if scenario.waiting_members_share else n_eligible
        due_now = pending[t % (lag + 1)].copy()
        pending[t % (lag + 1)] = 0
        cc = inputs.case_cost
        benefits = seq_sum(due_now * inputs.benefit)
        cost = seq_sum(due_now * cc)
        if sharing == 0:
            share, backstop = 0.0, cost
        else:
            over = cc / sharing > plan.cap_per_case
            with np.errstate(invalid="ignore"):  # np.where evaluates both branches
                capped = np.where(over, due_now * plan.cap_per_case, due_now * (cc / sharing))
                excess = np.where(over, due_now * (cc - plan.cap_per_case * sharing), 0.0)
            share, backstop = seq_sum(capped), seq_sum(excess)
        if share > plan.cap_per_period:
            backstop += (share - plan.cap_per_period) * sharing
            share = plan.cap_per_period
        if inputs.new_year[t]:
            ytd = 0.0
        if share > plan.cap_per_year - ytd:
            backstop += (share - (plan.cap_per_year - ytd)) * sharing
            share = plan.cap_per_year - ytd
        ytd += share
        due = share + member_fee
        failures = binomial(st, sharing, ded.failure_rate) if ded.failure_rate > 0 else 0
        shortfall = failures * due
        recovered = ded.recovery_rate * shortfall
        liability = backstop + shortfall - recovered
        # end of period: waiting counts down, anniversaries age everyone
        if m.shape[0] > 1:
            m[0] += m[1]
            m[1:-1] = m[2:]
            m[-1] = 0
        aged_out = 0
        if inputs.age_up[t]:
            top = m[:, :, -1] + m[:, :, -2]
            m[:, :, 1:] = m[:, :, :-1].copy()
            m[:, :, -1] = top
            m[:, :, 0] = 0
            aged_out = int(m[:, :, plan.max_age + 1 :].sum())
            m[:, :, plan.max_age + 1 :] = 0
        counts[t] = (
            n_eligible + waiting,
            sharing,
            n_eligible,
            waiting,
            drawn.sum(),
            approved.sum(),
            due_now.sum(),
            failures,
            aged_out,
        )
        money[t] = (
            benefits,
            cost - benefits + member_fee * sharing,
            cost / sharing if sharing else 0.0,
            share if sharing else 0.0,
            due * sharing - shortfall,
            backstop,
            shortfall,
            recovered,
            liability,
        )
        d = inputs.discount[t]
        totals += (
            liability * d,
            backstop * d,
            (shortfall - recovered) * d,
            money[t, 3] + member_fee,
        )
    return counts, money, totals
