"""``huzhu capital``: the capital table of a scenario file."""

import argparse
from typing import TYPE_CHECKING

from engine.cli.scenarios import find
from engine.cli.table import table

if TYPE_CHECKING:
    import pandas as pd


def arguments(p: argparse.ArgumentParser) -> None:
    """Declare the options.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> arguments(p)
    >>> p.parse_args(["s.toml", "--paths", "10"]).paths
    10
    """
    p.add_argument("scenario", help="a scenario file, or a bundled scenario's name")
    p.add_argument("--paths", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--horizon", type=float, default=1.0, help="years (default 1)")
    p.add_argument(
        "--sources",
        action="store_true",
        help="also split variance and VaR 99.5%% by risk source (four more runs)",
    )


def run(args: argparse.Namespace) -> None:
    from engine.horizon import capital, decompose, exit_capital
    from engine.scenario import load_scenario

    scenario = load_scenario(find(args.scenario))
    common = {"paths": args.paths, "seed": args.seed, "horizon_years": args.horizon}
    frame = capital(scenario, **common)
    attrs = frame.attrs
    print(
        f"{scenario.name}: {scenario.plan.name}, {attrs['members']:,} members; "
        f"{attrs['paths']:,} paths, seed {attrs['seed']}; liability over "
        f"{attrs['horizon_years']:g} year(s) with the run-off of closures in it"
    )
    print(f"P(closure announced within the horizon): {attrs['p_closure']:.4f}")
    print()
    _print_capital(frame)
    _print_exit(exit_capital(scenario, **common), attrs["members"])
    if args.sources:
        _print_sources(decompose(scenario, **common))


def _print_capital(frame: "pd.DataFrame") -> None:
    """The capital table: estimates, intervals, per member and the components at the tail."""
    from engine.results import COMPONENTS

    header = ["statistic", "million yuan", "95% interval", "yuan/member", "95% interval"]
    header += [name.removesuffix("_pv") for name in COMPONENTS]
    rows = []
    for stat, row in frame.iterrows():
        rows.append(
            [
                str(stat),
                f"{row.estimate / 1e6:,.3f}",
                f"{row.ci_low / 1e6:,.3f} - {row.ci_high / 1e6:,.3f}",
                f"{row.per_member:,.4f}",
                f"{row.per_member_low:,.4f} - {row.per_member_high:,.4f}",
                *(f"{row[name] / 1e6:,.3f}" for name in COMPONENTS),
            ]
        )
    print(table(rows, header))
    print("\ncomponents: conditional means at the tail (million yuan); capital = VaR 99.5%")


def _print_exit(ex: "pd.Series", members: int) -> None:
    """The exit capital with its order-statistic interval."""
    print(
        f"\nexit capital (准出): VaR {100 * ex.level:g}% over paths of the largest expected "
        "cost of a closure announced within the horizon"
    )
    rows = [
        [
            f"{ex.estimate / 1e6:,.3f}",
            f"{ex.ci_low / 1e6:,.3f} - {ex.ci_high / 1e6:,.3f}",
            f"{ex.per_member:,.4f}",
            f"{ex.per_member_low:,.4f} - {ex.per_member_high:,.4f}",
            f"{ex.mean_largest / 1e6:,.3f}",
        ]
    ]
    header = ["million yuan", "95% interval", "yuan/member", "95% interval", "mean (million)"]
    print(table(rows, header))
    print(f"interval: order statistics of {int(ex.paths):,} paths; {members:,} members")


def _print_sources(parts: "pd.DataFrame") -> None:
    """The split of variance and VaR by risk source."""
    print("\nrisk sources added in turn (common random numbers), million yuan")
    header = ["source added", "mean", "sd", "VaR 99.5%", "TVaR 99.5%", "variance part", "VaR part"]
    rows = [
        [str(name), *(f"{row[c] / 1e6:,.3f}" for c in ("mean", "sd", "VaR", "TVaR")),
         f"{row.variance_part / 1e12:,.4f} (10^12)", f"{row.VaR_part / 1e6:,.3f}"]
        for name, row in parts.iterrows()
    ]  # fmt: skip
    print(table(rows, header))
