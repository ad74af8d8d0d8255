"""Extreme sizes and I/O failures: every case gives a correct, documented result or a clear
error, and money is conserved in every run (``engine.checks.check_result``).

Sizes: 0, 1, 10^9 and 10^10 members; no incidence and certain incidence; horizons shorter
than a period (refused) and of 50 years; a single path; caps of 0 and infinity; every bounded
scenario field at both of its bounds (and beyond them); the strongest tilt; a run too large
for memory. Command line: out-of-range ``--paths``, ``--years``, ``--seed``, ``--threads``,
``--tail-target``, ``--out`` and ``plot --dpi``. I/O: a missing folder, a folder that refuses
writes, a full disk; no partial file is ever left under the final name, and a failed write
names the file asked for.
"""

import contextlib
import errno
import importlib
import io
import math
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import annotated_types as at
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import engine.cli
import engine.cli.run
import engine.io
from engine.checks import check_finite, check_result
from engine.plans import Fee
from engine.results import closure_summary, summary
from engine.scenario import Scenario, ScenarioError, scenario_from_dict
from engine.simulate import simulate
from tests.conftest import make_scenario

SIM = importlib.import_module("engine.simulate")  # `engine.simulate` is the function
ROOT = Path(__file__).resolve().parents[1]
SCENARIO = str(ROOT / "scenarios" / "xianghubao.toml")

LEAVING = ("approved", "exits", "deaths", "lapses", "aged_out")


def assert_members_accounted(ds: xr.Dataset, start: int) -> None:
    """Exact integer accounting on every path and period of an open plan:
    members = start + joiners - approved claimants - exits - deaths - lapses - aged out."""
    flows = ds["joiners"] - sum(ds[name] for name in LEAVING)
    expected = start + flows.cumsum("period")
    assert ds["members"].dtype == np.int64
    np.testing.assert_array_equal(ds["members"].values, expected.values)
    np.testing.assert_array_equal(ds["members"], ds["eligible"] + ds["waiting"])


def run(**kwargs: Any) -> xr.Dataset:
    """Simulate ``make_scenario(**kwargs)`` and check its numerical health."""
    paths = kwargs.pop("paths", None)
    ds = simulate(make_scenario(**kwargs), paths=paths)
    check_result(ds)
    return ds


# --------------------------------------------------------------------------- membership


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


# --------------------------------------------------------------------------- incidence


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
    n_elig = SIM.tenures(scenario)[1]
    eligible0 = int(SIM.initial_members(scenario)[:n_elig].sum())
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


# --------------------------------------------------------------------------- horizons


@pytest.mark.parametrize("years", [0, 0.01, 1 / 48 - 1e-9])
def test_horizon_shorter_than_a_period_is_refused(years: float) -> None:
    """A horizon that rounds to 0 periods holds nothing to simulate: refused, in the scenario
    and as a ``simulate`` override."""
    message = f"run.years: {years:g} holds no period; at least 1/24 of a year"
    with pytest.raises(ScenarioError) as info:
        make_scenario(run={"years": years})
    assert info.value.problems == [message]
    with pytest.raises(ScenarioError) as info:
        simulate(make_scenario(), paths=2, years=years)
    assert info.value.problems == [message]


@pytest.mark.parametrize("years", [0.03, 1 / 24])
def test_horizon_of_one_period(years: float) -> None:
    ds = run(run={"years": years}, paths=2)
    assert ds.sizes["period"] == 1
    assert_members_accounted(ds, 100_000)
    assert not summary(ds).empty


@pytest.mark.parametrize("years", ["0", "0.01"])
def test_horizon_shorter_than_a_period_at_the_cli(years: str) -> None:
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = cli(["run", SCENARIO, "--paths", "2", "--years", years])
    assert (code, out) == (2, "")
    assert err == (
        f"error: scenario: run.years: {float(years):g} holds no period; at least 1/24 of a year\n"
    )


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


# --------------------------------------------------------------------------- caps


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


def test_infinite_cap_in_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[plan]\npreset = "xianghubao"\ncap_per_case = inf\n[population]\nmembers = 1000\n'
    )
    code, _, err = cli(["run", str(path), "--paths", "2", "--years", "0.5"])
    assert code == 0, err


# --------------------------------------------------------------------------- every bound


def _bounded_fields() -> list[tuple[tuple[str, ...], Any, Any]]:
    """(path, lower, upper) of every scenario field with a numeric bound; an exclusive bound
    is replaced by the next float inside it."""
    fields: list[tuple[tuple[str, ...], FieldInfo]] = []
    for name, info in Scenario.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields += [((name, f), i) for f, i in model.model_fields.items()]
        else:
            fields.append(((name,), info))
    fields += [(("plan", "fee", f), i) for f, i in Fee.model_fields.items()]
    out = []
    for path, info in fields:
        lo = hi = None
        for m in info.metadata:
            if isinstance(m, at.Ge):
                lo = m.ge
            elif isinstance(m, at.Gt):
                lo = math.nextafter(float(m.gt), math.inf)  # type: ignore[arg-type]
            elif isinstance(m, at.Le):
                hi = m.le
            elif isinstance(m, at.Lt):
                hi = math.nextafter(float(m.lt), -math.inf)  # type: ignore[arg-type]
        if lo is not None or hi is not None:
            out.append((path, lo, hi))
    return out


BOUNDED = _bounded_fields()
EDGES = [
    pytest.param(path, value, id=f"{'.'.join(path)}={value:g}")
    for path, lo, hi in BOUNDED
    for value in (lo, hi)
    if value is not None
]


def _with(path: tuple[str, ...], value: Any, preset: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plan": {"preset": preset},
        "population": {"members": 100_000},
        "termination": {"min_members": 0},
        "growth": {"curve": "constant", "joiners": 1000},
        "exits": {"base_rate": 0.1, "price_rate": 0.5},
    }
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value"), EDGES)
def test_every_field_at_its_bounds_runs_or_is_refused_naming_it(
    path: tuple[str, ...], value: Any
) -> None:
    """Each bound the scenario documents, low and high, on a plan with caps and per-case fees
    (kangai) and one with prepayment (shuidi): a healthy run, or a cross-field error that
    names the field (a per-period cap below the per-case cap, say)."""
    assert len(BOUNDED) > 40
    for preset in ("kangai", "shuidi"):
        try:
            scenario = scenario_from_dict(_with(path, value, preset))
        except ScenarioError as exc:
            assert path[-1] in str(exc), exc
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_result(simulate(scenario, paths=2, years=min(scenario.run.years, 2.0)))


TILT_LIMIT = 15
"""The largest |tilt| x case cost accepted: claim rates are multiplied by at most exp(15)."""


@pytest.mark.parametrize("tilt", [3e-4, 1e-3, -1e-3])
@pytest.mark.parametrize("preset", ["xianghubao", "kangai", "shuidi"])
def test_a_tilt_too_strong_for_the_case_costs_is_refused(preset: str, tilt: float) -> None:
    """|tilt| x the largest case cost above 15 would overflow the tilted Poisson means (at
    3e-4 per yuan a 324,000-yuan case's mean is multiplied by exp(97)): refused up front."""
    with pytest.raises(ScenarioError) as info:
        make_scenario(preset=preset, run={"tilt": tilt})
    (problem,) = info.value.problems
    assert problem.startswith(f"run.tilt: {tilt:g} multiplies claim rates by exp(")
    assert problem.endswith("|tilt| x the largest case cost must be at most 15")


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


OUTSIDE = [
    pytest.param(path, value, id=f"{'.'.join(path)}={value:g}")
    for path, lo, hi in BOUNDED
    for value in (
        None if lo is None else lo - max(1.0, abs(lo)),
        None if hi is None else hi + max(1.0, abs(hi)),
    )
    if value is not None
]


@pytest.mark.parametrize(("path", "value"), OUTSIDE)
def test_every_field_beyond_its_bounds_is_refused_naming_it(
    path: tuple[str, ...], value: Any
) -> None:
    with pytest.raises(ScenarioError, match=re.escape(".".join(path))):
        scenario_from_dict(_with(path, value, "kangai"))


# --------------------------------------------------------------------------- the options


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``huzhu argv`` in process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = engine.cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_one_line(err: str) -> None:
    assert err.endswith("\n") and "\n" not in err[:-1], err
    assert "Traceback" not in err


class Simulated(Exception):
    """Raised in place of simulating: the run got past its checks."""


BAD_OPTIONS = [
    ("--paths", "0"),
    ("--paths", "-1"),
    ("--paths", str(10**20)),
    ("--paths", "many"),
    ("--years", "-1"),
    ("--years", "101"),
    ("--years", "nan"),
    ("--years", "inf"),
    ("--years", "1e308"),
    ("--years", "0"),
    ("--years", "0.01"),
    ("--seed", "-1"),
    ("--seed", "1.5"),
    ("--threads", "0"),
    ("--threads", "-1"),
    ("--threads", str(10**6)),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_bad_option_exits_2_naming_it(option: str, value: str) -> None:
    """Rejected before any path is simulated, with the option named on the last line."""
    argv = ["run", SCENARIO, "--paths", "2", "--years", "0.5", f"{option}={value}"]
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = cli(argv)
    assert code == 2, err
    assert_one_line(err.splitlines()[-1] + "\n")
    assert option.lstrip("-") in err.splitlines()[-1]
    assert out == ""


def test_huge_seed_is_accepted_and_recorded() -> None:
    seed = 10**40
    ds = simulate(make_scenario(), paths=2, seed=seed)
    assert ds.attrs["seed"] == str(seed)
    np.testing.assert_array_equal(
        ds["claims"], simulate(make_scenario(), paths=2, seed=seed).claims
    )


TOO_LARGE = re.compile(
    r"paths: 100,000,000 paths x 2400 periods need about [\d,.]+ GiB in full mode, more than "
    r"the [\d,.]+ GiB of [^:]+: use mode='streaming' \(--mode streaming\) or fewer paths"
)


def test_a_run_too_large_for_memory_is_refused_before_it_starts() -> None:
    """10^8 paths x 100 years is ~100 TB of path x period arrays; refuse it up front."""
    argv = ["run", SCENARIO, "--paths", "100000000", "--years", "100"]
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = cli(argv)
    assert (code, out) == (2, "")
    assert_one_line(err)
    assert err.startswith("error: ") and TOO_LARGE.fullmatch(err[len("error: ") : -1]), err
    with (
        mock.patch.object(SIM, "run_chunk", side_effect=Simulated),
        pytest.raises(ValueError) as info,
    ):
        simulate(make_scenario(), paths=10**8, years=100)
    assert TOO_LARGE.fullmatch(str(info.value)), info.value


def test_a_run_too_large_for_memory_is_allowed_in_streaming_mode() -> None:
    """Streaming keeps per-period statistics only: the same run gets past the check."""
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated), pytest.raises(Simulated):
        simulate(make_scenario(), paths=10**8, years=100, mode="streaming")
    argv = ["run", SCENARIO, "--paths", "100000000", "--years", "100", "--mode", "streaming"]
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated), pytest.raises(Simulated):
        cli(argv)


# --------------------------------------------------------------------------- I/O failures


def leftovers(folder: Path) -> list[str]:
    """Anything in ``folder`` (temporary files included)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@contextlib.contextmanager
def failing_writer(error: OSError, zarr: bool = False) -> Iterator[list[Path]]:
    """Make the netCDF (or Zarr) writer write part of its file, then raise ``error``."""
    targets: list[Path] = []
    name = "_write_zarr" if zarr else "_write_netcdf"
    original: Callable[..., None] = getattr(engine.io, name)

    def broken(ds: xr.Dataset, target: Path) -> None:
        targets.append(Path(target))
        if zarr:
            Path(target).mkdir()
            (Path(target) / ".zgroup").write_text("{")
        else:
            Path(target).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
        raise error

    with mock.patch.object(engine.io, name, broken):
        yield targets
    assert original is getattr(engine.io, name)


def _refuses_writes(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        probe.write_text("x")
    except PermissionError:
        return True
    probe.unlink()
    return False


RUN = ["run", SCENARIO, "--paths", "2", "--years", "0.5"]


def out_refused(target: Path) -> str:
    """``huzhu run --out target`` with simulation replaced: it must be refused first, with
    exit code 2 and one line; that line is returned."""
    with mock.patch.object(SIM, "simulate", side_effect=Simulated):
        code, out, err = cli([*RUN, "--out", str(target)])
    assert (code, out) == (2, ""), err
    assert_one_line(err)
    assert err.startswith(f"error: --out {target}: ") and ".partial" not in err
    return err


def test_out_in_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.nc"
    code, _, err = cli([*RUN, "--out", str(target)])
    assert code == 2
    assert_one_line(err)
    assert err == f"error: --out {target}: the folder {target.parent} does not exist\n"
    assert not target.exists() and not target.parent.exists()
    assert leftovers(tmp_path) == []


def test_out_in_a_missing_folder_is_refused_before_simulating(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "deeper" / "x.zarr"
    err = out_refused(target)
    assert f"the folder {target.parent} does not exist" in err
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["x.csv", "x", "x.nc.txt"])
def test_out_with_another_suffix_is_refused_before_simulating(tmp_path: Path, name: str) -> None:
    err = out_refused(tmp_path / name)
    assert err.endswith(": the name must end in .nc (netCDF) or .zarr\n")
    assert leftovers(tmp_path) == []


def test_out_is_an_existing_folder(tmp_path: Path) -> None:
    """``--out taken.nc`` where taken.nc is a folder the engine did not write: refused
    before simulating, naming the file asked for, and the folder is left alone."""
    target = tmp_path / "taken.nc"
    target.mkdir()
    code, out, err = cli([*RUN, "--out", str(target)])
    assert code == 2 and out == ""
    assert_one_line(err)
    assert err.startswith(f"error: {target} exists and is a directory this engine did not"), err
    assert ".partial" not in err
    assert leftovers(tmp_path) == ["taken.nc"] and leftovers(target) == []


def test_read_only_folder_is_refused_before_simulating(tmp_path: Path) -> None:
    """chmod 500 blocks writes, except for root: then ``os.access`` is made to answer as it
    would for anybody else."""
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "x.nc"
    folder.chmod(0o500)
    try:
        if _refuses_writes(folder):
            err = out_refused(target)
        else:  # root ignores the mode
            with mock.patch.object(engine.cli.run.os, "access", return_value=False):
                err = out_refused(target)
    finally:
        folder.chmod(0o700)
    assert err.endswith(f": the folder {folder} is not writable\n")
    assert leftovers(folder) == []


def test_folder_that_refuses_the_write_itself(tmp_path: Path) -> None:
    """A folder that passes the check but refuses the file (a read-only mount, say)."""
    target = tmp_path / "x.nc"
    denied = PermissionError(errno.EACCES, "Permission denied", str(target))
    with failing_writer(denied):
        code, out, err = cli([*RUN, "--out", str(target)])
    assert code == 1 and "wrote" not in out
    assert err == f"error: [Errno {errno.EACCES}] cannot write {target}: Permission denied\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.EIO, "Input/output error"),
    ],
    ids=["disk full", "permission", "I/O error"],
)
def test_write_failure_mid_file_leaves_nothing(tmp_path: Path, error: OSError) -> None:
    target = tmp_path / "x.nc"
    with failing_writer(error) as written:
        code, out, err = cli([*RUN, "--out", str(target)])
    assert written and written[0] != target  # it wrote to a temporary name
    assert code != 0
    assert_one_line(err)
    assert error.strerror is not None and f"cannot write {target}: {error.strerror}" in err
    assert "wrote" not in out
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"
    assert cli([*RUN, "--seed", "1", "--out", str(target)])[0] == 0
    before = target.read_bytes()
    with failing_writer(OSError(errno.ENOSPC, "No space left on device")):
        code, _, _ = cli([*RUN, "--seed", "2", "--out", str(target)])
    assert code != 0
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == ["x.nc"]


def test_disk_full_message_names_the_output_file(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"

    def name_tmp(ds: xr.Dataset, tmp: Path) -> None:
        # the operating system names the file it was writing: the temporary one
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with mock.patch.object(engine.io, "_write_netcdf", name_tmp):
        code, _, err = cli([*RUN, "--out", str(target)])
    assert code == 1
    assert err == f"error: [Errno {errno.ENOSPC}] cannot write {target}: No space left on device\n"
    assert leftovers(tmp_path) == []


def test_write_atomic_names_the_final_path(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"
    tried: list[Path] = []

    def full(tmp: Path) -> None:
        tried.append(tmp)
        tmp.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as info:
        engine.io.write_atomic(target, full)
    assert tried and tried[0] != target
    assert info.value.errno == errno.ENOSPC
    assert info.value.strerror == f"cannot write {target}: No space left on device"
    assert str(tried[0]) not in str(info.value)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_disk_full_leaves_nothing(tmp_path: Path, suffix: str) -> None:
    if not hasattr(engine.io, "save"):
        pytest.skip("engine.io.save does not exist yet")
    ds = simulate(make_scenario(), paths=2)
    target = tmp_path / f"x{suffix}"
    with (
        failing_writer(OSError(errno.ENOSPC, "No space left on device"), zarr=suffix == ".zarr"),
        pytest.raises(OSError, match="No space left"),
    ):
        engine.io.save(ds, target)
    assert leftovers(tmp_path) == []


def test_save_failed_rename_leaves_nothing(tmp_path: Path) -> None:
    if not hasattr(engine.io, "save"):
        pytest.skip("engine.io.save does not exist yet")
    ds = simulate(make_scenario(), paths=2)
    target = tmp_path / "x.nc"
    with (
        mock.patch.object(engine.io.os, "replace", side_effect=OSError(errno.EXDEV, "cross")),
        pytest.raises(OSError) as info,
    ):
        engine.io.save(ds, target)
    assert info.value.errno == errno.EXDEV
    assert info.value.strerror == f"cannot write {target}: cross"
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- check_finite


def _dataset(paths: int = 4, periods: int = 6, first_path: int = 0) -> xr.Dataset:
    dates = pd.date_range("2020-08-01", periods=periods, freq="SMS")
    rng = np.random.default_rng(1)
    return xr.Dataset(
        {
            "benefits": (("path", "period"), rng.random((paths, periods))),
            "members": (("path", "period"), np.ones((paths, periods), dtype=np.int64)),
            "liability_pv": ("path", rng.random(paths)),
        },
        coords={"path": np.arange(first_path, first_path + paths), "period": dates},
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_names_variable_path_and_period(bad: float) -> None:
    ds = _dataset()
    ds["benefits"][2, 3] = bad
    ds["benefits"][3, 0] = bad  # a later path: not the first
    with pytest.raises(ValueError) as info:
        check_finite(ds)
    message = str(info.value)
    assert f"benefits = {bad!r} at path 2, period 3 (2020-09-15) (and 1 more)" in message
    assert "liability_pv" not in message


def test_check_finite_per_path_variable_names_the_path_only() -> None:
    ds = _dataset(first_path=100)
    ds["liability_pv"][1] = np.nan
    with pytest.raises(ValueError, match=r"liability_pv = nan at path 1 \(label 101\)$"):
        check_finite(ds)


def test_check_finite_reports_every_variable_at_once() -> None:
    ds = _dataset()
    ds["benefits"][0, 5] = np.inf
    ds["liability_pv"][3] = -np.inf
    with pytest.raises(ValueError) as info:
        check_finite(ds)
    assert "benefits = inf at path 0, period 5 (2020-10-15)" in str(info.value)
    assert "liability_pv = -inf at path 3" in str(info.value)


def test_check_finite_accepts_healthy_results_and_untracked_statistics() -> None:
    check_finite(_dataset())
    check_finite(_dataset(paths=0, periods=0))
    ds = simulate(make_scenario(preset="kangai"), paths=3, mode="streaming")
    assert ds["claims"].isnull().any()  # quantiles of claims are not tracked: NaN rows
    check_finite(ds)
    check_result(ds)
    ds["share_post"].loc[{"statistic": "mean"}] = np.nan
    with pytest.raises(ValueError, match=r"share_post = nan at period 0 .*statistic 'mean'"):
        check_finite(ds)


def test_check_result_finds_broken_accounting() -> None:
    ds = simulate(make_scenario(), paths=3)
    check_result(ds)
    broken = ds.copy(deep=True)
    broken["backstop"][1, 4] += 1.0
    broken["claims"][2, 2] = -1
    with pytest.raises(ValueError) as info:
        check_result(broken)
    message = str(info.value)
    assert "negative count: claims = -1 at path 2, period 2 (2020-09-01)" in message
    assert "money conservation" in message and "path 1, period 4 (2020-10-01)" in message
    assert "liability == backstop" in message


def test_check_result_finds_a_share_above_the_cap() -> None:
    ds = simulate(make_scenario(preset="kangai"), paths=2)
    check_result(ds)
    ds["share_post"][0, 3] = 3.5
    with pytest.raises(ValueError, match="above the per-period cap 3"):
        check_result(ds)


def test_warnings_are_not_raised_by_extreme_runs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(members=0, plan={"cap_per_case": 0}, incidence={"multiplier": 1000})
        run(members=1, plan={"cap_per_case": math.inf}, incidence={"multiplier": 0})


# --------------------------------------------------------------------------- more edges


@pytest.mark.parametrize("where", ["plan", "tier"])
@pytest.mark.parametrize("prepayment", [5e-324, 0.009])
def test_a_prepayment_below_a_fen_is_refused(where: str, prepayment: float) -> None:
    """A prepayment of 5e-324 yuan made the top-up units ``ceil(short / prepay)`` infinite:
    a prepayment is 0 or at least 0.01 yuan."""
    plan: dict[str, Any] = {"prepayment": prepayment}
    if where == "tier":
        band = {"min_age": 0, "max_age": 59, "benefit": 300_000}
        plan = {"tiers": {"standard": {"bands": [band], "prepayment": prepayment}}}
    with pytest.raises(ScenarioError) as info:
        make_scenario(preset="shuidi", plan=plan)
    (problem,) = info.value.problems
    assert problem.endswith(f"prepayment: {prepayment!r} must be 0 or at least 0.01 yuan")


def test_the_smallest_prepayment_keeps_the_pool_finite() -> None:
    """One fen a member, the smallest prepayment accepted: top-ups stay finite counts of
    units and the pool stays finite."""
    ds = run(preset="shuidi", plan={"prepayment": 0.01}, paths=2)
    assert np.isfinite(ds["prepay_pool"]).all() and (ds["prepay_pool"] >= 0).all()
    assert (ds["prepay_pool"] > 0).any()


@pytest.fixture(scope="module")
def small_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved result of 2 paths and 12 periods."""
    path = tmp_path_factory.mktemp("small") / "r.nc"
    assert cli([*RUN, "--out", str(path)])[0] == 0
    return path


@pytest.mark.parametrize("value", ["0.5", "1", "0.3", "nan", "-inf"])
def test_bad_tail_target_names_the_option(value: str) -> None:
    """The tail target lies strictly between 0.5 and 1 (simulate_tail refuses 0.5 itself)."""
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = cli([*RUN, f"--tail-target={value}"])
    assert (code, out) == (2, "")
    assert err == f"error: --tail-target must be in (0.5, 1), got {float(value)}\n"


@pytest.mark.parametrize("value", ["nan", "inf", "0", "9", "1001", "-100", "many"])
def test_plot_dpi_out_of_range_names_the_option(
    small_result: Path, tmp_path: Path, value: str
) -> None:
    out = tmp_path / "p.png"
    code, _, err = cli(
        ["plot", str(small_result), "--kind", "fan_chart", "-o", str(out), f"--dpi={value}"]
    )
    assert code == 2
    assert f"argument --dpi: --dpi must be a number from 10 to 1000, got {value!r}" in err
    assert not out.exists()


def test_plot_dpi_at_its_lowest(small_result: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    code, _, err = cli(
        ["plot", str(small_result), "--kind", "fan_chart", "-o", str(out), "--dpi", "10"]
    )
    assert code == 0, err
    assert out.read_bytes().startswith(b"\x89PNG")


def test_expected_share_per_period_is_finite_when_illness_is_certain() -> None:
    """q k >= 1 (``huzhu expected --multiplier 1000``): the yearly share is one case's cost,
    and so is the per-period share, at most one claim per member a period."""
    from engine.expected import member_share
    from engine.plans import get_plan

    s = member_share(get_plan("xianghubao"), "standard", 35, "M", multiplier=1000)
    assert s.annual == pytest.approx(324_000)
    assert s.per_period == s.case_cost == pytest.approx(324_000)
    usual = member_share(get_plan("xianghubao"), "standard", 35, "M")
    assert 0 < usual.per_period < usual.annual / 23


def test_expected_share_at_the_cli_when_illness_is_certain() -> None:
    argv = ["expected", "--plan", "xianghubao", "--age", "35", "--sex", "M"]
    code, out, err = cli([*argv, "--multiplier", "1000"])
    assert code == 0, err
    assert "expected share/period 324,000.0000 yuan" in out
