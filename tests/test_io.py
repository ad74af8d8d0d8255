"""Saving and reading results (netCDF, Zarr), atomic writes, reruns and the progress bar."""

import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xarray as xr

from engine import io as result_io
from engine.cli import main
from engine.io import differences, open_result, rerun, save, scenario_of, to_netcdf
from engine.progress import progress_bar
from engine.results import summary
from engine.scenario import scenario_from_dict
from engine.simulate import simulate

SUFFIXES = (".nc", ".zarr")


@pytest.fixture(scope="module")
def run() -> xr.Dataset:
    """A small run of 康爱公社 (finite per-period and yearly caps, infinite per-case cap)
    with joiners and exits, starting at path 5 so that ``first_path`` is exercised."""
    scenario = scenario_from_dict(
        {
            "name": "io-test",
            "plan": {"preset": "kangai"},
            "population": {"members": 300_000, "impaired_share": 0.05},
            "deduction": {"failure_rate": 0.01, "recovery_rate": 0.5},
            "growth": {"curve": "constant", "joiners": 900},
            "exits": {"base_rate": 0.15},
            "termination": {"min_members": 274_000},
            "run": {"years": 1},
        }
    )
    return simulate(scenario, paths=24, seed=7, first_path=5)


def _open_raw(path: Path) -> xr.Dataset:
    if path.suffix == ".zarr":
        return xr.open_zarr(path, decode_times=False)
    return xr.open_dataset(path, engine="h5netcdf", decode_times=False)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_every_value_and_the_summary(
    run: xr.Dataset, tmp_path: Path, suffix: str
) -> None:
    path = save(run, tmp_path / f"run{suffix}")
    assert path == tmp_path / f"run{suffix}"
    back = open_result(path)
    assert differences(run, back) == []
    assert back["period"].dtype == run["period"].dtype
    pd.testing.assert_frame_equal(summary(back), summary(run))
    for name in run.data_vars:
        assert back[name].attrs == run[name].attrs
    assert {k: back.attrs[k] for k in run.attrs} == run.attrs
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_files_follow_cf_and_open_with_plain_xarray(
    run: xr.Dataset, tmp_path: Path, suffix: str
) -> None:
    path = save(run, tmp_path / f"run{suffix}")
    opened = xr.open_zarr(path) if suffix == ".zarr" else xr.open_dataset(path, engine="h5netcdf")
    with opened:
        xr.testing.assert_equal(opened.load(), run)
    with _open_raw(path) as raw:
        assert raw.attrs["Conventions"] == "CF-1.10"
        for name, var in raw.variables.items():
            assert var.attrs.get("units"), name
            assert var.attrs.get("long_name"), name
        period = raw["period"].attrs
        assert period["standard_name"] == "time"
        assert period["calendar"] == "proleptic_gregorian"
        assert period["units"] == "days since 2020-08-01"
        assert raw["period"].values[:3].tolist() == [0, 14, 31]


def test_rerun_reproduces_the_run_exactly(run: xr.Dataset, tmp_path: Path) -> None:
    for suffix in SUFFIXES:
        path = save(run, tmp_path / f"run{suffix}")
        again = rerun(path)
        assert again["path"].values.tolist() == list(range(5, 29))
        xr.testing.assert_identical(again.assign_attrs(created=""), run.assign_attrs(created=""))


def test_saving_does_not_change_the_dataset(run: xr.Dataset, tmp_path: Path) -> None:
    before = run.copy(deep=True)
    save(run, tmp_path / "a.nc")
    xr.testing.assert_identical(run, before)
    assert "Conventions" not in run.attrs


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_interrupted_write_leaves_nothing_under_the_final_name(
    run: xr.Dataset, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = "_write_zarr" if suffix == ".zarr" else "_write_netcdf"
    real = getattr(result_io, writer)
    started: list[Path] = []

    def half_then_fail(ds: xr.Dataset, target: Path) -> None:
        started.append(target)
        real(ds[["members", "claims"]], target)  # part of the data is on disk
        assert target.exists()
        raise OSError("disk full")

    monkeypatch.setattr(result_io, writer, half_then_fail)
    final = tmp_path / f"run{suffix}"
    with pytest.raises(OSError, match="disk full"):
        save(run, final)
    assert started and started[0].parent == tmp_path and started[0].name != final.name
    assert list(tmp_path.iterdir()) == []

    # a failed overwrite keeps the old result intact
    monkeypatch.setattr(result_io, writer, real)
    save(run, final)
    monkeypatch.setattr(result_io, writer, half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save(run.isel(path=slice(0, 3)), final)
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
    assert differences(open_result(final), run) == []


def test_interrupted_to_netcdf(
    run: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(ds: xr.Dataset, target: Path) -> None:
        target.write_bytes(b"\x89HDF partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(result_io, "_write_netcdf", fail)
    with pytest.raises(KeyboardInterrupt):
        to_netcdf(run, tmp_path / "run.nc")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_a_zarr_store(run: xr.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "run.zarr"
    save(run.isel(path=slice(0, 2)), path)
    save(run, path)
    assert open_result(path).sizes["path"] == run.sizes["path"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.zarr"]


def test_to_netcdf_still_writes_netcdf(run: xr.Dataset, tmp_path: Path) -> None:
    path = to_netcdf(run, tmp_path / "run.h5")
    assert differences(open_result(path), run) == []


def test_unknown_suffix_lists_the_formats(run: xr.Dataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown result format '\.csv'; valid: \.nc .*\.zarr"):
        save(run, tmp_path / "run.csv")


def _without(
    run: xr.Dataset, *, attrs: tuple[str, ...] = (), variables: tuple[str, ...] = ()
) -> xr.Dataset:
    ds = run.drop_vars(list(variables))
    ds.attrs = {k: v for k, v in run.attrs.items() if k not in attrs}
    return ds


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p, run: p.write_text("hello\n"), "not a netCDF-4 file"),
        (lambda p, run: p.write_bytes(b""), "not a netCDF-4 file"),
        (lambda p, run: (p.mkdir(), (p / "x").write_text("x")), "not a Zarr store"),
        (
            lambda p, run: _without(run, attrs=("seed", "scenario")).to_netcdf(
                p, engine="h5netcdf"
            ),
            "attribute 'scenario' missing; attribute 'seed' missing",
        ),
        (
            lambda p, run: _without(run, variables=("liability_pv",)).to_zarr(
                p, zarr_format=2, consolidated=True
            ),
            "variable 'liability_pv' missing",
        ),
        (
            lambda p, run: run.assign_attrs(scenario="[1, 2]").to_netcdf(p, engine="h5netcdf"),
            "attribute 'scenario' is not a scenario's JSON",
        ),
        (
            lambda p, run: xr.Dataset({"x": ("t", [1, 2])}).to_netcdf(p, engine="h5netcdf"),
            "attribute 'scenario' missing",
        ),
    ],
)
def test_open_result_rejects_what_is_not_a_result(
    run: xr.Dataset, tmp_path: Path, make: Any, why: str
) -> None:
    path = tmp_path / "thing.zarr" if "Zarr" in why or "variable" in why else tmp_path / "x.nc"
    make(path, run)
    with pytest.raises(ValueError, match="is not a huzhu result") as caught:
        open_result(path)
    assert why in str(caught.value)
    assert str(path) in str(caught.value)


def test_open_result_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_result(tmp_path / "nothing.nc")


def test_scenario_of_reads_infinite_caps_either_way(run: xr.Dataset) -> None:
    assert scenario_of(run).model_dump_json() == run.attrs["scenario"]
    data = json.loads(run.attrs["scenario"])
    for spelling in (None, math.inf):
        data["plan"]["cap_per_case"] = spelling
        text = json.dumps(data)  # json writes math.inf as Infinity
        scenario = scenario_of(run.assign_attrs(scenario=text))
        assert scenario.plan.cap_per_case == math.inf
        assert scenario.plan.cap_per_period == 3.0


def test_rerun_refuses_a_sweep(run: xr.Dataset, tmp_path: Path) -> None:
    swept = xr.concat([run[["liability_pv"]]] * 2, dim="members").assign_coords(
        members=("members", [1, 2], {"field": "population.members"})
    )
    swept.attrs = run.attrs
    path = save(swept, tmp_path / "sweep.nc")
    with pytest.raises(ValueError, match="rerun needs a single run; this result is swept over"):
        rerun(path)


def test_cli_rerun(run: xr.Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save(run, tmp_path / "run.nc")
    out = tmp_path / "again.zarr"
    assert main(["rerun", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "variables identical" in printed
    assert differences(open_result(out), run) == []

    tampered = run.copy(deep=True)
    tampered["claims"][0, 0] += 1
    bad = save(tampered, tmp_path / "tampered.nc")
    assert main(["rerun", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: the rerun of {bad} differs in: claims\n"

    junk = tmp_path / "junk.nc"
    junk.write_text("x")
    assert main(["rerun", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {junk} is not a huzhu result") and err.count("\n") == 1


# --- progress bar ---------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    terminal = FakeTerminal()
    with progress_bar(60, file=terminal) as advance:
        for _ in range(3):
            advance(20)
    text = terminal.getvalue()
    assert "60/60" in text and "paths" in text and "paths/s" in text


def test_progress_bar_with_simulate(monkeypatch: pytest.MonkeyPatch, run: xr.Dataset) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    terminal = FakeTerminal()
    scenario = scenario_of(run).replace(run={"chunk_size": 5})
    with progress_bar(12, file=terminal) as advance:
        simulate(scenario, paths=12, progress=advance)
    assert "12/12" in terminal.getvalue()


def test_progress_bar_silent_when_quiet_or_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal, pipe = FakeTerminal(), io.StringIO()
    with progress_bar(10, quiet=True, file=terminal) as advance:
        advance(10)
    with progress_bar(10, file=pipe) as advance:
        advance(10)
    with progress_bar(10) as advance:  # stderr, captured by pytest: not a terminal
        advance(10)
    assert terminal.getvalue() == "" and pipe.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_progress_bar_treats_a_closed_stream_as_no_terminal() -> None:
    stream = io.StringIO()
    stream.close()  # isatty() raises ValueError
    with progress_bar(5, file=stream) as advance:
        advance(5)
