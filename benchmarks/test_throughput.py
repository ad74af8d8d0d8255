"""Kernel throughput in cohort-period draws per second (JIT warmed first)."""

import numpy as np
import pytest

from engine.scenario import load_scenario
from engine.simulate import prepare, simulate

SCENARIO = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 1})


@pytest.fixture(scope="module", autouse=True)
def _warm():
    simulate(SCENARIO, paths=2)


@pytest.mark.parametrize("paths", [1_000, 10_000])
def test_kernel_throughput(benchmark, paths):
    cohorts = int(np.count_nonzero(prepare(SCENARIO).members0[0]))
    benchmark.pedantic(simulate, args=(SCENARIO, paths), rounds=3, iterations=1)
    draws = paths * SCENARIO.periods * cohorts
    median = benchmark.stats.stats.median
    benchmark.extra_info["cohort_period_draws_per_s"] = draws / median
    print(f"\n{paths} paths: {draws / median / 1e6:.1f} million cohort-period draws/s")
