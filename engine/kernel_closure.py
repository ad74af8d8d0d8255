"""The closure of a path: when an outside closure comes, and what a closure announced now
would cost the platform (jitted; see engine.kernel)."""

import numpy as np

from engine import kernel_inputs as P
from engine._jit import jit
from engine.kernel_steps import CLOSURE_STREAM
from engine.rng import seed_stream, uniform


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


@jit(inline=True)
def exit_cost(t, m, pending, inputs, params, rules, known):
    """Expected cost to the platform of a closure announced at the end of period ``t``,
    given the path's state then (members ``m``, approved claims ``pending``, its known
    incidence factors ``known``): the notice periods' cases (benefits, or with an unpaid
    notice their full cost plus the members' fees), the claims pending at the end and the
    transfer cost. Claims are expected values (claimants leave in expectation, the future
    shocks have their mean, members in the select period count as seasoned); periods
    past the horizon use the last period's parameters."""
    regime = inputs.regime
    last = regime.size - 1
    pay_notice = rules.pay_notice != 0
    x = m.astype(np.float64)
    pend = pending.astype(np.float64)
    total = 0.0
    for j in range(1, rules.notice + 1):
        total = notice_period(t, j, x, pend, inputs, params, rules, known, total)
    end = min(t + rules.notice, last)
    paid_end = min(end + (0 if pay_notice or t + rules.notice >= last else 1), last)
    benefit = inputs.benefit[regime[paid_end]]
    for r_ in range(pend.shape[0]):
        for a in range(pend.shape[1]):
            if pend[r_, a] != 0.0:
                total += pend[r_, a] * benefit[a]
    if rules.transfer:
        n_ten, n_sex, n_age, n_class = x.shape
        left = 0.0
        for w in range(n_ten):
            for s in range(n_sex):
                for a in range(n_age):
                    for c in range(n_class):
                        left += x[w, s, a, c]
        total += left * params[end, P.TRANSFER_COST]
    return total


@jit(inline=True)
def notice_period(t, j, x, pend, inputs, params, rules, known, total):
    """The expected cost of notice period ``j`` after a closure announced in period ``t``:
    expected approved claims join ``pend``, the claimants leave ``x`` (members as floats),
    the cases due are paid; then the tenures count down and, on an anniversary, everyone
    ages. Returns ``total`` plus the period's cost to the platform, added case by case."""
    u = min(t + j, inputs.regime.size - 1)
    r = inputs.regime[u]
    hazard, approval, tenure_w = inputs.hazard[r], inputs.approval[r], inputs.tenure_factor
    benefit, case_cost = inputs.benefit[r], inputs.case_cost[r]
    lag = rules.lag
    n_ten, n_sex, n_age, n_class = x.shape
    n_share = n_ten if rules.waiting_share else rules.n_elig
    pay_notice = rules.pay_notice != 0
    shock = 1.0 + params[u, P.SHOCK_RATE] * params[u, P.SHOCK_SIZE]
    f = params[u, P.INCIDENCE] * params[u, P.CLAIMS_RUSH] * (known[u] * shock)
    row = (t + j + lag) % (lag + 1)
    for w in range(rules.n_elig):
        for s in range(n_sex):
            for a in range(n_age):
                for c in range(n_class):
                    n = x[w, s, a, c]
                    if n == 0.0:
                        continue
                    h = hazard[s, a, c]
                    k = n if h == np.inf else n * tenure_w[w] * (h * f)
                    k = min(k, n) * approval[w]
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
            cost = benefit[a] if pay_notice else case_cost[a]
            total += pend[due, a] * cost
            pend[due, a] = 0.0
    if not pay_notice:
        total += params[u, P.MEMBER_FEE] * sharing
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
    return total
