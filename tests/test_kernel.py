"""The kernel against its NumPy reference, conservation of money, caps, reproducibility."""

import numba
import numpy as np
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.rng import root_key
from engine.scenario_inputs import prepare
from engine.simulate import simulate
from engine.variables import COUNT_VARS, VARIABLES
from tests.conftest import make_scenario
from tests.inputs import scaled
from tests.reference import reference_path

FLOWS = {
    "growth": {"curve": "decay", "joiners": 20_000, "half_life_years": 1, "price_elasticity": 1.0},
    "exits": {"base_rate": 0.1, "price_rate": 0.3, "mortality": True},
    "selection": {"price_sensitivity": 1.0, "audit_window_periods": 3, "window_rejection": 0.3},
    "platform": {"fixed_cost": 1e5, "cost_per_case": 500, "cost_per_joiner": 20},
}
CASES = {
    "xianghubao": make_scenario(
        members=2_000_000, deduction={"failure_rate": 0.02, "recovery_rate": 0.3}
    ),
    "lag2-audit-waiting": make_scenario(
        members=500_000,
        population={"members": 500_000, "waiting_share": 0.4, "impaired_share": 0.3},
        claims={"approval_rate": 0.9, "payment_lag": 2},
        run={"years": 2.5},
    ),
    "kangai-caps": make_scenario(
        "kangai", members=30_000, incidence={"multiplier": 5.0}, run={"years": 1.5}
    ),
    "kuake-fixed-fee-prepay": make_scenario(
        "kuake",
        members=50_000,
        plan={"tier": "500k"},
        exits={"topup_probability": 0.8},
        run={"years": 2},
    ),
    "no-waiting-share-prepay": make_scenario(
        "shuidi",
        members=80_000,
        plan={"min_balance": 1.0},
        population={"members": 80_000, "waiting_share": 0.5},
        waiting_members_share=False,
    ),
    "all-flows": make_scenario(
        members=300_000, run={"years": 2.5}, deduction={"failure_rate": 0.01}, **FLOWS
    ),
    "flows-closure-notice": make_scenario(
        "qingsong",
        members=300_000,
        termination={"min_members": 500_000, "notice_periods": 3},
        run={"years": 2},
        **FLOWS,
    ),
    "tilted": make_scenario(members=300_000, run={"years": 1, "tilt": 2e-6}),
    "tilted-notice": make_scenario(  # the notice's own tilt, in a paid and an unpaid notice
        members=300_000,
        run={"years": 1, "tilt": 1e-6, "tilt_notice": 6e-6},
        termination={"announce_on": "2021-03-01", "notice_periods": 3, "claims_rush": 1.5},
    ),
    "tilted-unpaid-notice": make_scenario(
        members=300_000,
        run={"years": 1, "tilt_notice": -4e-6},
        termination={
            "announce_on": "2021-03-01",
            "notice_periods": 2,
            "members_pay_notice": False,
        },
    ),
    "levers": make_scenario(
        members=600_000,
        run={"years": 2},
        policy={
            "reserve": 2e6,
            "reserve_trigger": 1.0,
            "reserve_rate": 0.2,
            "max_share": 4.0,
            "transfer_at_closure": True,
            "transfer_cost": 30.0,
        },
        termination={"min_members": 590_000, "notice_periods": 1},
        growth={"curve": "constant", "joiners": 4_000},
        exits={"base_rate": 0.3},
    ),
    "closure-no-notice": make_scenario(
        "meituan", members=2_000_000, termination={"min_members": 1_990_000, "notice_periods": 0}
    ),
    "world": make_scenario(  # every rule of dated closure, events, duration, trend, arrears
        members=400_000,
        run={"years": 2.5},
        population={
            "members": 400_000,
            "age_mix": {"18-29": 0.5, "30-59": 0.5},
            "waiting_share": 0.2,
            "duration_mix": (0.3, 0.3, 0.4),
        },
        incidence={"duration_factors": (0.4, 0.8, 1.0), "trend_per_year": 0.1},
        deduction={
            "failure_rate": 0.05,
            "failure_rate_sd": 0.02,
            "remove_after": 3,
            "backpay_rate": 0.4,
        },
        termination={
            "announce_on": "2022-06-20",
            "members_pay_notice": False,
            "claims_rush": 3.0,
            "notice_periods": 2,
        },
        events=[
            {
                "date": "2021-02-03",
                "set": {"exits.base_rate": 0.4, "plan.fee.rate": 0.1, "incidence.multiplier": 0.8},
            },
            {
                "date": "2021-09-01",
                "set": {
                    "growth.curve": "none",
                    "claims.approval_rate": 0.9,
                    "exits.mortality": True,
                },
            },
        ],
        **FLOWS,
    ),
    "hazard-prepay-duration": make_scenario(
        "shuidi",
        members=60_000,
        run={"years": 2},
        incidence={"duration_factors": (0.5, 1.2)},
        population={"members": 60_000, "duration_mix": (0.6, 0.4)},
        exits={"base_rate": 0.2, "topup_probability": 0.7},
        growth={"curve": "constant", "joiners": 500},
        termination={"hazard_per_year": 0.5, "notice_periods": 1, "claims_rush": 2.0},
    ),
    "arrears-never-removed": make_scenario(
        members=200_000,
        deduction={"failure_rate": 0.1, "backpay_rate": 0.5},
        termination={"announce_on": "2021-03-01", "notice_periods": 1},
        exits={"base_rate": 0.5},
    ),
    "risk-sources-unpaid-transfer": make_scenario(
        members=300_000,
        run={"years": 1.5},
        population={"members": 300_000, "waiting_share": 0.3},
        claims={"payment_lag": 2, "approval_rate": 0.9},
        incidence={
            "multiplier_sd_log": 0.3,
            "trend_sd": 0.1,
            "period_dispersion": 0.2,
            "shock_per_year": 3.0,
            "shock_size": 1.5,
        },
        termination={"hazard_per_year": 0.5, "members_pay_notice": False, "claims_rush": 2.0},
        **FLOWS,
    ),
    "removed-after-one": make_scenario(
        members=200_000, deduction={"failure_rate": 0.02, "remove_after": 1}, run={"years": 0.5}
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_equals_numpy_reference(name):
    scenario = CASES[name]
    ds = simulate(scenario, paths=3, seed=11)
    key, _ = root_key(11)
    inputs = prepare(scenario)
    for p in range(3):
        expected = reference_path(key, p, inputs, scenario)
        assert set(expected) == set(VARIABLES)  # the reference reports the whole table
        for name in VARIABLES:
            np.testing.assert_array_equal(ds[name].values[p], expected[name], err_msg=name)


def test_reference_cases_exercise_every_flow():
    ds = {name: simulate(s, paths=3, seed=11) for name, s in CASES.items()}
    flows = ds["all-flows"]
    for var in ("joiners", "exits", "deaths", "backstop", "failures"):
        assert flows[var].sum() > 0, var
    assert ds["kuake-fixed-fee-prepay"].lapses.sum() > 0
    assert ds["kuake-fixed-fee-prepay"].prepay_pool.min() > 0
    assert ds["no-waiting-share-prepay"].recovered.sum() > 0
    assert (ds["flows-closure-notice"].closure_period >= 0).all()
    assert (ds["closure-no-notice"].closure_period >= 0).all()
    assert ds["closure-no-notice"].runoff.sum() > 0
    levers = ds["levers"]
    assert levers.reserve_draw.sum() > 0 and (levers.stranded_members > 0).all()
    assert (levers.stranded_contributions > 0).all()
    world = ds["world"]
    assert (world.closure_cause == 2).all() and world.removed.sum() > 0
    assert world.arrears.max() > 0 and world.recovered.sum() > 0 and world.deaths.sum() > 0
    assert (ds["hazard-prepay-duration"].closure_cause == 3).all()
    for name in ("tilted-notice", "tilted-unpaid-notice"):  # the notice tilt was drawn with
        assert (ds[name].notice_martingale != 0).all() and (ds[name].closure_cause == 2).all()
    assert ds["hazard-prepay-duration"].lapses.sum() > 0
    assert ds["arrears-never-removed"].written_off.sum() > 0
    assert ds["removed-after-one"].removed.sum() > 0


def _check_money_and_caps(ds, scenario):
    plan = scenario.plan
    fee = plan.tier_fee(scenario.tier).per_member_month / 2
    inflow = ds.benefits + ds.fees
    # in an unpaid notice the platform pays each period's benefits and fees
    outflow = ds.members_paid + ds.backstop + ds.shortfall + ds.reserve_draw + ds.notice_paid
    np.testing.assert_allclose(outflow, inflow, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(
        ds.members_paid.where(ds.active == 1, 0.0),
        ((ds.share_post + fee) * ds.sharing - ds.shortfall).where(ds.active == 1, 0.0),
        rtol=1e-12,
        atol=1e-6,
    )
    tol, rel = 1e-12, 1 + 1e-12  # sums of per-case shares round differently from a product
    assert (ds.share_post <= plan.cap_per_period * rel + tol).all()
    assert (ds.share_post <= plan.cap_per_case * np.maximum(ds.cases_paid, 1) * rel + tol).all()
    years = ds.period.dt.year
    assert (ds.share_post.groupby(years).sum() <= plan.cap_per_year + 1e-9).all()
    assert (ds.share_post <= ds.share_pre * rel + tol).all()
    for var in COUNT_VARS:
        assert (ds[var] >= 0).all(), var
    assert (ds.backstop >= -1e-6).all() and (ds.liability >= -1e-6).all()


@pytest.mark.parametrize("name", list(CASES))
def test_money_is_conserved_and_caps_hold(name):
    scenario = CASES[name]
    _check_money_and_caps(simulate(scenario, paths=20, seed=3), scenario)


@settings(max_examples=scaled(200))  # times HUZHU_TEST_SCALE
@given(
    preset=st.sampled_from(["xianghubao", "kangai", "ehuzhu", "qingsong", "shuidi"]),
    members=st.integers(0, 5_000_000),
    cap_case=st.sampled_from([0.0, 0.01, 0.1, 3.0, float("inf")]),
    cap_period=st.sampled_from([0.0, 0.5, 3.0, float("inf")]),
    cap_year=st.sampled_from([0.0, 10.0, 72.0, float("inf")]),
    failure=st.floats(0, 1),
    multiplier=st.sampled_from([0.0, 0.5, 3.0, 1000.0]),
    flows=st.booleans(),
    min_members=st.sampled_from([0, 100_000, 3_000_000]),
)
def test_invariants_hold_for_any_plan(
    preset, members, cap_case, cap_period, cap_year, failure, multiplier, flows, min_members
):
    assume(cap_period >= cap_case or cap_case == float("inf"))
    assume(cap_year >= cap_period or cap_period == float("inf"))
    scenario = make_scenario(
        preset,
        members=members,
        plan={"cap_per_case": cap_case, "cap_per_period": cap_period, "cap_per_year": cap_year},
        incidence={"multiplier": multiplier},
        deduction={"failure_rate": failure, "recovery_rate": 0.5},
        termination={"min_members": min_members, "notice_periods": 1},
        run={"years": 1.25},
        **(FLOWS if flows else {}),
    )
    _check_money_and_caps(simulate(scenario, paths=4, seed=1), scenario)


def test_same_seed_same_dataset_and_other_seed_differs():
    scenario = CASES["xianghubao"]
    a, b = simulate(scenario, paths=8, seed=5), simulate(scenario, paths=8, seed=5)
    a.attrs.pop("created"), b.attrs.pop("created")
    xr.testing.assert_identical(a, b)
    c = simulate(scenario, paths=8, seed=6)
    assert not np.array_equal(a.claims.values, c.claims.values)


def test_threads_and_chunks_do_not_change_numbers():
    scenario = CASES["lag2-audit-waiting"]
    base = simulate(scenario, paths=24, seed=9, threads=1)
    variants = [
        simulate(scenario, paths=24, seed=9, threads=min(2, numba.config.NUMBA_NUM_THREADS)),
        simulate(scenario.replace(run={"chunk_size": 5}), paths=24, seed=9),
        simulate(scenario.replace(run={"chunk_size": 1}), paths=24, seed=9, threads=1),
    ]
    for other in variants:
        xr.testing.assert_equal(base.drop_attrs(), other.drop_attrs())


def test_more_paths_extend_fewer_and_one_path_replays_alone():
    scenario = CASES["xianghubao"]
    big = simulate(scenario, paths=12, seed=4)
    small = simulate(scenario, paths=5, seed=4)
    xr.testing.assert_equal(big.isel(path=slice(0, 5)).drop_attrs(), small.drop_attrs())
    alone = simulate(scenario, paths=1, seed=4, first_path=9)
    xr.testing.assert_equal(big.sel(path=[9]).drop_attrs(), alone.drop_attrs())


def test_hundred_million_members_are_exact_int64():
    scenario = make_scenario(members=100_000_000, run={"years": 0.5})
    ds = simulate(scenario, paths=2, seed=1)
    assert ds.members.dtype == np.int64
    first = ds.isel(period=0)
    assert (first.members + first.approved == 100_000_000).all()


def test_kernel_writes_each_output_at_its_place_in_the_table():
    # a constant of the kernel named after a variable (RUNOFF, FEES, ...) must be that
    # variable's index in its kind's layout: a phase or cause reusing a name would not be
    from engine import kernel
    from engine.variables import MONEY_VARS, PATH_INT_VARS, TABLE, TOTAL_VARS

    layouts = {"count": COUNT_VARS, "money": MONEY_VARS, "total": TOTAL_VARS}
    layouts["path"] = PATH_INT_VARS
    written = [v for v in TABLE if not v.same_as]
    assert all(hasattr(kernel, v.name.upper()) for v in written)
    for v in written:
        assert getattr(kernel, v.name.upper()) == layouts[v.kind].index(v.name), v.name


def test_the_notice_tilt_moves_only_the_notice_periods():
    # red when the notice's tilt is applied while open, or not at all in the notice
    scenario = CASES["tilted-notice"].replace(run={"tilt": 0.0})
    plain = simulate(scenario.replace(run={"tilt_notice": 0.0}), paths=20, seed=12)
    tilted = simulate(scenario, paths=20, seed=12)
    closed = int(plain.closure_period.values[0])
    notice = slice(closed + 1, closed + 1 + scenario.termination.notice_periods)
    assert (tilted.closure_period.values == closed).all()
    np.testing.assert_array_equal(
        tilted.claims.values[:, : closed + 1], plain.claims.values[:, : closed + 1]
    )
    assert tilted.claims.values[:, notice].sum() > 1.2 * plain.claims.values[:, notice].sum()
    assert (tilted.log_weight != 0).all() and (plain.log_weight == 0).all()
