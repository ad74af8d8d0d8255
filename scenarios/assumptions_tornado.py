"""Tornado chart of 相互宝's capital: VaR 99.5% of the discounted liability over the horizon
against each assumed parameter of scenarios/xianghubao.toml, one at a time.

Each parameter is set to the low and the high end of the range its comment in the scenario
gives; a parameter that is 0 in the scenario (off) keeps 0 as its low value. Every variant
runs with the base scenario's seed and paths (common random numbers), so the swing
``VaR high - VaR low`` is a paired difference. The liability is
engine.policy.horizon_liability: the discounted liability of the horizon's periods plus the
run-off of a closure announced within them (the run covers the notice period too).

Run ``python scenarios/assumptions_tornado.py [--paths N] [--years Y] [--plot FILE]``.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

# Run as a script, this file's folder leads sys.path and its name would hide the ``tornado``
# package that dask's ``distributed`` imports: drop the folder before importing the engine.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from engine import risk  # noqa: E402
from engine.policy import horizon_liability  # noqa: E402
from engine.scenario import Scenario, load_scenario  # noqa: E402
from engine.simulate import simulate  # noqa: E402

SCENARIO = HERE / "xianghubao.toml"
LEVEL = 0.995
PERIODS_PER_YEAR = 24

STEPS: dict[str, tuple[float, float]] = {
    "deduction.failure_rate": (0.005, 0.05),
    "deduction.recovery_rate": (0.3, 0.8),
    "exits.base_rate": (0.0, 0.3),
    "exits.price_rate": (0.0, 0.5),
    "incidence.multiplier_sd_log": (0.0, 0.3),
    "incidence.period_dispersion": (0.0, 0.1),
    "termination.hazard_per_year": (0.0, 0.4),
}
"""Low and high value of each assumed parameter: the ranges in the scenario's comments."""


def variant(scenario: Scenario, field: str, value: float) -> Scenario:
    """The scenario with one dotted ``section.field`` set to ``value``."""
    section, name = field.split(".")
    update: dict[str, Any] = {section: {name: value}}
    return scenario.replace(**update)


def liability_var(scenario: Scenario, paths: int, years: float) -> float:
    """VaR at LEVEL of the horizon's discounted liability (with a closure's run-off)."""
    periods = round(years * PERIODS_PER_YEAR)
    run_years = (periods + scenario.termination.notice_periods) / PERIODS_PER_YEAR
    ds = simulate(scenario, paths=paths, years=run_years)
    x = np.asarray(horizon_liability(ds, periods)["liability_pv"].values, dtype=float)
    return risk.var(x, LEVEL).estimate


def tornado(scenario: Scenario, paths: int, years: float) -> pd.DataFrame:
    """One row per parameter of STEPS, sorted by swing (largest first);
    ``attrs["base"]`` is the base scenario's VaR."""
    rows = []
    for field, (low, high) in STEPS.items():
        var_low = liability_var(variant(scenario, field, low), paths, years)
        var_high = liability_var(variant(scenario, field, high), paths, years)
        rows.append((field, low, high, var_low, var_high, abs(var_high - var_low)))
    columns = ["parameter", "low", "high", "VaR low", "VaR high", "swing"]
    table = pd.DataFrame(rows, columns=columns).sort_values("swing", ascending=False)
    table = table.reset_index(drop=True)
    table.attrs["base"] = liability_var(scenario, paths, years)
    return table


def plot(table: pd.DataFrame, path: str | Path) -> Path:
    """Horizontal bars from the base VaR to each variant's VaR (million yuan)."""
    base = table.attrs["base"] / 1e6
    fig = Figure(figsize=(8, 0.6 * len(table) + 1.5))
    ax = fig.add_subplot()
    ys = np.arange(len(table))[::-1]
    for y, (_, row) in zip(ys, table.iterrows(), strict=True):
        for key, colour in (("VaR low", "tab:blue"), ("VaR high", "tab:red")):
            ax.barh(y, row[key] / 1e6 - base, left=base, color=colour, height=0.6)
    ax.axvline(base, color="black", linewidth=1)
    labels = [f"{r.parameter} ({r.low:g} / {r.high:g})" for r in table.itertuples()]
    ax.set_yticks(ys, labels)
    ax.set_xlabel("VaR 99.5% of the discounted liability (million yuan)")
    ax.set_title("Xianghubao: low (blue) and high (red) values")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=int, default=400)
    p.add_argument("--years", type=float, default=1.0, help="horizon in years")
    p.add_argument("--plot", default=str(HERE.parent / "docs" / "tornado.png"))
    args = p.parse_args()
    table = tornado(load_scenario(SCENARIO), args.paths, args.years)
    print(f"base VaR 99.5%: {table.attrs['base']:,.0f} yuan ({args.paths} paths)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    print(f"wrote {plot(table, args.plot)}")


if __name__ == "__main__":
    main()
