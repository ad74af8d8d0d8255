"""Fairness by cohort (engine.cohorts): the deterministic cohort survival follows the kernel's
inputs period by period.

With a flat incidence and one benefit band every member pays exactly for their own risk, so
the fairness ratio (expected benefits / expected net shares) is 1 for every cohort whatever
the incidence does over time. The shares come from the simulated paths; the benefits from
``_survival``. Bug it guards: a survival calculation that reads the starting parameters only
(no incidence trend, no mean shock, no dated change of the approval rate), which leaves the
benefits where they started while the simulated shares move (ratio far from 1).
"""

import numpy as np
import pytest

from engine.cohorts import fairness, with_incidence
from engine.plans import PERIODS_PER_YEAR
from engine.scenario_inputs import prepare
from tests.conftest import make_scenario

ONE_BAND = {
    "cap_per_case": float("inf"),
    "tiers": {"standard": {"bands": [{"min_age": 0, "max_age": 105, "benefit": 300_000}]}},
}
CHANGES = {
    "trend and shocks": {
        "incidence": {"trend_per_year": 1.0, "shock_per_year": 12, "shock_size": 1.0}
    },
    "dated approval rate": {
        "events": [{"date": "2020-07-01", "set": {"claims.approval_rate": 0.4}}],
        "run": {"start": "2020-01-01"},
    },
}


@pytest.mark.parametrize("changes", CHANGES.values(), ids=list(CHANGES))
def test_fairness_is_one_for_every_cohort_when_incidence_or_approval_move(changes):
    scenario = make_scenario(
        members=200_000,
        plan=ONE_BAND,
        population={"waiting_share": 0.0},
        claims={"payment_lag": 0},
        **{k: v for k, v in changes.items() if k != "run"},
        run={"years": 1, **changes.get("run", {})},
    )
    table = fairness(scenario, paths=100, seed=8, annual_incidence=0.002)
    z = (table.ratio - 1) / table.ratio_se
    assert (z.abs() < 4).all(), z.describe()


def test_with_incidence_replaces_the_hazard_of_every_regime():
    """Bug it guards: the dated changes' regimes keeping the table's hazard."""
    scenario = make_scenario(
        events=[{"date": "2020-07-01", "set": {"incidence.multiplier": 2.0}}],
        run={"start": "2020-01-01", "years": 1},
    )
    assert len(prepare(scenario).later) == 1
    inputs = with_incidence(scenario, 0.002)
    hazard = inputs.stacked("hazard")
    np.testing.assert_array_equal(hazard[1], hazard[0])
    assert hazard[0, 0, 30, 0] == pytest.approx(-np.log1p(-0.002) / PERIODS_PER_YEAR, rel=1e-12)
