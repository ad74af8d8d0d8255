"""Bundled tables, plan presets and the deterministic expected cost."""

import numpy as np
import pytest

from engine.expected import hazard, member_share, pool_cost
from engine.plans import PLANS, get_plan
from engine.tables import MANIFEST, age_mix, incidence, incidence_by_sex


def test_tables_load_by_name_and_check_values():
    assert {"CI1", "CI2", "CI3", "CI4"} <= set(MANIFEST)
    for name in ("CI1", "CI2", "CI3", "CI4"):
        q = incidence(name)
        assert q.shape == (106,) and (q > 0).all() and (q < 1).all()
    assert incidence("CI3")[35] == 0.001396
    assert incidence("CI4")[0] == 0.000815
    assert incidence("CI4")[60] > incidence("CI4")[30]
    np.testing.assert_array_equal(incidence_by_sex("ci25")[1], incidence("CI4"))


def test_unknown_table_lists_valid_names():
    with pytest.raises(KeyError, match="valid names: CI1, CI2, CI3, CI4"):
        incidence("CI9")
    with pytest.raises(KeyError, match="ci6, ci25"):
        incidence_by_sex("ci99")


def test_age_mix_follows_cnnic_bands():
    mix = age_mix("cnnic44")
    assert mix.sum() == pytest.approx(1.0)
    assert mix[20:30].sum() == pytest.approx(0.246)
    assert mix[30:40].sum() == pytest.approx(0.237)
    assert mix[10:50].sum() == pytest.approx(0.824)  # 65.1 + 17.3; docs/model.md rounds to 82.5


def test_every_platform_has_a_preset():
    assert set(PLANS) == {
        "xianghubao",
        "shuidi",
        "qingsong",
        "meituan",
        "ehuzhu",
        "kangai",
        "bihu",
        "huzhu360",
        "kuake",
        "denghuo",
    }
    xhb = get_plan("xianghubao")
    assert set(xhb.tiers) == {"standard", "entry"}
    b = xhb.benefit_by_age("standard")
    assert (b[0], b[39], b[40], b[59], b[60]) == (300_000, 300_000, 100_000, 100_000, 0)
    e = xhb.benefit_by_age("entry")
    assert (e[39], e[40]) == (100_000, 50_000)
    assert xhb.cap_per_case == 0.1 and xhb.min_members == 3_240_000 and xhb.waiting_periods == 6
    kangai = get_plan("kangai")
    assert (kangai.cap_per_period, kangai.cap_per_year, kangai.waiting_periods) == (3.0, 72.0, 24)
    assert kangai.fee.case_fee(15_000) == 0 and kangai.fee.case_fee(30_000) == 500
    assert kangai.fee.case_fee(80_000) == 1_000 and kangai.fee.case_fee(150_000) == 1_500
    assert kangai.fee.case_cost(150_000) == pytest.approx(151_500 * 1.01)
    kuake = get_plan("kuake")
    assert kuake.tier_prepayment("300k") == 30 and kuake.tier_prepayment("500k") == 90
    assert kuake.tier_fee("500k").per_member_month == 2.5
    assert get_plan("ehuzhu").fee.per_member_month == 1.0
    assert get_plan("denghuo").min_members == 500_000
    assert get_plan("qingsong").min_members == 200_000 and get_plan("qingsong").fee.rate == 0.06
    with pytest.raises(KeyError, match="valid plans: xianghubao"):
        get_plan("nope")
    with pytest.raises(KeyError, match="valid: standard, entry"):
        xhb.tier("gold")


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
