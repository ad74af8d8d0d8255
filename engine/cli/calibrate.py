"""``huzhu calibrate``: fit the incidence multiplier to published case counts."""

import argparse


def arguments(p: argparse.ArgumentParser) -> None:
    """Declare the options.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> arguments(p)
    >>> p.parse_args(["data.csv", "--plan", "xianghubao"]).trend
    False
    """
    p.add_argument(
        "data", help="CSV with period, members, cases [, paid, share, cases_LO_HI, members_LO_HI]"
    )
    p.add_argument("--plan", required=True, help="plan preset (see `huzhu plans`)")
    p.add_argument("--tier", help="the plan's tier (default: its first)")
    p.add_argument("--table", default="ci25", help="incidence definition: ci25 or ci6")
    p.add_argument("--trend", action="store_true", help="also fit a trend per year")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of intervals")
    p.add_argument("--out-scenario", metavar="FILE.toml", help="write a scenario from the fit")
    p.add_argument("--plot", metavar="FILE.png", help="plot observed against fitted cases")


def run(args: argparse.Namespace) -> None:
    """Fit, print the report, optionally write a scenario and a plot."""
    from engine.calibrate import calibrate, report, write_scenario

    cal = calibrate(
        args.data, args.plan, args.tier, table=args.table, trend=args.trend, level=args.level
    )
    print(report(cal))
    if args.out_scenario:
        print(f"\nwrote {write_scenario(cal, args.out_scenario)}")
    if args.plot:
        cal.plot().savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
