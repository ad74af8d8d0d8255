"""The presets as plain data (what the light commands read) against the validated plans."""

import numpy as np
import pytest

from engine.plans import PLANS, Plan
from engine.presets import PRESETS, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_holds_every_field_and_validates_unchanged(name: str) -> None:
    """Red if a preset misses a field (the light reading would lack it), holds a value that
    validation coerces or refuses, or a field is added to ``Plan`` but not to the data."""
    assert set(PRESETS[name]) == set(Plan.model_fields)
    assert Plan.model_validate(PRESETS[name]).model_dump() == PRESETS[name]


@pytest.mark.parametrize("name", list(PRESETS))
def test_light_preset_reads_like_the_validated_plan(name: str) -> None:
    """Red if the light object and the model part ways: a tier's own fee or prepayment lost,
    bands not clipped to the plan's ages, a per-case fee tier dropped."""
    light, plan = preset(name), PLANS[name]
    assert light.waiting_periods == plan.waiting_periods
    for tier in plan.tiers:
        np.testing.assert_array_equal(light.benefit_by_age(tier), plan.benefit_by_age(tier))
        np.testing.assert_array_equal(light.case_cost_by_age(tier), plan.case_cost_by_age(tier))
        assert light.tier_prepayment(tier) == plan.tier_prepayment(tier)
        assert light.tier_fee(tier).per_member_month == plan.tier_fee(tier).per_member_month


def test_light_preset_has_the_published_terms() -> None:
    """Hand-read terms (docs/model.md): 相互宝 300,000 to 39 and 100,000 from 40, 8% fee;
    夸克联盟's 500k tier has its own 2.5 yuan a month and 90 yuan prepaid."""
    xhb = preset("xianghubao")
    cost = xhb.case_cost_by_age("standard")
    assert (cost[39], cost[40], cost[60]) == (324_000, 108_000, 0)
    kuake = preset("kuake")
    assert kuake.tier_prepayment("500k") == 90 and kuake.tier_fee("500k").per_member_month == 2.5
    assert kuake.tier_prepayment("300k") == 30
    with pytest.raises(KeyError, match="valid plans: xianghubao"):
        preset("nope")
    with pytest.raises(KeyError, match="valid: 300k, 500k"):
        kuake.tier("gold")
