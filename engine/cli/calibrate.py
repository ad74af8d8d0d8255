"""``huzhu calibrate``: fit incidence to published case counts, per period or per year."""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
        "data",
        help="CSV by period (period, members, cases [, paid, share, cases_LO_HI, "
        "members_LO_HI]), by year (year, cases [, members, share]) or published facts "
        "(date, metric, value, as engine/tables/xianghubao_published.csv)",
    )
    p.add_argument("--plan", help="plan preset (see `huzhu plans`); by-period data need it")
    p.add_argument("--tier", help="the plan's tier (default: its first)")
    p.add_argument("--table", default="ci25", help="incidence definition: ci25 or ci6")
    p.add_argument("--trend", action="store_true", help="also fit a trend per year")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of intervals")
    p.add_argument("--out-scenario", metavar="FILE.toml", help="write a scenario from the fit")
    p.add_argument("--plot", metavar="FILE.png", help="plot observed against fitted cases")
    annual = p.add_argument_group("annual data")
    annual.add_argument(
        "--scenario",
        metavar="FILE.toml",
        help="the plan, its rules and mixes, and the base of --out-scenario "
        "(default: --plan's preset, launched with no members)",
    )
    annual.add_argument(
        "--policy-years",
        type=int,
        default=0,
        metavar="N",
        help="fit duration factors of policy years 0..N-1 (from year N on: 1)",
    )
    annual.add_argument(
        "--membership",
        choices=["data", "scenario"],
        help="members from the data's milestones or the scenario's growth curve "
        "(default: the data's, when it has them)",
    )
    annual.add_argument(
        "--age-mix",
        metavar="LO-HI=SHARE,...",
        help="the members' age bands, each spread evenly, e.g. 0-29=0.5,30-59=0.5",
    )


def _plot_path(name: str) -> Path:
    """Where a figure named ``name`` is written: PNG unless it has an extension."""
    path = Path(name)
    return path if path.suffix else path.with_name(path.name + ".png")


def _bands(text: str) -> dict[str, float]:
    from engine.cli import UsageError

    bands = {}
    for item in text.split(","):
        band, _, share = item.partition("=")
        try:
            bands[band.strip()] = float(share)
        except ValueError:
            raise UsageError(f"--age-mix: {item!r} is not LO-HI=SHARE") from None
    return bands


def _run_annual(args: argparse.Namespace) -> None:
    import tomllib

    from engine.annual_data import read_annual
    from engine.calibrate_annual import calibrate_annual, report, write_annual_scenario
    from engine.cli import UsageError
    from engine.exposure import band_mix, membership_from_scenario
    from engine.scenario import load_scenario, scenario_from_dict

    if args.scenario:
        base = tomllib.loads(Path(args.scenario).read_text(encoding="utf-8"))
        scenario = load_scenario(args.scenario)
    elif args.plan:
        base = {"plan": {"preset": args.plan}, "population": {"members": 0}}
        if args.tier:
            base["plan"]["tier"] = args.tier
        base["incidence"] = {"table": args.table}
        scenario = scenario_from_dict(base, "--plan")
    else:
        raise UsageError("annual data need --scenario FILE.toml or --plan (see `huzhu plans`)")
    data = read_annual(args.data)
    membership = None
    if args.membership == "scenario" or (args.membership is None and data.milestones is None):
        membership = membership_from_scenario(scenario)
    elif data.milestones is None:
        raise UsageError(f"--membership data: {data.source} has no members")
    mix = band_mix(_bands(args.age_mix)) if args.age_mix else None
    cal = calibrate_annual(
        data,
        scenario,
        membership,
        trend=args.trend,
        policy_years=args.policy_years,
        mix=mix,
        level=args.level,
    )
    _outputs(args, report(cal), cal.plot, lambda out: write_annual_scenario(cal, out, base))


def _outputs(
    args: argparse.Namespace, text: str, plot: Callable[[], Any], write: Callable[[str], Any]
) -> None:
    """Print a fit's report; write its scenario (``--out-scenario``) and plot (``--plot``)."""
    print(text)
    if args.out_scenario:
        print(f"\nwrote {write(args.out_scenario)}")
    if args.plot:
        path = _plot_path(args.plot)
        plot().savefig(path, dpi=120)
        print(f"wrote {path}")


def run(args: argparse.Namespace) -> None:
    """Fit, print the report, optionally write a scenario and a plot."""
    from engine.annual_data import is_annual
    from engine.calibrate import calibrate, report, write_scenario
    from engine.cli import UsageError

    if is_annual(args.data):
        _run_annual(args)
        return
    if args.plan is None:
        raise UsageError("by-period data need --plan (see `huzhu plans`)")
    cal = calibrate(
        args.data, args.plan, args.tier, table=args.table, trend=args.trend, level=args.level
    )
    _outputs(args, report(cal), cal.plot, lambda out: write_scenario(cal, out))
