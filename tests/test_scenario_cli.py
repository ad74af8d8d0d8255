"""Scenario validation and the command line."""

import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.scenario import ScenarioError, load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted((ROOT / "scenarios").glob("*.toml"))

GOOD = """
[plan]
preset = "xianghubao"
[population]
members = 1000000
[run]
paths = 20
years = 1
"""

HEAD = '[plan]\npreset = "xianghubao"\n[population]\nmembers = 5\n'

BAD = [
    (
        '[plan]\npreset = "xianghubao"\n[population]\nmembers = -5\n',
        "population.members: Input should be greater than or equal to 0 (got -5)",
    ),
    (
        '[plan]\npreset = "nope"\n[population]\nmembers = 5\n',
        "plan.preset: unknown plan 'nope'; valid plans: xianghubao",
    ),
    (
        '[plan]\npreset = "xianghubao"\n[population]\nmembers = 5\nmembrs = 3\n',
        "population.membrs: Extra inputs are not permitted",
    ),
    (
        '[plan]\npreset = "xianghubao"\ntier = "gold"\n[population]\nmembers = 5\n',
        "tier: 'gold' is unknown; valid: standard, entry",
    ),
    (
        '[plan]\npreset = "xianghubao"\ncap_per_case = -1\n[population]\nmembers = 5\n',
        "plan.cap_per_case: Input should be greater than or equal to 0 (got -1)",
    ),
    (
        '[plan]\npreset = "xianghubao"\n[population]\nmembers = 5\n[claims]\napproval_rate = 1.5\n',
        "claims.approval_rate: Input should be less than or equal to 1 (got 1.5)",
    ),
    (
        '[plan]\npreset = "xianghubao"\n[population]\nmembers = "many"\n',
        "population.members: Input should be a valid integer",
    ),
    ('[plan]\npreset = "xianghubao"\n', "population: Field required"),
    (
        '[plan]\npreset = "xianghubao"\n[population]\nmembers = 5\n[incidence]\ntable = "ci7"\n',
        "incidence.table: 'ci7' is unknown; valid: ci6, ci25",
    ),
    (
        '[plan]\npreset = "xianghubao"\nmin_age = 50\nmax_age = 40\n[population]\nmembers = 5\n',
        "min_age 50 is above max_age 40",
    ),
    ("this is = not [toml", "not a valid TOML file"),
    (HEAD + '[growth]\ncurve = "magic"\n', "growth.curve: Input should be 'none', 'constant'"),
    (HEAD + '[growth]\ncurve = "table"\n', "growth.table: curve 'table' needs a non-empty table"),
    (
        HEAD + "[growth]\ntable = [1, -2]\n",
        "growth.table: every entry must be a number from 0 to 1e9",
    ),
    (
        HEAD + "[exits]\nreference_share = 0\n",
        "exits.reference_share: Input should be greater than 0",
    ),
    (HEAD + "[exits]\nbase_rate = nan\n", "exits.base_rate: Input should be"),
    (HEAD + '[selection]\nunderwriting = "sloppy"\n', "selection.underwriting: Input should be"),
    (
        HEAD + "[termination]\nnotice_periods = 1.5\n",
        "termination.notice_periods: Input should be a valid integer",
    ),
    (
        '[plan]\npreset = "kangai"\ncap_per_case = 5\n[population]\nmembers = 5\n',
        "plan.cap_per_period: 3 is below plan.cap_per_case 5, so the per-case cap could never bind",
    ),
    (
        '[plan]\npreset = "kangai"\ncap_per_year = 2\n[population]\nmembers = 5\n',
        "plan.cap_per_year: 2 is below plan.cap_per_period 3",
    ),
    (HEAD + '[population]\nage_mix = "tiktok"\n', "Cannot declare ('population',) twice"),
    (
        HEAD + '[growth]\nage_mix = "tiktok"\n',
        "growth.age_mix: 'tiktok' is unknown; valid: cnnic44",
    ),
    (HEAD + "[run]\nyears = 101\n", "run.years: Input should be less than or equal to 100"),
    (
        HEAD + '[plan.tiers.standard]\nbands = "x"\n',
        "plan.tiers.standard.bands: Input should be a valid tuple",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_scenarios_name_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert message in str(info.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(
            {
                "plan": {"preset": "xianghubao"},
                "population": {"members": -1},
                "claims": {"payment_lag": 99},
            }
        )
    assert len(info.value.problems) == 2


def test_overrides_and_replace_make_validated_copies():
    s = scenario_from_dict(
        {"plan": {"preset": "xianghubao", "cap_per_case": 0.5}, "population": {"members": 10}}
    )
    assert s.plan.cap_per_case == 0.5 and s.plan.name == "相互宝"
    assert s.replace(run={"paths": 7}).run.paths == 7
    with pytest.raises(ScenarioError, match=r"run\.paths"):
        s.replace(run={"paths": 0})


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scenarios_load_and_run(path, capsys):
    assert main(["run", str(path), "--paths", "20", "--years", "1"]) == 0
    out = capsys.readouterr().out
    assert "liability, discounted (million yuan)" in out and "VaR 99.5%" in out


def test_run_prints_summary_and_writes_netcdf(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    out_file = tmp_path / "r.nc"
    assert main(["run", str(path), "--seed", "3", "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "20 paths x 24 periods" in out and "seed 3" in out
    import xarray as xr

    with xr.open_dataset(out_file, engine="h5netcdf") as ds:
        assert ds.sizes["path"] == 20 and ds.attrs["seed"] == "3"
        assert ds.liability.attrs["units"] == "yuan"


def test_bad_scenario_gives_one_line_error_and_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD[0][0])
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "population.members" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_expected_prints_worked_example(capsys):
    assert (
        main(
            [
                "expected",
                "--plan",
                "xianghubao",
                "--tier",
                "standard",
                "--age",
                "35",
                "--sex",
                "M",
                "--multiplier",
                "1",
            ]
        )
        == 0
    )
    assert "452.30 yuan" in capsys.readouterr().out


def test_expected_unknown_plan_is_an_error(capsys):
    assert main(["expected", "--plan", "nope", "--age", "35", "--sex", "M"]) == 2
    assert "valid plans" in capsys.readouterr().err


def test_plans_lists_every_preset(capsys):
    assert main(["plans"]) == 0
    out = capsys.readouterr().out
    for key in ("xianghubao", "kangai", "kuake", "denghuo", "相互宝"):
        assert key in out


@pytest.mark.parametrize("script", ["sweep_elasticity_inflow.py", "breakeven.py"])
def test_sweep_scripts_write_datasets_with_the_sweep_dims(tmp_path, script):
    import xarray as xr

    out = tmp_path / "sweep.nc"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scenarios" / script), "--paths", "4", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        dims = {"sweep_elasticity_inflow.py": {"elasticity_standard", "joiners", "path"}}
        assert set(ds.dims) >= dims.get(script, {"members", "path"})
        assert ds.sizes["path"] == 4


def test_run_options_that_cannot_go_together(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    assert main(["run", str(path), "--scheduler", "local", "--mode", "streaming"]) == 2
    assert "--scheduler runs full-mode chunks" in capsys.readouterr().err
    assert main(["run", str(path), "--scheduler", "nonsense://x"]) == 2
    assert "scheduler" in capsys.readouterr().err
    assert main(["run", str(path), "--tail-target", "1.5"]) == 2
    assert "--tail-target must be in (0.5, 1)" in capsys.readouterr().err
