"""The Dask runner on a LocalCluster of 2 single-threaded workers against threaded simulate.

Both at 10^5 paths of ``xianghubao.toml`` over 1 year; the Datasets must be identical.
"""

import time

import pytest
import xarray as xr
from distributed import Client, LocalCluster

from benchmarks.figures import CpuTimed
from engine.distributed import simulate_dask
from engine.scenario import load_scenario
from engine.simulate import simulate

SCENARIO = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 1})
PATHS = 100_000
RUNS: dict[str, xr.Dataset] = {}


@pytest.fixture(scope="module")
def client():
    simulate(SCENARIO, paths=64)  # compiled and cached before the workers load it
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        simulate_dask(SCENARIO, paths=64, scheduler=c)  # workers import and load the JIT
        yield c


def test_threaded(benchmark, record):
    timed = CpuTimed(simulate)
    ds = benchmark.pedantic(timed, args=(SCENARIO, PATHS), rounds=3, iterations=1)
    RUNS["threaded"] = ds
    record(f"threaded {PATHS}", timed, paths=PATHS)


def test_dask(benchmark, record, client):
    kwargs = {"paths": PATHS, "scheduler": client}
    ds = benchmark.pedantic(simulate_dask, args=(SCENARIO,), kwargs=kwargs, rounds=3, iterations=1)
    threaded = RUNS.get("threaded")
    if threaded is None:
        threaded = simulate(SCENARIO, PATHS)
    a, b = ds.copy(), threaded.copy()
    del a.attrs["created"], b.attrs["created"]
    identical = a.identical(b)
    record(f"dask {PATHS}", paths=PATHS, workers=2, identical=identical)
    xr.testing.assert_identical(a, b)


def test_dask_starting_its_cluster(note):
    began = time.perf_counter()
    simulate_dask(SCENARIO, paths=PATHS, scheduler="local", n_workers=2)
    note(f"dask cold {PATHS}", best_s=time.perf_counter() - began, paths=PATHS, workers=2)
