"""``huzhu capital``: the capital table of a scenario file."""

import argparse

from engine.cli.scenarios import find
from engine.cli.table import table


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


def run(args: argparse.Namespace) -> None:
    from engine.policy import capital
    from engine.results import COMPONENTS
    from engine.scenario import load_scenario

    scenario = load_scenario(find(args.scenario))
    frame = capital(scenario, paths=args.paths, seed=args.seed, horizon_years=args.horizon)
    attrs = frame.attrs
    print(
        f"{scenario.name}: {scenario.plan.name}, {attrs['members']:,} members; "
        f"{attrs['paths']:,} paths, seed {attrs['seed']}; liability over "
        f"{attrs['horizon_years']:g} year(s) with the run-off of closures in it"
    )
    print(f"P(closure announced within the horizon): {attrs['p_closure']:.4f}")
    print()
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
