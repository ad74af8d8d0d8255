"""Sweeps: labelled grid dims, each point equal to a direct run, the same on a cluster."""

import json

import numpy as np
import pytest
import xarray as xr
from distributed import Client, LocalCluster

from engine.scenario import ScenarioError
from engine.simulate import simulate
from engine.sweep import replace_fields, sweep
from tests.conftest import make_scenario

BASE = make_scenario(members=1_000_000, deduction={"failure_rate": 0.01})
GRID = {"population.members": [1_000_000, 5_000_000], "plan.cap_per_case": [0.1, np.inf]}


def per_period_means(ds: xr.Dataset) -> xr.Dataset:
    return ds[["claims", "share_post"]].mean("path")


@pytest.fixture(scope="module")
def grid_run() -> xr.Dataset:
    return sweep(BASE, GRID, paths=30, seed=5)


def test_dims_coords_and_attrs(grid_run):
    ds = grid_run
    assert dict(ds.sizes) == {"members": 2, "cap_per_case": 2, "path": 30}
    assert ds.members.values.tolist() == [1_000_000, 5_000_000]
    assert ds.cap_per_case.values.tolist() == [0.1, np.inf]
    assert ds.members.attrs["field"] == "population.members"
    assert ds.cap_per_case.attrs["field"] == "plan.cap_per_case"
    assert "period" not in ds.dims and ds.liability_pv.dims == ("members", "cap_per_case", "path")
    assert json.loads(ds.attrs["scenario"]) == json.loads(BASE.model_dump_json()) | {
        "run": json.loads(BASE.model_dump_json())["run"] | {"paths": 30, "seed": 5}
    }
    assert json.loads(ds.attrs["grid"]) == {
        "population.members": [1_000_000, 5_000_000],
        "plan.cap_per_case": [0.1, float("inf")],
    }
    assert ds.attrs["seed"] == "5" and ds.liability_pv.attrs["units"] == "yuan"


@pytest.mark.parametrize("members", GRID["population.members"])
@pytest.mark.parametrize("cap", GRID["plan.cap_per_case"])
def test_each_point_is_a_direct_run(grid_run, members, cap):
    point = grid_run.sel(members=members, cap_per_case=cap, drop=True)
    scenario = BASE.replace(population={"members": members}, plan={"cap_per_case": cap})
    direct = simulate(scenario, paths=30, seed=5).drop_dims("period")
    point.attrs, direct.attrs = {}, {}
    xr.testing.assert_identical(point, direct)


def test_common_random_numbers_without_a_seed():
    ds = sweep(BASE, {"discount_rate": [0.0, 0.05]}, paths=20)
    totals = ds.share_total.values  # undiscounted: the same draws give the same totals
    np.testing.assert_array_equal(totals[0], totals[1])
    assert (ds.liability_pv.sel(discount_rate=0.05) <= ds.liability_pv.sel(discount_rate=0.0)).all()
    assert int(ds.attrs["seed"]) >= 0


def test_reduce_keeps_what_the_caller_asks_for():
    ds = sweep(
        BASE, {"incidence.multiplier": [0.5, 1.0]}, paths=40, seed=2, reduce=per_period_means
    )
    assert ds.claims.dims == ("multiplier", "period") and ds.sizes["period"] == 24
    low, high = ds.claims.sum("period").values
    assert 1.5 < high / low < 2.5


def test_reduce_that_keeps_a_dim_name_is_refused():
    with pytest.raises(ValueError, match="named like grid dims: members"):
        sweep(BASE, {"population.members": [10, 20]}, paths=2, seed=1, reduce=lambda d: d)


def test_cluster_sweep_matches_in_process():
    simulate(BASE, paths=2)  # compiled (and cached) here before the workers need it
    reduce = per_period_means
    here = sweep(BASE, GRID, paths=25, seed=9, reduce=reduce)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        there = sweep(BASE, GRID, paths=25, seed=9, reduce=reduce, scheduler=client)
    del here.attrs["created"], there.attrs["created"]
    xr.testing.assert_identical(here, there)


def test_all_grid_problems_at_once():
    grid = {
        "population.members": [-1, 10],
        "plan.nope": [1],
        "nope.x": [1],
        "run.seed": [1, 2],
        "incidence.multiplier": [],
    }
    with pytest.raises(ScenarioError) as info:
        sweep(BASE, grid, paths=2, seed=1)
    text = str(info.value)
    for part in (
        "population.members: Input should be greater than or equal to 0 (got -1)",
        "plan.nope: unknown field 'nope'",
        "nope.x: 'nope' is not a section",
        "run.seed: cannot be swept",
        "incidence.multiplier: expected a non-empty sequence",
    ):
        assert part in text


def test_clashing_dim_names():
    with pytest.raises(ScenarioError, match="dim name 'members' clashes"):
        sweep(BASE, {"population.members": [1], "plan.members": [2]}, paths=2, seed=1)


def test_replace_fields_top_level_and_numpy_values():
    s = replace_fields(BASE, {"discount_rate": np.float64(0.01), "population.members": np.int64(7)})
    assert s.discount_rate == 0.01 and s.population.members == 7
    assert isinstance(s.population.members, int)
