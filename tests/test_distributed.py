"""The Dask runner gives exactly ``simulate``'s Dataset, on any cluster and chunking."""

import socket

import numpy as np
import pytest
import xarray as xr
from distributed import Client, LocalCluster

from engine.distributed import scheduler_address, simulate_dask
from engine.simulate import simulate
from tests.conftest import make_scenario

SCENARIO = make_scenario(members=2_000_000, deduction={"failure_rate": 0.02})


def same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Identical but for the creation time."""
    a, b = a.copy(), b.copy()
    del a.attrs["created"], b.attrs["created"]
    xr.testing.assert_identical(a, b)


@pytest.fixture(scope="module")
def client():
    simulate(SCENARIO, paths=2)  # compiled (and cached) here before the workers need it
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.mark.parametrize("chunk_size", [1, 16, 45, 1024])
def test_client_matches_simulate(client, chunk_size):
    scenario = SCENARIO.replace(run={"chunk_size": chunk_size})
    paths = 12 if chunk_size == 1 else 90
    done = []
    ds = simulate_dask(
        scenario, paths, seed=7, first_path=3, scheduler=client, progress=done.append
    )
    same(ds, simulate(scenario, paths, seed=7, first_path=3))
    assert sum(done) == paths and len(done) == -(-paths // chunk_size)
    assert client.status == "running"  # a Client passed in is left open


def test_address_matches_simulate(client):
    address = client.scheduler.address
    ds = simulate_dask(SCENARIO, 40, seed=3, years=0.5, scheduler=address)
    same(ds, simulate(SCENARIO, 40, seed=3, years=0.5))


def test_local_cluster_matches_simulate():
    scenario = SCENARIO.replace(run={"chunk_size": 25})
    ds = simulate_dask(scenario, 60, seed=11, scheduler="local", n_workers=2)
    same(ds, simulate(scenario, 60, seed=11))


def test_seed_none_is_recorded(client):
    ds = simulate_dask(SCENARIO, 5, scheduler=client)
    replay = simulate(SCENARIO, 5, seed=int(ds.attrs["seed"]))
    xr.testing.assert_equal(ds, replay)


def test_spawned_siblings_differ_and_each_replays_its_local_run():
    """Bug it guards: a worker keeping a SeedSequence's entropy but not its spawn key, so
    that ``spawn(2)``'s children give the same paths (or not those of ``simulate``)."""
    children = np.random.SeedSequence(2024).spawn(2)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        runs = [simulate_dask(SCENARIO, 6, seed=ss, years=0.25, scheduler=c) for ss in children]
    assert not np.array_equal(runs[0].claims.values, runs[1].claims.values)
    for child, ds in zip(children, runs, strict=True):
        same(ds, simulate(SCENARIO, 6, seed=child, years=0.25))
        assert ds.attrs["spawn_key"] == str(list(child.spawn_key))


@pytest.mark.parametrize(
    "address, match",
    [
        ("tcp://", "missing port"),
        ("lcoal", "missing port"),
        ("http://host:8786", "unknown protocol 'http'"),
        ("tcp://host:0", "outside 1..65535"),
        (8786, "expected 'local', an address"),
    ],
)
def test_malformed_address(address, match):
    with pytest.raises(ValueError, match=match):
        simulate_dask(SCENARIO, 2, seed=1, scheduler=address)


def test_address_gets_a_protocol():
    assert scheduler_address("10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert scheduler_address("tls://[::1]:8786") == "tls://[::1]:8786"


def test_unreachable_scheduler():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(ValueError, match=f"no scheduler answered at '{address}' within 0.5 s"):
        simulate_dask(SCENARIO, 2, seed=1, scheduler=address, timeout=0.5)
