"""The world as it happened: dated and random closure with an unpaid notice, dated changes,
age mixes, duration factors, trend and arrears, each against an exact answer."""

import math

import numpy as np
import pytest

from engine.expected import hazard as annual_to_hazard
from engine.kernel_inputs import PAR
from engine.scenario import ScenarioError
from engine.scenario_inputs import mean_age, period_dates, period_of, prepare
from engine.simulate import simulate
from engine.tables import incidence_by_sex
from tests.conftest import make_scenario

YOUNG = {"18-35": 1.0}  # every member below 40 for three years: one benefit, 300,000 yuan


def _same_until(a, b, last):
    for var in a.data_vars:  # exit_cost looks ahead to the wind-down rules that differ
        if "period" in a[var].dims and var != "exit_cost":
            np.testing.assert_array_equal(
                a[var].values[:, : last + 1], b[var].values[:, : last + 1], err_msg=var
            )


def test_announce_on_closes_every_path_and_the_platform_pays_the_notice_in_full():
    # bug caught: closure in the wrong period, members still charged in notice, fees left
    # out of the platform's payment, run-off of pending claims lost or double counted
    scenario = make_scenario(
        members=300_000,
        population={"members": 300_000, "age_mix": YOUNG},
        run={"years": 2},
        deduction={"failure_rate": 0.02},
        growth={"curve": "constant", "joiners": 2_000, "age_mix": YOUNG},
        termination={"announce_on": "2021-12-28", "members_pay_notice": False,
                     "notice_periods": 2},
    )  # fmt: skip
    ds = simulate(scenario, paths=8, seed=3)
    announced = 2 * (12 * 1 + 4) + 1  # 2021-12-15 is period 33 of a run from 2020-08-01
    assert period_of(period_dates("2020-08-01", 48), "2021-12-28") == announced
    assert (ds.closure_period == announced).all() and (ds.closure_cause == 2).all()
    notice = slice(announced + 1, announced + 3)
    after = ds.isel(period=slice(announced + 1, None))
    assert (after.share_post == 0).all() and (after.members_paid == 0).all()
    rows = ds.isel(period=notice)
    assert (rows.benefits > 0).all() and (rows.sharing > 0).all()
    np.testing.assert_array_equal(rows.liability, rows.benefits + rows.fees)
    np.testing.assert_array_equal(rows.notice_paid, rows.liability)
    assert (ds.notice_paid.sum("period") == rows.notice_paid.sum("period")).all()
    # open periods: what members paid plus the platform's part is benefits + fees
    open_ = ds.isel(period=slice(0, announced + 1))
    np.testing.assert_allclose(
        open_.members_paid + open_.backstop + open_.shortfall,
        open_.benefits + open_.fees,
        rtol=1e-12,
    )
    # the period after the notice pays the claims approved in the last notice period
    runoff = ds.isel(period=announced + 3)
    np.testing.assert_array_equal(
        runoff.liability, 300_000 * ds.approved.isel(period=announced + 2)
    )
    assert (ds.isel(period=slice(announced + 4, None)).liability == 0).all()
    # every approved claim is paid once: shared, paid in notice, or in the run-off
    np.testing.assert_array_equal(ds.benefits.sum("period") + runoff.liability,
                                  300_000 * ds.approved.sum("period"))  # fmt: skip
    np.testing.assert_array_equal(ds.benefits, 300_000 * ds.cases_paid)


def test_by_default_members_stop_sharing_at_the_announcement():
    # bug caught: the default notice rule changed (members_pay_notice = true is the old rule)
    s = make_scenario(members=100_000, termination={"announce_on": "2020-12-01"})
    ds = simulate(s, paths=2, seed=1)
    notice = ds.isel(period=slice(9, 11))
    assert (ds.closure_period == 8).all()
    assert (notice.sharing == 0).all() and (notice.benefits == 0).all()
    assert (notice.runoff > 0).all() and (ds.active.isel(period=slice(9, None)) == 0).all()


def test_claims_rush_multiplies_notice_claims():
    # bug caught: the rush applied outside the notice, or not at all
    base = make_scenario(
        members=2_000_000,
        claims={"claimants_leave": False},
        termination={"announce_on": "2020-10-01", "notice_periods": 6},
    )
    rush = base.replace(termination={"claims_rush": 3.0})
    a, b = simulate(base, paths=20, seed=5), simulate(rush, paths=20, seed=5)
    _same_until(a, b, 4)
    notice = slice(5, 11)
    ratio = b.claims.isel(period=notice).sum() / a.claims.isel(period=notice).sum()
    se = 3.0 * math.sqrt(
        1 / a.claims.isel(period=notice).sum() + 1 / (3 * a.claims.isel(period=notice).sum())
    )
    assert abs(float(ratio) - 3.0) < 4 * se


def test_closure_hazard_gives_geometric_closure_times_independent_of_claims():
    # bug caught: per-period probability 1-(1-p)^(1/24) wrong, closure drawn from a claims
    # stream (paths would differ before the closure), hazard_from ignored
    p, paths = 0.2, 4000
    s = make_scenario(
        members=2_000,
        run={"years": 3},
        termination={"hazard_per_year": p, "notice_periods": 1},
    )
    ds = simulate(s, paths=paths, seed=9)
    closed = ds.closure_period.values
    assert (ds.closure_cause.values[closed >= 0] == 3).all()
    for y in (1, 2, 3):
        expected = 1 - (1 - p) ** y
        got = np.mean((closed >= 0) & (closed < 24 * y))
        assert abs(got - expected) < 4 * math.sqrt(expected * (1 - expected) / paths), y
    later = s.replace(termination={"hazard_from": "2021-08-01"})
    closed = simulate(later, paths=400, seed=9).closure_period.values
    assert closed.max() >= 24 and closed[closed >= 0].min() >= 24


def test_paths_are_identical_until_the_outside_closure():
    # bug caught: the hazard draw shifts the claims, deduction or flow streams
    flows = {"exits": {"base_rate": 0.2}, "growth": {"curve": "constant", "joiners": 300},
             "deduction": {"failure_rate": 0.05}, "run": {"years": 2}}  # fmt: skip
    base = make_scenario(members=50_000, **flows)
    risky = base.replace(termination={"hazard_per_year": 0.5})
    a, b = simulate(base, paths=12, seed=4), simulate(risky, paths=12, seed=4)
    closed = b.closure_period.values
    assert (closed >= 0).sum() >= 6
    for path in range(12):
        last = closed[path] if closed[path] >= 0 else 47
        _same_until(a.isel(path=[path]), b.isel(path=[path]), last)


def test_a_fee_change_moves_fees_from_its_period_on():
    # bug caught: the event applied a period early or late, or not to the fee
    base = make_scenario(members=500_000, run={"years": 1})
    changed = base.replace(events=[{"date": "2020-12-20", "set": {"plan.fee.rate": 0.2}}])
    a, b = simulate(base, paths=4, seed=2), simulate(changed, paths=4, seed=2)
    start = 9  # 2020-12-15
    _same_until(a, b, start - 1)
    rate = b.fees / b.benefits
    np.testing.assert_allclose(rate.isel(period=slice(1, start)), 0.08, rtol=1e-12)
    np.testing.assert_allclose(rate.isel(period=slice(start, None)), 0.2, rtol=1e-12)


def test_an_exit_rate_step_moves_exits_to_the_new_hazard():
    # bug caught: per-regime exit arrays not used, exits switched on for no regime
    s = make_scenario(
        members=400_000,
        run={"years": 1},
        events=[{"date": "2021-02-01", "set": {"exits.base_rate": 0.25}}],
    )
    ds = simulate(s, paths=10, seed=8)
    assert (ds.exits.isel(period=slice(0, 12)) == 0).all()
    exits = ds.exits.isel(period=slice(12, None)).values
    at_risk = (
        ds.members.isel(period=slice(11, -1)).values
        - ds.approved.isel(period=slice(12, None)).values
    )
    q = -math.expm1(-0.25 / 24)
    se = math.sqrt((at_risk * q * (1 - q)).sum())
    assert abs(exits.sum() - (at_risk * q).sum()) < 4 * se


def _event(day, **changes):
    return {"date": day, "set": {k.replace("__", "."): v for k, v in changes.items()}}


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([_event("2021-01-01", exits__base_rat=0.2)], r"events\[0\].set.exits.base_rat: no such"),
        ([_event("2021-01-01", claims__payment_lag=2)], r"claims.payment_lag: cannot change"),
        ([_event("2021-01-01", run__paths=2)], r"events\[0\].set.run.paths: not a field"),
        (
            [_event("2021-01-01", exits__base_rate=1), _event("2021-02-01", exits__base_rate=-1)],
            r"events\[1\]: exits.base_rate: Input should be greater than or equal to 0",
        ),
        ([_event("2019-01-01", exits__base_rate=0.1)], r"events\[0\].date: 2019-01-01 is before"),
    ],
)
def test_bad_events_name_the_event_and_the_field(events, message):
    # bug caught: a bad change accepted, or an error that does not say which event
    with pytest.raises(ScenarioError, match=message) as err:
        make_scenario(events=events)
    assert "\n" not in str(err.value)


MIX_344 = {"18-29": 0.40, "30-39": 0.29, "40-49": 0.19, "50-59": 0.12}
"""Mean age 23.5 x 0.40 + 34.5 x 0.29 + 44.5 x 0.19 + 54.5 x 0.12 = 34.4 (by hand)."""


def test_an_inline_age_mix_gives_its_mean_age(tmp_path):
    # bug caught: bands spread over the wrong ages (off by one at a band's end), weights
    # not normalised, the CSV read differently from the same inline bands
    members = 1_000_000
    s = make_scenario(members=members, population={"members": members, "age_mix": MIX_344})
    assert abs(mean_age(s) - 34.4) < 2 * 106 * 59 / members  # within the allocation
    rows = ["age,weight"] + [
        f"{age},{w / (int(b.split('-')[1]) - int(b.split('-')[0]) + 1)!r}"
        for b, w in MIX_344.items()
        for age in range(int(b.split("-")[0]), int(b.split("-")[1]) + 1)
    ]
    (tmp_path / "mix.csv").write_text("\n".join(rows))
    csv = make_scenario(
        members=members, population={"members": members, "age_mix": str(tmp_path / "mix.csv")}
    )
    np.testing.assert_allclose(prepare(csv).members0, prepare(s).members0, atol=1)


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"18-29": 0.5, "30-39": 0.4}, r"population.age_mix: weights sum to 0.9, not 1"),
        ({"18-29": 0.5, "60-69": 0.5}, r"0.5 of the weight lies outside the plan's ages 0-59"),
        ({"18-x": 1.0}, r"band '18-x' is not 'age' or 'low-high'"),
        ("cnnic99", r"population.age_mix: .cnnic99. is unknown; valid: cnnic44"),
        ("missing.csv", r"cannot read the age-mix file missing.csv"),
    ],
)
def test_bad_age_mixes_give_one_line_errors(mix, message):
    with pytest.raises(ScenarioError, match=message) as err:
        make_scenario(population={"members": 10, "age_mix": mix})
    assert "\n" not in str(err.value)


FACTORS = (0.4, 0.8, 1.0)


def test_duration_factors_give_claims_by_policy_year():
    # bug caught: slots that do not advance, a factor a year off, the last factor not
    # applied past the select period, starting durations spread over the wrong periods
    per_slot = 100_000
    s = make_scenario(
        plan={"waiting_days": 0},
        members=24 * per_slot,
        population={"members": 24 * per_slot, "age_mix": {"30": 1.0}, "male_share": 1.0,
                    "duration_mix": (1.0, 0.0, 0.0)},
        incidence={"duration_factors": FACTORS},
        claims={"claimants_leave": False},
        run={"years": 3},
    )  # fmt: skip
    paths = 10
    claims = simulate(s, paths=paths, seed=6).claims.values.sum(axis=0)
    q = incidence_by_sex("ci25")[0] * 0.5
    for year in range(3):
        expected = 0.0
        for t in range(24 * year, 24 * (year + 1)):
            h = annual_to_hazard(q[30 + t // 24])
            expected += per_slot * h * sum(FACTORS[min((j + t) // 24, 2)] for j in range(24))
        got = claims[24 * year : 24 * (year + 1)].sum()
        assert abs(got - paths * expected) < 4 * math.sqrt(paths * expected), year


def test_duration_factors_of_one_change_nothing():
    # bug caught: duration tracking that draws from the claims or flow streams
    flows = {"exits": {"base_rate": 0.3, "mortality": True}, "run": {"years": 2.5},
             "growth": {"curve": "constant", "joiners": 3000}, "deduction": {"failure_rate": 0.01},
             "population": {"members": 200_000, "waiting_share": 0.3}}  # fmt: skip
    base = make_scenario(members=200_000, **flows)
    ones = base.replace(
        incidence={"duration_factors": (1.0, 1.0, 1.0)},
        population={"duration_mix": (0.3, 0.3, 0.4)},
    )
    assert prepare(ones).durations0.sum() > 0
    a, b = simulate(base, paths=4, seed=12), simulate(ones, paths=4, seed=12)
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)


def test_trend_scales_incidence_by_years_since_start():
    # bug caught: trend compounding per period instead of per year, or from period 1
    base = make_scenario(members=5_000_000, claims={"claimants_leave": False}, run={"years": 2})
    trend = base.replace(incidence={"trend_per_year": 0.5})
    a, b = simulate(base, paths=4, seed=1), simulate(trend, paths=4, seed=1)
    np.testing.assert_array_equal(a.claims.isel(period=0), b.claims.isel(period=0))
    factor = 1.5 ** (np.arange(48) / 24)
    np.testing.assert_allclose(prepare(trend).table()[:, PAR["incidence"]], factor, rtol=1e-15)
    late = slice(36, 48)
    ratio = b.claims.isel(period=late).sum() / a.claims.isel(period=late).sum()
    assert abs(float(ratio) - factor[late].mean()) < 4 * float(ratio) * math.sqrt(
        1 / a.claims.isel(period=late).sum() + 1 / b.claims.isel(period=late).sum()
    )


def test_arrears_are_bounded_and_removals_match_their_expectation():
    # bug caught: arrears that accumulate for ever, removal after the wrong count, removed
    # members left in the plan, money lost between advance, back-payment and write-off
    rate = 0.1
    s = make_scenario(
        members=100_000,
        population={"members": 100_000, "age_mix": YOUNG},
        claims={"claimants_leave": False},
        deduction={"failure_rate": rate, "remove_after": 2, "backpay_rate": 0.0},
    )
    ds = simulate(s, paths=10, seed=21)
    shortfall = ds.shortfall.values
    two = shortfall + np.pad(shortfall[:, :-1], ((0, 0), (1, 0)))
    assert (ds.arrears.values <= two * (1 + 1e-12)).all()
    held = ds.failures.values[:, :-1] - ds.removed.values[:, :-1]
    removed = ds.removed.values[:, 1:]
    assert removed.sum() > 0
    assert abs(removed.sum() - rate * held.sum()) < 4 * math.sqrt(rate * (1 - rate) * held.sum())
    members = 100_000 - ds.removed.cumsum("period")
    np.testing.assert_array_equal(ds.members, members)
    advanced = (ds.shortfall - ds.recovered).cumsum("period")
    np.testing.assert_allclose(advanced, ds.arrears + ds.written_off.cumsum("period"), rtol=1e-9)


def test_back_payments_recover_arrears():
    # bug caught: back-payments not recorded as recovered, or recovered twice
    s = make_scenario(members=100_000, claims={"claimants_leave": False},
                      deduction={"failure_rate": 0.1, "backpay_rate": 0.5})  # fmt: skip
    ds = simulate(s, paths=4, seed=2)
    assert ds.recovered.sum() > 0 and ds.removed.sum() == 0
    advanced = (ds.shortfall - ds.recovered).cumsum("period")
    np.testing.assert_allclose(advanced, ds.arrears + ds.written_off.cumsum("period"), rtol=1e-9)
    # members in arrears who pay: half pay the arrears back (one period's share each)
    paid_back = ds.recovered.values[:, 1:].sum()
    owed = ds.arrears.values[:, :-1].sum() * (1 - 0.1)
    assert abs(paid_back / owed - 0.5) < 0.02


def test_failure_waves_have_the_stated_spread():
    # bug caught: the beta's parameters wrong (spread or mean off), draws from the
    # deduction stream
    s = make_scenario(members=1_000_000, deduction={"failure_rate": 0.05,
                                                     "failure_rate_sd": 0.02})  # fmt: skip
    ds = simulate(s, paths=40, seed=3)
    rate = (ds.failures / ds.sharing).values.ravel()
    n = rate.size
    assert abs(rate.mean() - 0.05) < 4 * 0.02 / math.sqrt(n)
    assert abs(rate.std() - 0.02) < 4 * 0.02 / math.sqrt(2 * n) + 0.0003  # binomial noise


def test_run_header_gives_the_mean_age(tmp_path, capsys):
    # bug caught: the header shows the joiners' mix or the table's mean, not the members'
    from engine.cli import main

    path = tmp_path / "s.toml"
    bands = ", ".join(f'"{band}" = {w}' for band, w in MIX_344.items())
    path.write_text(
        f'[plan]\npreset = "xianghubao"\n[population]\nmembers = 1_000_000\n'
        f'age_mix = {{ {bands} }}\n[growth]\nage_mix = {{ "18-29" = 1.0 }}\n'
    )
    assert main(["run", str(path), "--paths", "2", "--years", "0.1", "--quiet"]) == 0
    assert "1,000,000 members, mean age 34.4" in capsys.readouterr().out


def test_published_facts_are_not_an_age_mix():
    """The manifest's published facts table is refused as an age mix, by name."""
    from engine.scenario import scenario_from_dict

    data = {
        "plan": {"preset": "xianghubao"},
        "population": {"members": 1000, "age_mix": "xianghubao_published"},
    }
    with pytest.raises(
        ScenarioError, match="age_mix: 'xianghubao_published' is unknown; valid: cnnic44"
    ):
        scenario_from_dict(data)
