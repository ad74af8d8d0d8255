"""The memory check before a full-mode run, and the dates a run may cover.

Bugs it guards: a memory check that reads only the machine's memory (a run that cannot fit
under ``ulimit -v`` or a container's cgroup limit starts and dies later), one that raises
where ``os.sysconf`` does not exist (Windows), and start dates outside what nanosecond
timestamps hold accepted, to fail only when the result is written.
"""

import datetime as dt
import importlib
import resource

import pytest

from engine.scenario import ScenarioError, scenario_from_dict
from tests.conftest import make_scenario

sim = importlib.import_module("engine.simulate")  # the module, not the function

GIB = 2**30
RUN = make_scenario("kangai", 1000, run={"paths": 20_000, "years": 10})  # ~1.5 GiB full


def _need(scenario) -> float:
    per_path = scenario.periods * (len(sim.COUNT_VARS) + len(sim.MONEY_VARS)) * 8
    return 2 * scenario.run.paths * per_path


def test_the_address_space_limit_is_honoured(monkeypatch):
    monkeypatch.setattr(sim, "CGROUP_LIMITS", ())
    monkeypatch.setattr(resource, "getrlimit", lambda _: (int(_need(RUN)), resource.RLIM_INFINITY))
    with pytest.raises(ValueError, match=r"ulimit -v.*--mode streaming"):
        sim._check_memory(RUN)
    monkeypatch.setattr(resource, "getrlimit", lambda _: (int(2 * _need(RUN)), -1))
    sim._check_memory(RUN)  # fits in 80% of twice the need


def test_the_cgroup_limit_is_honoured(monkeypatch, tmp_path):
    limit = tmp_path / "memory.max"
    limit.write_text(f"{int(_need(RUN))}\n")
    monkeypatch.setattr(sim, "CGROUP_LIMITS", (tmp_path / "absent", limit))
    with pytest.raises(ValueError, match="the cgroup memory limit"):
        sim._check_memory(RUN)
    limit.write_text("max\n")
    sim._check_memory(RUN)
    assert sim.memory_limit() is not None and "cgroup" not in sim.memory_limit()[1]


def test_no_sysconf_falls_back(monkeypatch):
    def missing(name):
        raise ValueError(f"unrecognized configuration name {name!r}")

    monkeypatch.setattr(sim.os, "sysconf", missing)
    monkeypatch.setattr(sim, "CGROUP_LIMITS", ())
    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY,) * 2)
    assert sim.memory_limit() is None
    sim._check_memory(RUN)  # nothing to check against: the run goes ahead
    monkeypatch.delattr(sim.os, "sysconf")
    assert sim.memory_limit() is None


@pytest.mark.parametrize(
    ("start", "years"),
    [("1677-12-31", 1), ("1500-01-01", 1), ("2262-01-01", 1), ("2255-06-01", 10)],
)
def test_start_dates_outside_the_timestamp_range_are_refused_at_load(start, years):
    data = {"plan": {"preset": "kangai"}, "population": {"members": 1000}}
    with pytest.raises(ScenarioError, match=r"start .* is outside the dates results can hold"):
        scenario_from_dict({**data, "run": {"start": start, "years": years}})


def test_the_edges_of_the_range_run_and_save(tmp_path):
    from engine.io import open_result, save
    from engine.simulate import simulate

    for start in (dt.date(1678, 1, 1), dt.date(2252, 3, 1)):
        scenario = make_scenario("kangai", 1000, run={"paths": 2, "years": 10, "start": start})
        ds = open_result(save(simulate(scenario), tmp_path / f"{start.year}.nc"))
        assert str(ds["period"].values[0])[:10] == str(start)
