"""The plan presets: the published terms, validated."""

import pytest

from engine.plans import PLANS, get_plan


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
