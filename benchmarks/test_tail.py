"""Variance reduction of importance sampling and control variates, measured in this run.

Importance sampling: P(S > x) for a static 相互宝 pool of 200,000 members (about 9 claims a
period) at thresholds with exact tail probabilities near 1e-4 and 1e-6, over repeated
seeds. The factor is plain Monte Carlo's variance ``p (1 - p) / n`` (exact ``p``) over the
variance of the importance-sampling estimates across the seeds; the mean reported standard
error is set against that spread (a sane error estimate gives a ratio near 1).

Control variates: the cost martingale on 美团互助 over a year (membership flows), and on
the 3-yuan period-cap backstop of a static 康爱公社 pool; the factor is
``std_error^2 / cv_std_error^2`` from ``engine.tail.control_variate``.
"""

import numpy as np
import pytest

from engine import exact
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import load_scenario, scenario_from_dict
from engine.simulate import simulate
from engine.tail import choose_tilt, control_variate, simulate_tail, tail_estimates

STATIC = {
    "claims": {"payment_lag": 0, "claimants_leave": False},
    "run": {"years": 1 / PERIODS_PER_YEAR},
}
PATHS = 2000
SEEDS = 20


def _static(preset, members, **sections):
    """A one-period static pool: nobody leaves, cases are shared in the period they occur."""
    data = {"plan": {"preset": preset}, "population": {"members": members}, **STATIC}
    return scenario_from_dict({**data, "termination": {"min_members": 0}, **sections})


@pytest.fixture(scope="module", autouse=True)
def _warm():
    simulate(_static("xianghubao", 1000), paths=2)


@pytest.mark.parametrize("target", [1e-4, 1e-6])
def test_importance_sampling(benchmark, target):
    pool = _static("xianghubao", 200_000)
    dist = exact.compound_poisson(*exact.pool_severity(pool), method="panjer")
    sf = np.array([dist.sf(k * dist.unit) for k in range(dist.pmf.size - 1)])
    k = int(np.argmin(np.abs(np.log(np.maximum(sf, 1e-300) / target))))
    x, truth = (k + 0.5) * dist.unit, float(sf[k])
    tilted = pool.replace(run={"tilt": choose_tilt(pool, x)})
    label = f"P(>{x:g})"

    def estimate(seed):
        ds = simulate(tilted, paths=PATHS, seed=seed)
        return tail_estimates(ds, "period_cost", thresholds=(x,)).loc[label]

    benchmark.pedantic(estimate, args=(0,), rounds=3, iterations=1)
    rows = [estimate(seed) for seed in range(1, SEEDS + 1)]
    p = np.array([r.estimate for r in rows])
    se = np.array([r.std_error for r in rows])
    plain_var = truth * (1 - truth) / PATHS
    info = {
        "target": target,
        "exact_p": truth,
        "mean_estimate": float(p.mean()),
        "spread_of_estimates": float(p.std(ddof=1)),
        "mean_reported_se": float(se.mean()),
        "se_sanity_ratio": float(se.mean() / p.std(ddof=1)),
        "plain_mc_se": float(np.sqrt(plain_var)),
        "variance_reduction": float(plain_var / p.var(ddof=1)),
        "variance_reduction_from_reported_se": float(plain_var / np.mean(se**2)),
        "coverage_2se": float(np.mean(np.abs(p - truth) <= 2 * se)),
    }
    benchmark.extra_info.update(info)
    print(f"\nIS at {target:g}: " + ", ".join(f"{k} {v:.4g}" for k, v in info.items()))


def test_control_variates(benchmark):
    meituan = load_scenario("scenarios/meituan.toml").replace(run={"years": 1})
    ds = benchmark.pedantic(simulate, args=(meituan, 300, 5), rounds=1, iterations=1)
    kangai = _static("kangai", 30_000)
    plain = simulate(kangai, paths=PATHS, seed=6)
    tail_pool = _static("kangai", 1_000_000, incidence={"multiplier": 0.1})
    tilted = simulate(
        tail_pool.replace(run={"tilt": choose_tilt(tail_pool, 0.0, "backstop")}),
        paths=PATHS,
        seed=7,
    )
    is_mean = tail_estimates(tilted, "backstop").loc["mean"]
    info = {
        **{
            f"meituan {name}": float(control_variate(ds, name).iloc[0].variance_reduction)
            for name in ("period_cost", "liability_pv", "share_total", "platform_result")
        },
        "kangai 30k backstop": float(control_variate(plain, "backstop").iloc[0].variance_reduction),
        "kangai tail backstop, IS": float((is_mean.plain_std_error / is_mean.std_error) ** 2),
        "kangai tail backstop, IS then CV": float(
            control_variate(tilted, "backstop").iloc[0].variance_reduction
        ),
    }
    benchmark.extra_info.update(info)
    print("\nvariance reduction: " + ", ".join(f"{k} {v:.3g}" for k, v in info.items()))


def test_simulate_tail(benchmark):
    meituan = load_scenario("scenarios/meituan.toml").replace(run={"years": 1})
    _, table = benchmark.pedantic(
        simulate_tail,
        args=(meituan, 0.995, 300, 8),
        kwargs={"pilot_paths": 100},
        rounds=1,
        iterations=1,
    )
    info = {
        f"{var} {stat}": float(
            (table.loc[(var, stat), "plain_std_error"] / table.loc[(var, stat), "std_error"]) ** 2
        )
        for var in ("period_cost", "liability_pv")
        for stat in ("VaR 99.5%", "TVaR 99.5%")
    }
    benchmark.extra_info.update(info)
    print(
        "\nsimulate_tail variance reduction: " + ", ".join(f"{k} {v:.3g}" for k, v in info.items())
    )
