"""A plain-NumPy reference of the kernel's period step. It draws through the same scalar
generator functions in the same order (cohorts in C order), so both must agree exactly."""

import math

import numpy as np

from engine import kernel as K
from engine.rng import binomial, poisson, seed_stream


def seq_sum(x):
    """Left-to-right float sum, the kernel's order (NumPy's sum is pairwise)."""
    x = np.ravel(x)
    return float(np.cumsum(x)[-1]) if x.size else 0.0


def cells(m):
    """Indices of non-empty cohorts in C order."""
    return list(zip(*np.nonzero(m), strict=True))


def reference_path(key, path, inputs, scenario):
    """One path as (counts [period, var], money [period, var], totals [var], path_ints [var])."""
    par, ipar = inputs.par, inputs.ipar
    st = np.empty(4, dtype=np.uint64)
    m = inputs.members0.copy()
    lag, n_elig = int(ipar[K.LAG]), int(ipar[K.N_ELIG])
    share_waiting = bool(ipar[K.WAITING_SHARE])
    n_share_ten = m.shape[0] if share_waiting else n_elig
    pending = np.zeros((lag + 1, m.shape[2]), dtype=np.int64)
    prepay, member_fee = par[K.PREPAY], par[K.MEMBER_FEE]
    pool = m.sum() * prepay
    ytd, phase, notice_left, closure = 0.0, 0, 0, -1
    reserve, contributed, stranded = par[K.RESERVE0], 0.0, 0
    log_weight = martingale = 0.0
    periods = scenario.periods
    counts = np.zeros((periods, len(K.COUNT_VARS)), dtype=np.int64)
    money = np.zeros((periods, len(K.MONEY_VARS)))
    totals = np.zeros(len(K.TOTAL_VARS))
    benefit, case_cost = inputs.benefit, inputs.case_cost

    def due_cases(row, sharing, cap):
        n = pending[row].copy()
        pending[row] = 0
        benefits, cost = seq_sum(n * benefit), seq_sum(n * case_cost)
        if sharing == 0:
            return int(n.sum()), benefits, cost, 0.0, cost
        over = case_cost / sharing > cap
        with np.errstate(invalid="ignore"):  # np.where evaluates both branches
            capped = np.where(over, n * cap, n * (case_cost / sharing))
            excess = np.where(over, n * (case_cost - cap * sharing), 0.0)
        return int(n.sum()), benefits, cost, seq_sum(capped), seq_sum(excess)

    for t in range(periods):
        if phase == 2:
            continue
        start_members = m.sum()
        seed_stream(key, np.int64(path), np.int64(3 * t + K.ILLNESS), st)
        # illness and audit
        claims = approved = 0
        for w, s, a, c in cells(m[:n_elig]):
            n = m[w, s, a, c]
            h = inputs.hazard[s, a, c]
            if h == np.inf:
                k = n
            else:
                lam = n * h
                tilt = par[K.THETA] * case_cost[a]
                if tilt != 0:
                    k = poisson(st, lam * np.exp(tilt))
                    log_weight += lam * np.expm1(tilt) - tilt * k
                else:
                    k = poisson(st, lam)
                martingale += case_cost[a] * (k - lam)
                k = min(k, n)
            claims += k
            if inputs.approval[w] < 1:
                k = binomial(st, k, inputs.approval[w])
            approved += k
            pending[(t + lag) % (lag + 1), a] += k
            if ipar[K.CLAIMANTS_LEAVE]:
                m[w, s, a, c] = n - k
        eligible, waiting = int(m[:n_elig].sum()), int(m[n_elig:].sum())
        sharing = eligible + waiting if share_waiting else eligible
        share = backstop = shortfall = recovered = runoff = paid = due = reserve_draw = 0.0
        failures = lapses = joiners = exits = deaths = 0
        if phase == 1:
            sharing = 0
            cases, runoff, _, _, _ = due_cases(t % (lag + 1), 1, np.inf)
            benefits = cost = 0.0
        else:
            cases, benefits, cost, share, backstop = due_cases(
                t % (lag + 1), sharing, par[K.CAP_CASE]
            )
            if reserve > 0 and share > par[K.RESERVE_TRIGGER]:
                reserve_draw = min(reserve, (share - par[K.RESERVE_TRIGGER]) * sharing)
                reserve -= reserve_draw
                share -= reserve_draw / sharing
            if share > par[K.CAP_PERIOD]:
                backstop += (share - par[K.CAP_PERIOD]) * sharing
                share = par[K.CAP_PERIOD]
            if inputs.new_year[t]:
                ytd = 0.0
            if share > par[K.CAP_YEAR] - ytd:
                backstop += (share - (par[K.CAP_YEAR] - ytd)) * sharing
                share = par[K.CAP_YEAR] - ytd
            ytd += share
            due = share + member_fee
            need = due * sharing
            seed_stream(key, np.int64(path), np.int64(3 * t + K.DEDUCTION), st)
            if sharing > 0:
                contributed += due * sharing / (eligible + waiting)
            if prepay > 0:
                holders = m.sum()
                if start_members > 0:
                    pool *= holders / start_members
                paid = min(pool, need)
                pool -= paid
                shortfall = need - paid
                if sharing > 0 and (shortfall > 0 or pool < par[K.MIN_BALANCE] * sharing):
                    per_short = shortfall / sharing
                    balance = pool / holders
                    if par[K.TOPUP] < 1:
                        for w, s, a, c in cells(m[:n_share_ten]):
                            x = binomial(st, m[w, s, a, c], 1.0 - par[K.TOPUP])
                            m[w, s, a, c] -= x
                            lapses += x
                    stayers = sharing - lapses
                    recovered = stayers * per_short
                    units = max(1.0, math.ceil((per_short + par[K.MIN_BALANCE] - balance) / prepay))
                    pool += stayers * (units * prepay - per_short) - lapses * balance
            else:
                if par[K.FAILURE] > 0:
                    failures = binomial(st, sharing, par[K.FAILURE])
                shortfall = failures * due
                recovered = par[K.RECOVERY] * shortfall
                paid = need - shortfall
            seed_stream(key, np.int64(path), np.int64(3 * t + K.FLOWS), st)
            ratio = due / par[K.REF_SHARE] if par[K.REF_SHARE] > 0 else 1.0
            before = m.sum()
            if ipar[K.EXITS_ON]:
                price = par[K.PRICE_RATE] * ratio ** np.array(
                    [par[K.ELASTICITY_STD], par[K.ELASTICITY_IMP]]
                )
                for w, s, a, c in cells(m):
                    n = m[w, s, a, c]
                    hz = inputs.base_exit[s, a] + price[c]
                    if hz <= 0:
                        continue
                    x = binomial(st, n, -math.expm1(-hz))
                    m[w, s, a, c] = n - x
                    d = 0
                    if ipar[K.MORTALITY_ON] and x > 0:
                        d = binomial(st, x, inputs.mortality[s, a] / hz)
                    deaths += d
                    exits += x - d
            if prepay > 0 and before > 0:
                pool *= (before - exits - deaths) / before
            if inputs.join_expected[t] > 0:
                expected = inputs.join_expected[t] * max(ratio, 0.5) ** -par[K.JOIN_ELASTICITY]
                f = min(1.0, par[K.IMPAIRED_F0] * ratio ** par[K.IMPAIRED_GAMMA])
                for s, a in zip(*np.nonzero(inputs.join_weights), strict=True):
                    wsa = inputs.join_weights[s, a]
                    k0 = poisson(st, expected * wsa * (1.0 - f))
                    k1 = poisson(st, expected * wsa * f)
                    m[-1, s, a, 0] += k0
                    m[-1, s, a, 1] += k1
                    joiners += k0 + k1
                pool += joiners * prepay
                if joiners > 0:
                    contributed *= (m.sum() - joiners) / m.sum()
        # end of period: tenures count down, anniversaries age everyone
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
            aged_out = int(m[:, :, int(ipar[K.MAX_AGE]) + 1 :].sum())
            m[:, :, int(ipar[K.MAX_AGE]) + 1 :] = 0
        if prepay > 0:
            left = m.sum()
            pool = pool * left / (left + aged_out) if left + aged_out > 0 else 0.0
        eligible, waiting = int(m[:n_elig].sum()), int(m[n_elig:].sum())
        impaired = int(m[..., 1:].sum())
        if phase == 0:
            if (eligible + waiting if share_waiting else eligible) < ipar[K.MIN_MEMBERS]:
                phase, notice_left, closure = 1, int(ipar[K.NOTICE]), t
        elif phase == 1:
            notice_left -= 1
        if phase == 1 and notice_left == 0:
            phase = 2
            for r in range(lag + 1):
                runoff += seq_sum(pending[r] * benefit)
            pending[:] = 0
            stranded = int(m.sum())
            totals[9] = stranded * contributed
            if ipar[K.TRANSFER]:
                runoff += stranded * par[K.TRANSFER_COST]
            m[:] = 0
            pool = 0.0
            eligible = waiting = impaired = 0
        liability = backstop + shortfall - recovered + runoff + reserve_draw
        revenue = cost - benefits + member_fee * sharing
        reserve += par[K.RESERVE_RATE] * revenue
        platform_cost = par[K.FIXED_COST] + par[K.COST_CASE] * claims + par[K.COST_JOINER] * joiners
        net = revenue - platform_cost - liability
        active = 1 if phase == 0 or closure == t else 0
        counts[t] = (
            eligible + waiting,
            sharing,
            eligible,
            waiting,
            impaired,
            claims,
            approved,
            cases,
            failures,
            aged_out,
            joiners,
            exits,
            deaths,
            lapses,
            active,
        )
        money[t] = (
            benefits,
            revenue,
            cost / sharing if sharing else 0.0,
            share if sharing else 0.0,
            paid,
            backstop,
            shortfall,
            recovered,
            runoff,
            liability,
            pool,
            revenue,
            platform_cost,
            net,
            reserve_draw,
            reserve,
        )
        d = inputs.discount[t]
        totals[:6] += (
            liability * d,
            backstop * d,
            (shortfall - recovered) * d,
            runoff * d,
            due if sharing else 0.0,
            net,
        )
        totals[8] += reserve_draw * d
    totals[6:8] = (log_weight, martingale)
    return counts, money, totals, np.array([closure, stranded])
