"""A plain-NumPy reference of the kernel's period step. It draws through the same scalar
generator functions in the same order (cohorts in C order), so both must agree exactly."""

import math

import numpy as np

from engine import kernel as K
from engine.kernel_inputs import Params, Rules
from engine.plans import PERIODS_PER_YEAR
from engine.rng import beta_mean_sd, binomial, gamma, normal, poisson, seed_stream, uniform
from engine.variables import COUNT, MONEY, TABLE, TOTAL


def seq_sum(x):
    """Left-to-right float sum, the kernel's order (NumPy's sum is pairwise)."""
    x = np.ravel(x)
    return float(np.cumsum(x)[-1]) if x.size else 0.0


def cells(m):
    """Indices of non-empty cohorts in C order."""
    return list(zip(*np.nonzero(m), strict=True))


def thin(st, dm, cell, n, x, slot_w, rest_w):
    """Remove x of the n tenure-0 members of ``cell`` from the duration slots: sequential
    binomials in proportion to members x weight; members past the select period take the
    rest (and any excess goes back to the slots in order)."""
    if x <= 0:
        return
    col = dm[(slice(None), *cell)]  # a view
    if x >= n:
        col[:] = 0
        return
    tracked = int(col.sum())
    weight = (n - tracked) * rest_w
    for j in range(col.size):
        weight += col[j] * slot_w[j]
    left = x
    for j in range(col.size):
        if col[j] == 0 or left == 0:
            continue
        wj = col[j] * slot_w[j]
        y = min(binomial(st, left, wj / weight), col[j]) if weight > 0 else 0
        col[j] -= y
        left -= y
        weight -= wj
    excess = left - (n - tracked)
    for j in range(col.size):
        y = min(max(excess, 0), col[j])
        col[j] -= y
        excess -= y


def outside_closure(key, path, closure_p):
    """Period of the outside closure: first t with -sum log(1 - p[:t+1]) >= Exp(1)."""
    st = np.empty(4, dtype=np.uint64)
    seed_stream(key, np.int64(path), np.int64(K.CLOSURE_STREAM), st)
    e = -math.log(uniform(st))
    cumulative = 0.0
    for t, q in enumerate(closure_p):
        if q > 0:
            cumulative -= math.log1p(-q)
            if cumulative >= e:
                return t
    return -1


def incidence_factors(key, path, inputs):
    """(known, shocks): the path's parameter factors and each period's shock factors."""
    periods = inputs.regime.size
    pars = [Params._make(r.par) for r in (inputs, *inputs.later)]
    per = [pars[i] for i in inputs.regime]
    st = np.empty(4, dtype=np.uint64)
    known, shocks = np.ones(periods), np.ones(periods)
    s = Params._make(inputs.par).multiplier_sd
    if s > 0:
        seed_stream(key, np.int64(path), np.int64(K.MULTIPLIER_STREAM), st)
        known[:] = math.exp(s * normal(st) - 0.5 * s * s)
    trend = [q.trend_sd * (t / PERIODS_PER_YEAR) for t, q in enumerate(per)]
    if max(trend) > 0:
        seed_stream(key, np.int64(path), np.int64(K.TREND_STREAM), st)
        z = normal(st)
        for t, u in enumerate(trend):
            if u > 0:
                known[t] *= math.exp(u * z - 0.5 * u * u)
    for t, q in enumerate(per):
        if q.dispersion > 0:
            seed_stream(key, np.int64(path), np.int64(K.DISPERSION_STREAM + t), st)
            shocks[t] = gamma(st, 1.0 / q.dispersion) * q.dispersion
        if q.shock_rate > 0:
            seed_stream(key, np.int64(path), np.int64(K.SHOCK_STREAM + t), st)
            shocks[t] *= 1.0 + poisson(st, q.shock_rate) * q.shock_size
    return known, shocks


def exit_cost(t, m, pending, inputs, known):
    """Expected cost of a closure announced at the end of period t (see kernel.exit_cost)."""
    ipar, regimes, periods = Rules._make(inputs.ipar), [inputs, *inputs.later], inputs.regime.size
    lag, n_elig, notice = int(ipar.lag), int(ipar.n_elig), int(ipar.notice)
    n_share = m.shape[0] if ipar.waiting_share else n_elig
    pay_notice = bool(ipar.pay_notice)
    x, pend = m.astype(float), pending.astype(float)
    total = 0.0

    def par_at(u):
        q = Params._make(regimes[inputs.regime[u]].par)
        q = q._replace(incidence=q.incidence * inputs.incidence_factor[u])
        return q, regimes[inputs.regime[u]]

    for j in range(1, notice + 1):
        u = min(t + j, periods - 1)
        q, reg = par_at(u)
        f = q.incidence * q.claims_rush * (known[u] * (1.0 + q.shock_rate * q.shock_size))
        for w, s_, a, c in cells(x[:n_elig]):
            n = x[w, s_, a, c]
            h = reg.hazard[s_, a, c]
            k = n if h == np.inf else n * inputs.tenure_factor[w] * (h * f)
            k = min(k, n) * reg.approval[w]
            pend[(t + j + lag) % (lag + 1), a] += k
            if ipar.claimants_leave:
                x[w, s_, a, c] = n - k
        sharing = 0.0
        for v in x[:n_share].ravel():
            sharing += v
        due = (t + j) % (lag + 1)
        for a in range(x.shape[2]):
            if pend[due, a] != 0:
                total += pend[due, a] * (reg.benefit[a] if pay_notice else reg.case_cost[a])
                pend[due, a] = 0.0
        if not pay_notice:
            total += q.member_fee * sharing
        if x.shape[0] > 1:
            x[0] += x[1]
            x[1:-1] = x[2:]
            x[-1] = 0.0
        if inputs.age_up[u]:
            top = x[:, :, -1] + x[:, :, -2]
            x[:, :, 1:] = x[:, :, :-1].copy()
            x[:, :, -1] = top
            x[:, :, 0] = 0.0
            x[:, :, int(ipar.max_age) + 1 :] = 0.0
    end = min(t + notice, periods - 1)
    later = 0 if pay_notice or t + notice >= periods - 1 else 1
    benefit = regimes[inputs.regime[min(end + later, periods - 1)]].benefit
    for r in range(pend.shape[0]):
        for a in range(pend.shape[1]):
            if pend[r, a] != 0:
                total += pend[r, a] * benefit[a]
    if ipar.transfer:
        left = 0.0
        for v in x.ravel():
            left += v
        total += left * par_at(end)[0].transfer_cost
    return total


def arrears_step(st, held, owed, sharing, last_sharing, rate, due, remove_after, backpay):
    """Members in arrears by failures in a row: (failures, recovered, removed, written)."""
    written = 0.0
    if last_sharing > sharing:
        q = sharing / last_sharing
        for j in range(held.size):
            if held[j] > 0:
                keep = int(held[j] * q)
                written += owed[j] * (held[j] - keep) / held[j]
                owed[j] *= keep / held[j]
                held[j] = keep
    new = binomial(st, max(sharing - int(held.sum()), 0), rate)
    if remove_after == 1:
        return new, 0.0, new, written + new * due
    failures, recovered, removed = new, 0.0, 0
    moved = np.zeros_like(held)
    moved_owed = np.zeros_like(owed)
    for j in range(held.size - 1, -1, -1):
        n = held[j]
        if n == 0:
            continue
        per = owed[j] / n
        again = binomial(st, n, rate)
        back = binomial(st, n - again, backpay)
        recovered += back * per
        written += (n - again - back) * per
        failures += again
        if remove_after == 0:
            moved[0], moved_owed[0] = again, again * (per + due)
        elif j == held.size - 1:
            removed += again
            written += again * (per + due)
        else:
            moved[j + 1], moved_owed[j + 1] = again, again * (per + due)
    held[:], owed[:] = moved, moved_owed
    held[0] += new
    owed[0] += new * due
    return failures, recovered, removed, written


def reference_path(key, path, inputs, scenario):
    """One path as ``{name: value}`` for every variable of the table (engine.variables): an
    array by period for counts and amounts, a number for per-path values."""
    ipar = Rules._make(inputs.ipar)
    regimes = [inputs, *inputs.later]
    st = np.empty(4, dtype=np.uint64)
    dst = np.empty(4, dtype=np.uint64)
    m = inputs.members0.copy()
    dm = inputs.durations0.copy()
    duration_on = bool(ipar.duration_on)
    tenure_w, slot_w = inputs.tenure_factor, inputs.slot_factor
    ones = np.ones(slot_w.size)
    pay_notice = bool(ipar.pay_notice)
    remove_after = int(ipar.remove_after)
    held = np.zeros(max(remove_after - 1, 1), dtype=np.int64)
    owed = np.zeros(held.size)
    last_sharing = 0
    outside = outside_closure(key, path, inputs.closure_p) if ipar.hazard_on else -1
    known, shocks = incidence_factors(key, path, inputs)
    cause = 0
    par = Params._make(inputs.par)
    lag, n_elig = int(ipar.lag), int(ipar.n_elig)
    share_waiting = bool(ipar.waiting_share)
    n_share_ten = m.shape[0] if share_waiting else n_elig
    pending = np.zeros((lag + 1, m.shape[2]), dtype=np.int64)
    prepay = par.prepay
    pool = m.sum() * prepay
    ytd, phase, notice_left, closure = 0.0, 0, 0, -1
    reserve, contributed, stranded = par.reserve, 0.0, 0
    log_weight = martingale = notice_martingale = 0.0
    periods = scenario.periods
    out = {
        v.name: np.zeros(periods, dtype=np.int64 if v.kind == COUNT else float)
        for v in TABLE
        if v.kind in (COUNT, MONEY)
    }
    totals = dict.fromkeys((v.name for v in TABLE if v.kind == TOTAL), 0.0)

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
        reg = regimes[inputs.regime[t]]
        par = Params._make(reg.par)
        par = par._replace(incidence=par.incidence * inputs.incidence_factor[t])
        benefit, case_cost, member_fee = reg.benefit, reg.case_cost, par.member_fee
        start_members = m.sum()
        if duration_on:
            seed_stream(key, np.int64(path), np.int64(K.DURATION_STREAM + t), dst)
        seed_stream(key, np.int64(path), np.int64(3 * t + K.ILLNESS), st)
        # illness and audit
        claims = approved = 0
        before = martingale
        factor = par.incidence * par.claims_rush if phase == 1 else par.incidence
        factor *= known[t] * shocks[t]
        for w, s, a, c in cells(m[:n_elig]) if phase != 3 else []:
            n = m[w, s, a, c]
            h = reg.hazard[s, a, c]
            if h == np.inf:
                k = n
            else:
                if duration_on and w == 0:
                    x = (n - int(dm[:, s, a, c].sum())) * tenure_w[0]
                    for j in range(slot_w.size):
                        x += dm[j, s, a, c] * slot_w[j]
                else:
                    x = n * tenure_w[w]
                lam = x * (h * factor)
                base = Params._make(inputs.par)  # the tilts are read in period 0
                tilt = (base.tilt_notice if phase == 1 else base.tilt) * case_cost[a]
                if tilt != 0:  # the C library's exp, as compiled code: NumPy's differs by an ulp
                    k = poisson(st, lam * math.exp(tilt))
                    log_weight += lam * math.expm1(tilt) - tilt * k
                else:
                    k = poisson(st, lam)
                martingale += case_cost[a] * (k - lam)
                k = min(k, n)
            claims += k
            if reg.approval[w] < 1:
                k = binomial(st, k, reg.approval[w])
            approved += k
            pending[(t + lag) % (lag + 1), a] += k
            if ipar.claimants_leave:
                m[w, s, a, c] = n - k
                if duration_on and w == 0:
                    thin(dst, dm, (s, a, c), n, k, slot_w, tenure_w[0])
        if phase == 1:
            notice_martingale += martingale - before
        eligible, waiting = int(m[:n_elig].sum()), int(m[n_elig:].sum())
        sharing = eligible + waiting if share_waiting else eligible
        share = backstop = shortfall = recovered = runoff = paid = due = reserve_draw = 0.0
        failures = lapses = joiners = exits = deaths = removed = 0
        written = notice_paid = 0.0
        unpaid = phase == 1 and not pay_notice
        joined = np.zeros(m.shape[1:], dtype=np.int64)
        if phase == 3:
            sharing, cases, benefits, cost = 0, 0, 0.0, 0.0
            for r in range(lag + 1):
                runoff += seq_sum(pending[r] * benefit)
            pending[:] = 0
        elif phase == 1 and pay_notice:
            sharing = 0
            cases, runoff, _, _, _ = due_cases(t % (lag + 1), 1, np.inf)
            benefits = cost = 0.0
        elif phase == 1:  # members pay nothing: the platform pays benefits and fees
            cases, benefits, cost, _, _ = due_cases(t % (lag + 1), 1, np.inf)
            fees = cost - benefits + member_fee * sharing
            notice_paid = benefits + fees
        else:
            cases, benefits, cost, share, backstop = due_cases(t % (lag + 1), sharing, par.cap_case)
            if reserve > 0 and share > par.reserve_trigger:
                reserve_draw = min(reserve, (share - par.reserve_trigger) * sharing)
                reserve -= reserve_draw
                share -= reserve_draw / sharing
            if share > par.cap_period:
                backstop += (share - par.cap_period) * sharing
                share = par.cap_period
            if inputs.new_year[t]:
                ytd = 0.0
            if share > par.cap_year - ytd:
                backstop += (share - (par.cap_year - ytd)) * sharing
                share = par.cap_year - ytd
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
                if sharing > 0 and (shortfall > 0 or pool < par.min_balance * sharing):
                    per_short = shortfall / sharing
                    balance = pool / holders
                    if par.topup < 1:
                        for w, s, a, c in cells(m[:n_share_ten]):
                            n = m[w, s, a, c]
                            x = binomial(st, n, 1.0 - par.topup)
                            m[w, s, a, c] -= x
                            lapses += x
                            if duration_on and w == 0:
                                thin(dst, dm, (s, a, c), n, x, ones, 1.0)
                    stayers = sharing - lapses
                    recovered = stayers * per_short
                    units = max(1.0, math.ceil((per_short + par.min_balance - balance) / prepay))
                    pool += stayers * (units * prepay - per_short) - lapses * balance
            else:
                rate = par.failure_rate
                if par.failure_sd > 0 and rate > 0:
                    wave = np.empty(4, dtype=np.uint64)
                    seed_stream(key, np.int64(path), np.int64(K.WAVE_STREAM + t), wave)
                    rate = beta_mean_sd(wave, rate, par.failure_sd)
                if ipar.arrears_on:
                    failures, recovered, removed, written = arrears_step(
                        st, held, owed, sharing, last_sharing, rate, due, remove_after,
                        par.backpay,
                    )  # fmt: skip
                    left = removed
                    pool_n = int(m[:n_share_ten].sum())
                    for w, s, a, c in cells(m[:n_share_ten]) if removed else []:
                        n = m[w, s, a, c]
                        if left == 0:
                            break
                        x = min(binomial(st, left, n / pool_n), n) if pool_n > n else min(left, n)
                        pool_n -= n
                        left -= x
                        m[w, s, a, c] -= x
                        if duration_on and w == 0:
                            thin(dst, dm, (s, a, c), n, x, ones, 1.0)
                    removed -= left
                    last_sharing = sharing - removed
                elif rate > 0:
                    failures = binomial(st, sharing, rate)
                shortfall = failures * due
                if not ipar.arrears_on:
                    recovered = par.recovery_rate * shortfall
                paid = need - shortfall
            seed_stream(key, np.int64(path), np.int64(3 * t + K.FLOWS), st)
            ratio = due / par.ref_share if par.ref_share > 0 else 1.0
            before = m.sum()
            if ipar.exits_on:
                price = par.price_rate * ratio ** np.array(
                    [par.elasticity_standard, par.elasticity_impaired]
                )
                for w, s, a, c in cells(m):
                    n = m[w, s, a, c]
                    hz = reg.base_exit[s, a] + price[c]
                    if hz <= 0:
                        continue
                    x = binomial(st, n, -math.expm1(-hz))
                    m[w, s, a, c] = n - x
                    if duration_on and w == 0:
                        thin(dst, dm, (s, a, c), n, x, ones, 1.0)
                    d = 0
                    if ipar.mortality_on and x > 0:
                        d = binomial(st, x, reg.mortality[s, a] / hz)
                    deaths += d
                    exits += x - d
            if prepay > 0 and before > 0:
                pool *= (before - exits - deaths) / before
            if inputs.join_expected[t] > 0:
                expected = inputs.join_expected[t] * max(ratio, 0.5) ** -par.join_elasticity
                f = min(1.0, par.impaired_share * ratio**par.impaired_sensitivity)
                for s, a in zip(*np.nonzero(reg.join_weights), strict=True):
                    wsa = reg.join_weights[s, a]
                    k0 = poisson(st, expected * wsa * (1.0 - f))
                    k1 = poisson(st, expected * wsa * f)
                    m[-1, s, a, 0] += k0
                    m[-1, s, a, 1] += k1
                    joined[s, a] += (k0, k1)
                    joiners += k0 + k1
                pool += joiners * prepay
                if joiners > 0:
                    contributed *= (m.sum() - joiners) / m.sum()
        # end of period: duration slots move on, tenures count down, anniversaries age everyone
        if duration_on and dm.shape[0]:
            dm[1:] = dm[:-1].copy()
            dm[0] = m[1] if m.shape[0] > 1 else joined
            if inputs.age_up[t]:
                top = dm[:, :, -1] + dm[:, :, -2]
                dm[:, :, 1:] = dm[:, :, :-1].copy()
                dm[:, :, -1] = top
                dm[:, :, 0] = 0
                dm[:, :, int(ipar.max_age) + 1 :] = 0
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
            aged_out = int(m[:, :, int(ipar.max_age) + 1 :].sum())
            m[:, :, int(ipar.max_age) + 1 :] = 0
        if prepay > 0:
            left = m.sum()
            pool = pool * left / (left + aged_out) if left + aged_out > 0 else 0.0
        eligible, waiting = int(m[:n_elig].sum()), int(m[n_elig:].sum())
        impaired = int(m[..., 1:].sum())
        exit_t = exit_cost(t, m, pending, inputs, known) if phase == 0 else 0.0
        if phase == 0:
            if (eligible + waiting if share_waiting else eligible) < ipar.min_members:
                cause = K.CAUSE_MEMBERS
            elif t == ipar.announce:
                cause = K.CAUSE_DATE
            elif t == outside:
                cause = K.CAUSE_HAZARD
            if cause:
                phase, notice_left, closure = 1, int(ipar.notice), t
        elif phase == 1:
            notice_left -= 1
        elif phase == 3:
            phase = 2
        if phase == 1 and notice_left == 0:
            phase = 2 if pay_notice or t == periods - 1 else 3
            if phase == 2:
                for r in range(lag + 1):
                    runoff += seq_sum(pending[r] * benefit)
                pending[:] = 0
            stranded = int(m.sum())
            totals["stranded_contributions"] = stranded * contributed
            if ipar.transfer:
                runoff += stranded * par.transfer_cost
            m[:] = 0
            dm[:] = 0
            pool = 0.0
            eligible = waiting = impaired = 0
            written += seq_sum(owed)
            held[:], owed[:] = 0, 0.0
        liability = backstop + shortfall - recovered + runoff + reserve_draw
        if unpaid:
            liability += notice_paid
        revenue = cost - benefits + member_fee * sharing
        if not unpaid:
            reserve += par.reserve_rate * revenue
        platform_cost = par.fixed_cost + par.cost_per_case * claims + par.cost_per_joiner * joiners
        net = revenue - platform_cost - liability
        active = 1 if phase == 0 or closure == t else 0
        row = {
            "members": eligible + waiting,
            "sharing": sharing,
            "eligible": eligible,
            "waiting": waiting,
            "impaired": impaired,
            "claims": claims,
            "approved": approved,
            "cases_paid": cases,
            "failures": failures,
            "aged_out": aged_out,
            "joiners": joiners,
            "exits": exits,
            "deaths": deaths,
            "lapses": lapses,
            "active": active,
            "removed": removed,
            "benefits": benefits,
            "fees": revenue,
            "share_pre": cost / sharing if sharing else 0.0,
            "share_post": share if sharing else 0.0,
            "members_paid": paid,
            "backstop": backstop,
            "shortfall": shortfall,
            "recovered": recovered,
            "runoff": runoff,
            "liability": liability,
            "prepay_pool": pool,
            "revenue": revenue,
            "platform_cost": platform_cost,
            "net_cash": net,
            "reserve_draw": reserve_draw,
            "reserve": reserve,
            "arrears": seq_sum(owed),
            "written_off": written,
            "notice_paid": notice_paid,
            "exit_cost": exit_t,
        }
        for name, value in row.items():
            out[name][t] = value
        d = inputs.discount[t]
        totals["liability_pv"] += liability * d
        totals["backstop_pv"] += backstop * d
        totals["shortfall_pv"] += (shortfall - recovered) * d
        totals["runoff_pv"] += runoff * d
        totals["share_total"] += due if sharing else 0.0
        totals["platform_result"] += net
        totals["reserve_pv"] += reserve_draw * d
    totals["log_weight"], totals["cost_martingale"] = log_weight, martingale
    totals["notice_martingale"] = notice_martingale
    totals.update(closure_period=closure, stranded_members=stranded, closure_cause=cause)
    return out | totals
