"""Spawned seeds: a SeedSequence's children give different runs, recorded and replayed.

Bug it guards: keeping only a SeedSequence's entropy and dropping its spawn key, which makes
``ss.spawn(2)[0]`` and ``ss.spawn(2)[1]`` give the same paths in every entry point.
"""

import numpy as np
import pytest

from engine.io import rerun, save
from engine.policy import capital
from engine.simulate import resolve, simulate
from engine.sweep import sweep
from engine.tail import simulate_tail
from tests.conftest import make_scenario

SCENARIO = make_scenario("kangai", 20_000, run={"paths": 8, "years": 0.5})


def _children() -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(12345).spawn(2)


def test_resolve_records_entropy_and_spawn_key() -> None:
    a, b = (resolve(SCENARIO, seed=ss).run for ss in _children())
    assert (a.seed, a.spawn_key) == (12345, (0,))
    assert (b.seed, b.spawn_key) == (12345, (1,))
    # an integer seed is a root seed: no spawn key left over from before
    assert resolve(resolve(SCENARIO, seed=_children()[1]), seed=7).run.spawn_key == ()


def test_a_root_sequence_equals_its_integer_seed() -> None:
    a = simulate(SCENARIO, seed=np.random.SeedSequence(99), threads=1)
    b = simulate(SCENARIO, seed=99, threads=1)
    np.testing.assert_array_equal(a["liability_pv"].values, b["liability_pv"].values)


def test_siblings_differ_in_simulate_sweep_capital_and_tail() -> None:
    first, second = _children()
    runs = [simulate(SCENARIO, seed=ss, threads=1)["claims"].values for ss in (first, second)]
    assert not np.array_equal(*runs)
    # the child's key is numpy's own: generate_state of the spawned sequence
    again = simulate(SCENARIO, seed=np.random.SeedSequence(12345, spawn_key=(0,)), threads=1)
    np.testing.assert_array_equal(again["claims"].values, runs[0])
    grids = [sweep(SCENARIO, {"claims.payment_lag": [0]}, paths=8, seed=ss) for ss in _children()]
    assert not np.array_equal(grids[0]["liability_pv"].values, grids[1]["liability_pv"].values)
    caps = [capital(SCENARIO, paths=8, seed=ss, horizon_years=0.25) for ss in _children()]
    assert caps[0].loc["mean", "estimate"] != caps[1].loc["mean", "estimate"]
    tails = [simulate_tail(SCENARIO, 0.9, paths=8, seed=ss, threads=1)[0] for ss in _children()]
    assert not np.array_equal(tails[0]["log_weight"].values, tails[1]["log_weight"].values)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_rerun_reproduces_a_spawned_seed(tmp_path, suffix) -> None:
    child = _children()[1]
    ds = simulate(SCENARIO, seed=child, threads=1)
    assert ds.attrs["seed"] == "12345" and ds.attrs["spawn_key"] == "[1]"
    again = rerun(save(ds, tmp_path / f"run{suffix}"))
    np.testing.assert_array_equal(again["claims"].values, ds["claims"].values)
    root = simulate(SCENARIO, seed=12345, threads=1)
    assert not np.array_equal(root["claims"].values, ds["claims"].values)
