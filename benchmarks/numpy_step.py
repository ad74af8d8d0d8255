"""The kernel's period step in plain NumPy, vectorised over paths: the speed reference.

The same arithmetic and outputs as ``engine.kernel.run_paths`` (counts, money, totals and
path_ints with paths on axis 0, written by the names in ``engine.kernel``'s ``*_VARS``), but
drawing from a NumPy ``Generator`` with arrays of means over [path, cohort]. Its numbers
differ from the kernel's; their distributions agree. Outputs the kernel has and this step
does not compute stay zero.
"""

import numpy as np

from engine import kernel as K
from engine import kernel_inputs as P
from engine.kernel_inputs import KernelInputs

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def numpy_paths(inputs: KernelInputs, paths: int, seed: int, block: int = 1024) -> Outputs:
    """Simulate ``paths`` paths in blocks of ``block``: (counts, money, totals, path_ints)."""
    periods = inputs.discount.size
    counts = np.zeros((paths, periods, len(K.COUNT_VARS)), dtype=np.int64)
    money = np.zeros((paths, periods, len(K.MONEY_VARS)))
    totals = np.zeros((paths, len(K.TOTAL_VARS)))
    path_ints = np.zeros((paths, len(K.PATH_INT_VARS)), dtype=np.int64)
    for i, first in enumerate(range(0, paths, block)):
        rows = slice(first, min(first + block, paths))
        rng = np.random.default_rng([seed, i])
        _block(inputs, rng, counts[rows], money[rows], totals[rows], path_ints[rows])
    return counts, money, totals, path_ints


def _sum(x: np.ndarray) -> np.ndarray:
    """Sum over every axis but the first (paths)."""
    return x.reshape(x.shape[0], -1).sum(axis=1)


def _put(
    out: np.ndarray,
    names: tuple[str, ...],
    values: dict[str, np.ndarray],
    live: np.ndarray | None = None,
    add: bool = False,
) -> None:
    """Write (or add) ``values`` into the columns of ``out`` named by ``names``; zero where
    not ``live``. Names the kernel does not have are skipped, outputs this step does not
    compute stay zero."""
    for name, value in values.items():
        if name in names:
            v = value if live is None else np.where(live, value, 0)
            i = names.index(name)
            out[:, i] = out[:, i] + v if add else v


def _block(
    inputs: KernelInputs,
    rng: np.random.Generator,
    counts: np.ndarray,
    money: np.ndarray,
    totals: np.ndarray,
    path_ints: np.ndarray,
) -> None:
    """One block of paths, written into the given rows of the outputs."""
    par, ipar = inputs.par, inputs.ipar
    lag, n_elig, max_age = (
        int(ipar[P.IPAR["lag"]]),
        int(ipar[P.IPAR["n_elig"]]),
        int(ipar[P.IPAR["max_age"]]),
    )
    waiting_share, prepay = bool(ipar[P.IPAR["waiting_share"]]), par[P.PREPAY]
    n_paths = counts.shape[0]
    m = np.repeat(inputs.members0[None], n_paths, axis=0)  # [path, tenure, sex, age, class]
    n_share_ten = m.shape[1] if waiting_share else n_elig
    every = np.isinf(inputs.hazard)  # certain illness: every member claims
    hazard = np.where(every, 0.0, inputs.hazard)
    approval = inputs.approval[:n_elig, None, None, None]
    cc, benefit = inputs.case_cost, inputs.benefit
    cc_by_age = cc[:, None]  # broadcasts over [path, tenure, sex, age, class]
    theta = par[P.TILT]
    tilt = theta * cc_by_age
    log_weight, martingale = np.zeros(n_paths), np.zeros(n_paths)
    pending = np.zeros((lag + 1, n_paths, m.shape[3]), dtype=np.int64)
    pool = _sum(m) * prepay
    ytd = np.zeros(n_paths)
    phase = np.zeros(n_paths, dtype=np.int64)  # 0 open, 1 closure announced, 2 ended
    notice_left = np.zeros(n_paths, dtype=np.int64)
    path_ints[:, K.PATH_INT_VARS.index("closure_period")] = -1
    closure = path_ints[:, K.PATH_INT_VARS.index("closure_period")]
    reserve = np.full(n_paths, par[P.RESERVE])
    contributed = np.zeros(n_paths)  # average past contributions of a current member
    zero_f, zero_i = np.zeros(n_paths), np.zeros(n_paths, dtype=np.int64)
    for t in range(counts.shape[1]):
        live, open_, closing = phase != 2, phase == 0, phase == 1
        start_members = _sum(m)
        # steps 1-2: illness of the eligible tenures, audit, approved claimants leave
        e = m[:, :n_elig]
        lam = e * hazard
        if theta != 0.0:  # importance sampling: tilted means and the log likelihood ratio
            draw = rng.poisson(lam * np.exp(tilt))
            log_weight += _sum(lam * np.expm1(tilt) - tilt * draw)
        else:
            draw = rng.poisson(lam)
        martingale += _sum(cc_by_age * (draw - lam))
        k = np.where(every, e, np.minimum(draw, e))
        claims = _sum(k)
        if (approval < 1.0).any():
            k = rng.binomial(k, approval)
        approved = _sum(k)
        pending[(t + lag) % (lag + 1)] += k.sum(axis=(1, 2, 4))
        if ipar[P.IPAR["claimants_leave"]]:
            e -= k
        eligible, waiting = _sum(m[:, :n_elig]), _sum(m[:, n_elig:])
        sharing = np.where(open_, eligible + waiting if waiting_share else eligible, 0)
        # steps 3-5: the cases due now, shared with the per-case cap; run-off if closing
        due_now = pending[t % (lag + 1)]
        cases = due_now.sum(axis=1)
        benefits, cost = due_now @ benefit, due_now @ cc
        runoff = np.where(closing, benefits, 0.0)
        benefits, cost = np.where(closing, 0.0, benefits), np.where(closing, 0.0, cost)
        nobody = sharing == 0
        with np.errstate(divide="ignore", invalid="ignore"):  # inf caps, empty pools
            per_member = cc[None, :] / sharing[:, None]
            over = per_member > par[P.CAP_CASE]
            share = np.where(over, due_now * par[P.CAP_CASE], due_now * per_member).sum(axis=1)
            excess = due_now * (cc[None, :] - par[P.CAP_CASE] * sharing[:, None])
            backstop = np.where(over, excess, 0.0).sum(axis=1)
            share_pre = np.where(nobody, 0.0, cost / sharing)
        share = np.where(nobody, 0.0, share)
        backstop = np.where(nobody, cost, backstop)
        due_now[:] = 0
        # the reserve fund pays the share above its trigger
        with np.errstate(divide="ignore", invalid="ignore"):
            draws = open_ & (reserve > 0.0) & (share > par[P.RESERVE_TRIGGER])
            excess = (share - par[P.RESERVE_TRIGGER]) * sharing
            reserve_draw = np.where(draws, np.minimum(reserve, excess), 0.0)
            reserve -= reserve_draw
            share = np.where(draws, share - reserve_draw / sharing, share)
        if inputs.new_year[t]:
            ytd[open_] = 0.0
        # per-period and calendar-year caps (inf - inf and inf * 0 where they do not bind)
        with np.errstate(invalid="ignore"):
            over = share > par[P.CAP_PERIOD]
            backstop += np.where(over, (share - par[P.CAP_PERIOD]) * sharing, 0.0)
            share = np.where(over, par[P.CAP_PERIOD], share)
            room = par[P.CAP_YEAR] - ytd
            over = share > room
            backstop += np.where(over, (share - room) * sharing, 0.0)
            share = np.where(over, room, share)
        ytd += np.where(open_, share, 0.0)
        due = np.where(open_, share + par[P.MEMBER_FEE], 0.0)
        need = due * sharing
        with np.errstate(divide="ignore", invalid="ignore"):
            contributed += np.where(sharing > 0, need / (eligible + waiting), 0.0)
        # step 6: deduction, from prepaid balances or with failed deductions
        failures, lapses = zero_i, zero_i
        shortfall, recovered, paid = zero_f, zero_f, need
        if prepay > 0.0:
            holders = _sum(m)
            pool = np.where(open_ & (start_members > 0), pool * holders / start_members, pool)
            paid = np.where(open_, np.minimum(pool, need), 0.0)
            pool = pool - paid
            shortfall = need - paid
            top_up = open_ & (sharing > 0)
            top_up &= (shortfall > 0.0) | (pool < par[P.MIN_BALANCE] * sharing)
            with np.errstate(divide="ignore", invalid="ignore"):
                per_short = np.where(top_up, shortfall / sharing, 0.0)
                balance = np.where(top_up, pool / holders, 0.0)
            if par[P.TOPUP] < 1.0:
                x = rng.binomial(m[:, :n_share_ten], 1.0 - par[P.TOPUP])
                x *= top_up[:, None, None, None, None]
                m[:, :n_share_ten] -= x
                lapses = _sum(x)
            stayers = sharing - lapses
            recovered = stayers * per_short
            units = np.maximum(1.0, np.ceil((per_short + par[P.MIN_BALANCE] - balance) / prepay))
            pool = pool + np.where(
                top_up, stayers * (units * prepay - per_short) - lapses * balance, 0.0
            )
        elif par[P.FAILURE_RATE] > 0.0:
            failures = rng.binomial(sharing, par[P.FAILURE_RATE])
            shortfall = failures * due
            recovered = par[P.RECOVERY_RATE] * shortfall
            paid = need - shortfall
        # step 7: membership flows, priced on the share just paid
        ratio = due / par[P.REF_SHARE] if par[P.REF_SHARE] > 0.0 else np.ones(n_paths)
        before = _sum(m)
        exits, deaths, joiners = zero_i, zero_i, zero_i
        if ipar[P.IPAR["exits_on"]]:
            price = (
                par[P.PRICE_RATE]
                * ratio[:, None] ** par[[P.ELASTICITY_STANDARD, P.ELASTICITY_IMPAIRED]]
            )
            hz = inputs.base_exit[None, :, :, None] + price[:, None, None, :]  # [path, s, a, c]
            p = np.where(open_[:, None, None, None] & (hz > 0.0), -np.expm1(-hz), 0.0)
            x = rng.binomial(m, p[:, None])
            m -= x
            dead = np.zeros_like(x)
            if ipar[P.IPAR["mortality_on"]]:
                with np.errstate(divide="ignore", invalid="ignore"):
                    q = np.where(hz > 0.0, inputs.mortality[None, :, :, None] / hz, 0.0)
                dead = rng.binomial(x, q[:, None])
            deaths = _sum(dead)
            exits = _sum(x) - deaths
        if prepay > 0.0:
            with np.errstate(divide="ignore", invalid="ignore"):
                pool = np.where(before > 0, pool * (before - exits - deaths) / before, pool)
        if inputs.join_expected[t] > 0.0:
            expected = inputs.join_expected[t] * np.maximum(ratio, 0.5) ** -par[P.JOIN_ELASTICITY]
            f = np.minimum(1.0, par[P.IMPAIRED_SHARE] * ratio ** par[P.IMPAIRED_SENSITIVITY])
            lam = (expected * open_)[:, None, None] * inputs.join_weights
            k0 = rng.poisson(lam * (1.0 - f)[:, None, None])
            k1 = rng.poisson(lam * f[:, None, None])
            m[:, -1, :, :, 0] += k0
            m[:, -1, :, :, 1] += k1
            joiners = _sum(k0) + _sum(k1)
            pool = pool + joiners * prepay
            now = _sum(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                contributed = np.where(
                    joiners > 0, contributed * (now - joiners) / now, contributed
                )
        # end of period: tenures count down, anniversaries age everyone
        if m.shape[1] > 1:
            m[:, 0] += m[:, 1]
            m[:, 1:-1] = m[:, 2:]
            m[:, -1] = 0
        aged_out = zero_i
        if inputs.age_up[t]:
            top = m[:, :, :, -1] + m[:, :, :, -2]
            m[:, :, :, 1:] = m[:, :, :, :-1].copy()
            m[:, :, :, -1] = top
            m[:, :, :, 0] = 0
            aged_out = _sum(m[:, :, :, max_age + 1 :])
            m[:, :, :, max_age + 1 :] = 0
        if prepay > 0.0:
            left = _sum(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                pool = np.where(left + aged_out > 0, pool * left / (left + aged_out), 0.0)
        eligible, waiting = _sum(m[:, :n_elig]), _sum(m[:, n_elig:])
        impaired = _sum(m[..., 1:])
        # step 8: closure below the minimum, the notice period, the end with its run-off
        after = eligible + waiting if waiting_share else eligible
        announce = open_ & (after < ipar[P.IPAR["min_members"]])
        phase[announce] = 1
        notice_left[announce] = ipar[P.IPAR["notice"]]
        closure[announce] = t
        notice_left[closing] -= 1
        end = (phase == 1) & (notice_left == 0)
        phase[end] = 2
        runoff = runoff + np.where(end, pending.sum(axis=0) @ benefit, 0.0)
        left = _sum(m)
        if "stranded_members" in K.PATH_INT_VARS:
            path_ints[end, K.PATH_INT_VARS.index("stranded_members")] = left[end]
        if "stranded_contributions" in K.TOTAL_VARS:
            totals[end, K.TOTAL_VARS.index("stranded_contributions")] = (left * contributed)[end]
        if ipar[P.IPAR["transfer"]]:
            runoff = runoff + np.where(end, left * par[P.TRANSFER_COST], 0.0)
        pending[:, end] = 0
        m[end] = 0
        pool = np.where(end, 0.0, pool)
        eligible, waiting, impaired = (np.where(end, 0, v) for v in (eligible, waiting, impaired))
        # step 9: accounts and outputs (zero once a path has ended)
        liability = backstop + shortfall - recovered + runoff + reserve_draw
        revenue = cost - benefits + par[P.MEMBER_FEE] * sharing
        reserve = np.where(live, reserve + par[P.RESERVE_RATE] * revenue, reserve)
        platform_cost = par[P.FIXED_COST] + par[P.COST_PER_CASE] * claims
        platform_cost = platform_cost + par[P.COST_PER_JOINER] * joiners
        net = revenue - platform_cost - liability
        outputs = {
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
            "active": (phase == 0) | (closure == t),
        }
        _put(counts[:, t], K.COUNT_VARS, outputs, live)
        amounts = {
            "benefits": benefits,
            "fees": revenue,
            "share_pre": share_pre,
            "share_post": np.where(nobody, 0.0, share),
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
        }
        _put(money[:, t], K.MONEY_VARS, amounts, live)
        d = inputs.discount[t]
        added = {
            "liability_pv": liability * d,
            "backstop_pv": backstop * d,
            "shortfall_pv": (shortfall - recovered) * d,
            "runoff_pv": runoff * d,
            "share_total": np.where(nobody, 0.0, due),
            "platform_result": net,
            "reserve_pv": reserve_draw * d,
        }
        _put(totals, K.TOTAL_VARS, added, live, add=True)
    _put(totals, K.TOTAL_VARS, {"log_weight": log_weight, "cost_martingale": martingale})
