"""The deterministic expected cost: the 452.30-yuan worked example, pools by hand."""

import numpy as np
import pytest

from engine.expected import hazard, member_share, pool_cost
from engine.plans import get_plan
from engine.tables import incidence


def test_worked_example_is_452_30():
    share = member_share(get_plan("xianghubao"), "standard", 35, "M", multiplier=1)
    assert round(share.annual, 2) == 452.30
    assert share.annual == pytest.approx(0.001396 * 300_000 * 1.08)
    assert share.per_period == pytest.approx(-np.log(1 - 0.001396) / 24 * 324_000)


def test_member_share_rejects_bad_input():
    plan = get_plan("xianghubao")
    with pytest.raises(ValueError, match="outside plan xianghubao's ages 0-59"):
        member_share(plan, "standard", 65, "M")
    with pytest.raises(ValueError, match="sex must be one of"):
        member_share(plan, "standard", 30, "X")


def test_pool_cost_matches_hand_computation():
    plan = get_plan("xianghubao")
    pool = np.zeros((2, 106), dtype=np.int64)
    pool[0, 25], pool[1, 45], pool[0, 59] = 1_000_000, 2_000_000, 500_000
    k = 0.5
    q_m25, q_f45, q_m59 = (
        incidence("CI3")[25] * k,
        incidence("CI4")[45] * k,
        incidence("CI3")[59] * k,
    )
    annual = 1e6 * q_m25 * 324_000 + 2e6 * q_f45 * 108_000 + 5e5 * q_m59 * 108_000
    per_period = sum(
        n * -np.log(1 - q) / 24 * c
        for n, q, c in [(1e6, q_m25, 324_000), (2e6, q_f45, 108_000), (5e5, q_m59, 108_000)]
    )
    got = pool_cost(plan, "standard", pool, multiplier=k)
    assert got.members == 3_500_000
    assert got.annual_cost == pytest.approx(annual, rel=1e-12)
    assert got.cost == pytest.approx(per_period, rel=1e-12)
    assert got.share == pytest.approx(per_period / 3_500_000, rel=1e-12)


def test_hazard_is_infinite_at_certain_incidence():
    assert hazard(1.0) == np.inf and hazard(2.0) == np.inf
    assert hazard(0.0) == 0.0


def test_expected_share_per_period_is_finite_when_illness_is_certain() -> None:
    """q k >= 1 (``huzhu expected --multiplier 1000``): the yearly share is one case's cost,
    and so is the per-period share, at most one claim per member a period."""
    from engine.expected import member_share
    from engine.plans import get_plan

    s = member_share(get_plan("xianghubao"), "standard", 35, "M", multiplier=1000)
    assert s.annual == pytest.approx(324_000)
    assert s.per_period == s.case_cost == pytest.approx(324_000)
    usual = member_share(get_plan("xianghubao"), "standard", 35, "M")
    assert 0 < usual.per_period < usual.annual / 23
