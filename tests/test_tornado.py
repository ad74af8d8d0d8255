"""scenarios/assumptions_tornado.py: the tornado table of 相互宝's VaR 99.5% against its assumed
parameters, checked against direct runs of the base scenario and of single variants."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import risk
from engine.scenario import Scenario, load_scenario
from engine.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
PATHS, YEARS, PERIODS = 16, 0.25, 6

# The assumed parameters named in scenarios/xianghubao.toml's comments.
ASSUMED = {
    "deduction.failure_rate",
    "deduction.recovery_rate",
    "exits.base_rate",
    "exits.price_rate",
    "incidence.multiplier_sd_log",
    "incidence.period_dispersion",
    "termination.hazard_per_year",
}


def _script():  # type: ignore[no-untyped-def]
    # Not named tornado.py: run as a script, it would shadow the package distributed uses.
    spec = importlib.util.spec_from_file_location(
        "tornado_chart", ROOT / "scenarios/assumptions_tornado.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    script = _script()
    table = script.tornado(load_scenario(ROOT / "scenarios/xianghubao.toml"), PATHS, YEARS)
    png = script.plot(table, tmp_path_factory.mktemp("tornado") / "t.png")
    return table, png


def _oracle_var(scenario: Scenario) -> float:
    """VaR 99.5% of the liability of the first PERIODS periods discounted by hand at
    1.03 ** -((t + 1) / 24), from a plain run (valid for a scenario with no closure)."""
    ds = simulate(scenario, paths=PATHS, years=YEARS)
    assert ds.sizes["period"] == PERIODS
    assert (ds["closure_period"].values < 0).all()
    t = np.arange(PERIODS)
    x = (ds["liability"].values * 1.03 ** (-(t + 1) / 24)).sum(axis=1)
    return risk.var(x, 0.995).estimate


def test_one_row_per_assumed_parameter(run: tuple[pd.DataFrame, Path]) -> None:
    """Red if a parameter is dropped, duplicated or misnamed."""
    table, _ = run
    assert len(table) == len(ASSUMED)
    assert set(table["parameter"]) == ASSUMED


def test_base_var_matches_a_plain_run(run: tuple[pd.DataFrame, Path]) -> None:
    """Red if the base run uses another seed, horizon, discounting or quantile."""
    table, _ = run
    base = load_scenario(ROOT / "scenarios/xianghubao.toml")
    assert table.attrs["base"] == pytest.approx(_oracle_var(base), rel=1e-12)
    assert table.attrs["base"] > 0


@pytest.mark.parametrize(
    ("field", "section", "low", "high"),
    [
        ("deduction.failure_rate", "deduction", 0.005, 0.05),
        ("deduction.recovery_rate", "deduction", 0.3, 0.8),
    ],
)
def test_variant_vars_match_direct_runs(
    run: tuple[pd.DataFrame, Path], field: str, section: str, low: float, high: float
) -> None:
    """Red if a variant sets the wrong field or value, or loses common random numbers."""
    table, _ = run
    row = table.set_index("parameter").loc[field]
    base = load_scenario(ROOT / "scenarios/xianghubao.toml")
    name = field.split(".")[1]
    assert (row["low"], row["high"]) == (low, high)
    assert row["VaR low"] == pytest.approx(
        _oracle_var(base.replace(**{section: {name: low}})), rel=1e-12
    )
    assert row["VaR high"] == pytest.approx(
        _oracle_var(base.replace(**{section: {name: high}})), rel=1e-12
    )
    assert row["VaR low"] != row["VaR high"]


def test_rows_sorted_by_swing(run: tuple[pd.DataFrame, Path]) -> None:
    """Red if the sort is missing or ascending, or the swing is not |VaR high - VaR low|."""
    table, png = run
    swing = (table["VaR high"] - table["VaR low"]).abs().to_numpy()
    np.testing.assert_allclose(table["swing"].to_numpy(), swing)
    assert (np.diff(swing) <= 0).all()
    assert swing[0] > swing[-1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
