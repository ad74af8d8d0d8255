"""Extreme sizes: 0, 1, 10^9 and 10^10 members; no incidence and certain incidence; one
period and 50 years; a single path; caps of 0 and infinity; the strongest tilt. Every case
gives a correct, documented result, members add up exactly and money is conserved
(``engine.checks.check_result``)."""

import math
import warnings
from typing import Any

import numpy as np
import pytest

from engine.results import closure_summary, summary
from engine.scenario import ScenarioError
from engine.scenario_inputs import initial_members, tenures
from tests.conftest import make_scenario
from tests.inputs import TILT_LIMIT, assert_members_accounted, run


def test_zero_members_nothing_happens() -> None:
    ds = run(members=0, growth={"curve": "none"})
    for name in ("members", "claims", "cases_paid", "sharing"):
        assert (ds[name] == 0).all(), name
    for name in ("benefits", "fees", "share_pre", "share_post", "backstop", "liability_pv"):
        assert (ds[name] == 0).all(), name
    assert (ds["closure_period"] == -1).all()


def test_zero_members_close_at_once_under_the_plans_minimum() -> None:
    ds = run(members=0, termination={"min_members": None})
    assert (ds["closure_period"] == 0).all()
    assert (ds["liability_pv"] == 0).all()
    assert closure_summary(ds).loc[1, "probability"] == 1.0


def test_one_member_claims_at_most_once_and_the_platform_pays_it_alone() -> None:
    """A lone member who claims leaves; the case is shared among nobody the next period,
    so the platform pays all of it (cap backstop)."""
    ds = run(members=1, plan={"min_age": 31}, incidence={"multiplier": 1000}, paths=20)
    assert (ds["claims"].sum("period") == 1).all()  # certain illness at ages >= 31
    assert (ds["claims"].isel(period=0) == 1).all() and (ds["members"] == 0).all()
    due = ds.isel(period=1)
    assert (due["cases_paid"] == 1).all() and (due["sharing"] == 0).all()
    cost = due["benefits"] + due["fees"]
    np.testing.assert_array_equal(due["backstop"], cost)
    assert (due["members_paid"] == 0).all() and (due["share_post"] == 0).all()
    assert_members_accounted(ds, 1)


def test_one_member_who_stays_healthy() -> None:
    ds = run(members=1, paths=200)
    assert (ds["members"] <= 1).all() and (ds["claims"].sum("period") <= 1).all()
    assert_members_accounted(ds, 1)


@pytest.mark.parametrize("members", [10**9, 10**10])
@pytest.mark.parametrize("preset", ["xianghubao", "shuidi", "kangai"])
def test_billions_of_members_exact_counts_and_conserved_money(preset: str, members: int) -> None:
    ds = run(
        preset=preset,
        members=members,
        paths=3,
        exits={"base_rate": 0.1, "mortality": True},
        growth={"curve": "constant", "joiners": 1e9},
    )
    assert_members_accounted(ds, members)
    assert (ds["members"] > 0).all() and (ds["claims"] > 0).all()
    sharing = ds["sharing"].isel(period=slice(1, None))
    cost = (ds["benefits"] + ds["fees"]).isel(period=slice(1, None))
    if preset == "xianghubao":  # fees are a proportion of the benefit: cost / N is share_pre
        np.testing.assert_allclose(ds["share_pre"].isel(period=slice(1, None)) * sharing, cost)
        assert (ds["backstop"] == 0).all()  # 324,000 / 10^9 is far below the 0.1 cap
    if preset == "shuidi":
        assert (ds["prepay_pool"] > 0).all()


def test_a_billion_members_give_the_expected_share() -> None:
    """At 10^9 members the Monte Carlo share is close to its expectation (law of large
    numbers): members' yearly payments land within 1% of each other across paths."""
    ds = run(members=10**9, paths=4)
    yearly = ds["share_total"].values
    assert np.ptp(yearly) < 0.01 * yearly.mean()


def test_zero_incidence_means_no_claims_and_no_liability() -> None:
    ds = run(incidence={"multiplier": 0}, deduction={"failure_rate": 0.05})
    assert (ds["claims"] == 0).all() and (ds["benefits"] == 0).all()
    assert (ds["backstop"] == 0).all() and (ds["share_post"] == 0).all()
    assert (ds["liability_pv"] == 0).all()  # failures on nothing due cost nothing


def test_certain_incidence_every_eligible_member_claims_at_once() -> None:
    """multiplier 1000 makes q k >= 1 at every age from 31 (q >= 0.001 there): the hazard is
    infinite and every eligible member claims in the first period; the waiting ones do not."""
    kwargs: dict[str, Any] = {
        "members": 100_000,
        "plan": {"min_age": 31},
        "incidence": {"multiplier": 1000},
        "population": {"waiting_share": 0.5},
    }
    scenario = make_scenario(**kwargs)
    n_elig = tenures(scenario)[1]
    eligible0 = int(initial_members(scenario)[:n_elig].sum())
    assert 49_000 < eligible0 < 51_000  # about half wait
    ds = run(**kwargs, paths=5)
    first = ds.isel(period=0)
    assert (first["claims"] == eligible0).all() and (first["approved"] == eligible0).all()
    assert (first["members"] == 100_000 - eligible0).all()  # claimants leave
    assert_members_accounted(ds, 100_000)
    due = ds.isel(period=1)
    assert (due["cases_paid"] == eligible0).all()
    np.testing.assert_allclose(
        due["members_paid"] + due["backstop"], due["benefits"] + due["fees"], rtol=1e-12
    )


def test_certain_incidence_at_all_ages_of_a_standard_plan() -> None:
    """With ages 0-59, the young (q below 0.001) claim at a finite rate: not all claim."""
    ds = run(incidence={"multiplier": 1000}, paths=3)
    assert (ds["claims"].isel(period=0) < 100_000).all()
    assert (ds["claims"].isel(period=0) > 30_000).all()


@pytest.mark.parametrize("years", [0.03, 1 / 24])
def test_horizon_of_one_period(years: float) -> None:
    ds = run(run={"years": years}, paths=2)
    assert ds.sizes["period"] == 1
    assert_members_accounted(ds, 100_000)
    assert not summary(ds).empty


def test_fifty_years() -> None:
    ds = run(run={"years": 50}, paths=2)
    assert ds.sizes["period"] == 1200
    assert str(ds["period"].values[-1])[:10] == "2070-07-15"
    assert_members_accounted(ds, 100_000)
    # no joiners or exits: all but those under 10 at the start pass 59 and leave
    assert (ds["aged_out"].sum("period") > 0.8 * 100_000).all()


def test_a_single_path() -> None:
    ds = run(paths=1)
    assert ds.sizes["path"] == 1
    table = summary(ds)
    mean = table.loc[("liability_pv", "mean")]
    assert np.isnan(mean["std_error"]) and mean["estimate"] == float(ds["liability_pv"][0])
    assert table.loc[("liability_pv", "VaR 99.5%"), "estimate"] == mean["estimate"]


def test_cap_of_zero_the_platform_pays_everything() -> None:
    ds = run(plan={"cap_per_case": 0})
    assert (ds["share_post"] == 0).all() and (ds["members_paid"] == 0).all()
    np.testing.assert_array_equal(ds["backstop"], ds["benefits"] + ds["fees"])
    assert (ds["backstop"].sum("period") > 0).all()


@pytest.mark.parametrize("cap", ["cap_per_period", "cap_per_year"])
def test_period_or_year_cap_of_zero(cap: str) -> None:
    ds = run(plan={"cap_per_case": math.inf, cap: 0})
    assert (ds["share_post"] == 0).all()
    np.testing.assert_allclose(ds["backstop"], ds["benefits"] + ds["fees"], rtol=1e-12)


def test_infinite_cap_the_members_pay_everything() -> None:
    ds = run(plan={"cap_per_case": math.inf})
    assert (ds["backstop"] == 0).all()
    np.testing.assert_allclose(ds["share_post"], ds["share_pre"], rtol=1e-12)
    np.testing.assert_allclose(ds["members_paid"], ds["benefits"] + ds["fees"], rtol=1e-12)


@pytest.mark.parametrize("sign", [1, -1])
def test_the_strongest_accepted_tilt_keeps_counts_whole(sign: int) -> None:
    """At |tilt| x the largest case cost = 15 the run is healthy: whole, non-negative counts
    and conserved money, with joiners leaving the waiting period."""
    largest = float(make_scenario().plan.case_cost_by_age("standard").max())
    tilt = sign * TILT_LIMIT / largest
    kwargs: dict[str, Any] = {"growth": {"curve": "constant", "joiners": 1000}, "paths": 2}
    ds = run(run={"tilt": tilt}, **kwargs)
    assert (ds["claims"] >= 0).all() and (ds["members"] >= 0).all()
    assert_members_accounted(ds, 100_000)
    with pytest.raises(ScenarioError, match=r"run\.tilt"):
        make_scenario(run={"tilt": math.nextafter(tilt, sign * math.inf)})


def test_warnings_are_not_raised_by_extreme_runs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(members=0, plan={"cap_per_case": 0}, incidence={"multiplier": 1000})
        run(members=1, plan={"cap_per_case": math.inf}, incidence={"multiplier": 0})


def test_the_smallest_prepayment_keeps_the_pool_finite() -> None:
    """One fen a member, the smallest prepayment accepted: top-ups stay finite counts of
    units and the pool stays finite."""
    ds = run(preset="shuidi", plan={"prepayment": 0.01}, paths=2)
    assert np.isfinite(ds["prepay_pool"]).all() and (ds["prepay_pool"] >= 0).all()
    assert (ds["prepay_pool"] > 0).any()
