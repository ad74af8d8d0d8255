"""The ``huzhu`` command line: a thin layer over simulate, results and the presets."""

import argparse
import importlib
import os
import sys
import time
import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from engine.distributed import simulate_dask
from engine.expected import member_share
from engine.io import save
from engine.plans import PLANS, get_plan
from engine.progress import progress_bar
from engine.results import VARIABLES, closure_summary, summary, tail_components
from engine.scenario import Scenario, ScenarioError, load_scenario
from engine.simulate import mean_age, simulate
from engine.tail import TailWarning, simulate_tail

COMMAND_MODULES: tuple[str, ...] = (
    # one line per module
    "engine.policy",
    "engine.report",
    "engine.plotting",
    "engine.io",
    "engine.calibrate",
)
"""Modules that add subcommands: each has ``add_command(subparsers)``, which registers a
parser whose ``func`` default takes the parsed arguments."""


class UsageError(Exception):
    """A bad command-line value; printed as one line, exit code 2."""


def _money(x: float) -> str:
    return "-" if x == float("inf") else f"{x:,.2f}"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _summary_text(table: pd.DataFrame) -> str:
    """One row per variable: mean (with its standard error), sd, P(>0), VaR and TVaR 99.5%."""
    rows = []
    for name in table.index.get_level_values(0).unique():
        t = table.loc[name]
        scale, unit = (1e6, "million yuan") if "yuan/" not in VARIABLES[name][0] else (1.0, "yuan")
        mean, se = t.loc["mean", "estimate"] / scale, t.loc["mean", "std_error"] / scale
        rows.append(
            [
                f"{name} ({unit})",
                f"{mean:,.2f} ± {se:,.2f}",
                f"{t.loc['std', 'estimate'] / scale:,.2f}",
                f"{t.loc['P(>0)', 'estimate']:.3f}",
                f"{t.loc['VaR 99.5%', 'estimate'] / scale:,.2f}",
                f"{t.loc['TVaR 99.5%', 'estimate'] / scale:,.2f}",
            ]
        )
    return _table(rows, ["per path", "mean ± s.e.", "sd", "P(>0)", "VaR 99.5%", "TVaR 99.5%"])


def _closure_text(ds: xr.Dataset, min_members: int) -> str:
    """Closure probabilities by year and the liability's components in the tail."""
    lines = []
    table = closure_summary(ds)
    if min_members:
        probs = ", ".join(
            f"{year}y {row.probability:.3f}±{row.std_error:.3f}" for year, row in table.iterrows()
        )
        lines.append(f"P(closure by year), minimum {min_members:,} sharing members: {probs}")
        if table.attrs["closed_paths"]:
            q = table.attrs["closure_period_quantiles"]
            dates = ds.period.values[[int(q["10%"]), int(q["50%"]), int(q["90%"])]]
            when = ", ".join(str(d)[:10] for d in dates)
            lines.append(f"closure announced (10%, median, 90% of closing paths): {when}")
    else:
        lines.append("the plan has no minimum membership: it never closes")
    tails = tail_components(ds) / 1e6
    rows = [[name, *(f"{x:,.2f}" for x in tails.loc[name])] for name in tails.index]
    lines += ["", "liability by component in the tail (million yuan)"]
    lines.append(_table(rows, ["component", *tails.columns]))
    return "\n".join(lines)


def cmd_plans(args: argparse.Namespace) -> None:
    rows = []
    for key, plan in PLANS.items():
        for tier_name in plan.tiers:
            fee = plan.tier_fee(tier_name)
            bands = ", ".join(
                f"{b.min_age}-{min(b.max_age, plan.max_age)}: {b.benefit:,.0f}"
                for b in plan.tier(tier_name).bands
            )
            fee_text = " + ".join(
                part
                for part in (
                    "per-case tiers" if fee.per_case else "",
                    f"{fee.rate:.0%}" if fee.rate else "",
                    f"{fee.per_member_month:g}/member/month" if fee.per_member_month else "",
                )
                if part
            )
            rows.append(
                [
                    key,
                    plan.name,
                    tier_name,
                    bands,
                    fee_text,
                    _money(plan.cap_per_case),
                    _money(plan.cap_per_period),
                    _money(plan.cap_per_year),
                    f"{plan.waiting_days}",
                    f"{plan.tier_prepayment(tier_name):g}",
                    f"{plan.min_members:,}" if plan.min_members else "-",
                    f"{plan.min_age}-{plan.max_age}",
                    f"{plan.members_2020:,}" if plan.members_2020 else "-",
                ]
            )
    header = [
        "plan",
        "name",
        "tier",
        "benefit by age (yuan)",
        "fee",
        "cap/case",
        "cap/period",
        "cap/year",
        "waiting days",
        "prepay",
        "min members",
        "ages",
        "members 2020",
    ]
    print(_table(rows, header))


def cmd_expected(args: argparse.Namespace) -> None:
    plan = get_plan(args.plan)
    s = member_share(
        plan, args.tier, args.age, args.sex, table=args.table, multiplier=args.multiplier
    )
    print(
        f"{plan.name} ({args.plan}), tier {args.tier}, age {args.age}, sex {args.sex}, "
        f"table {args.table}, multiplier {args.multiplier:g}"
    )
    print(f"  annual incidence      {s.incidence:.6f}")
    print(f"  cost of one case      {s.case_cost:,.2f} yuan (benefit and fees)")
    print(f"  expected yearly share {s.annual:,.2f} yuan")
    print(f"  expected share/period {s.per_period:,.4f} yuan (constant hazard, as simulated)")
    if s.fixed_fee_annual:
        print(f"  per-member fee        {s.fixed_fee_annual:,.2f} yuan a year on top")


def _simulate(
    args: argparse.Namespace, scenario: Scenario
) -> tuple[xr.Dataset, pd.DataFrame | None]:
    """Run as the options say; with ``--tail-target`` the tilted run and its weighted table."""
    common = {"paths": args.paths, "seed": args.seed, "years": args.years, "threads": args.threads}
    if args.tail_target is not None:
        if not 0.5 < args.tail_target < 1:
            raise UsageError(f"--tail-target must be in (0.5, 1), got {args.tail_target}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TailWarning)
            ds, table = simulate_tail(scenario, args.tail_target, **common)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        return ds, table
    if args.scheduler and (args.mode != "full" or args.checkpoint or args.threads):
        raise UsageError(
            "--scheduler runs full-mode chunks on the cluster's workers: "
            "drop --mode, --checkpoint and --threads"
        )
    total = scenario.run.paths if args.paths is None else args.paths
    try:
        with progress_bar(total, quiet=args.quiet) as advance:
            if args.scheduler:
                del common["threads"]
                ds = simulate_dask(scenario, scheduler=args.scheduler, progress=advance, **common)
            else:
                ds = simulate(
                    scenario, mode=args.mode, checkpoint=args.checkpoint, progress=advance, **common
                )
        return ds, None
    except KeyboardInterrupt:
        where = (
            f"completed chunks are saved in {args.checkpoint}: run the same command to resume"
            if args.checkpoint
            else "rerun with --checkpoint DIR to be able to resume an interrupted run"
        )
        print(f"interrupted; {where}", file=sys.stderr)
        raise SystemExit(130) from None


def _check_out(out: str | None) -> None:
    """Refuse an unusable ``--out`` before hours of simulation, not after."""
    if out is None:
        return
    path = Path(out)
    if path.suffix not in (".nc", ".zarr"):
        raise UsageError(f"--out {out}: the name must end in .nc (netCDF) or .zarr")
    if not path.parent.resolve().is_dir():
        raise UsageError(f"--out {out}: the folder {path.parent} does not exist")
    if not os.access(path.parent.resolve(), os.W_OK):
        raise UsageError(f"--out {out}: the folder {path.parent} is not writable")


def cmd_run(args: argparse.Namespace) -> None:
    scenario = load_scenario(args.scenario)
    _check_out(args.out)
    began = time.perf_counter()
    ds, tail_table = _simulate(args, scenario)
    elapsed = time.perf_counter() - began
    print(
        f"{scenario.name}: {scenario.plan.name} ({scenario.preset or scenario.plan.pinyin}), "
        f"tier {scenario.tier}, {scenario.population.members:,} members, "
        f"mean age {mean_age(scenario):.1f}"
    )
    print(
        f"{ds.sizes['path']:,} paths x {ds.sizes['period']} periods "
        f"({ds.sizes['period'] / 24:g} years from {scenario.run.start}), seed {ds.attrs['seed']}, "
        f"{elapsed:.1f} s"
    )
    print()
    if tail_table is not None:
        tilt = ds.attrs["tilt"]
        print(f"importance sampling aimed at the {args.tail_target:g} level, tilt {tilt:.3g}/yuan")
        with pd.option_context("display.float_format", "{:,.4g}".format, "display.width", 120):
            print(tail_table.to_string())
    else:
        print(_summary_text(summary(ds, levels=(0.995,))))
        print()
        print(_closure_text(ds, scenario.min_members))
    if args.out:
        print(f"\nwrote {save(ds, args.out)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="huzhu", description="Monte Carlo risk engine for online mutual-aid platforms."
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate a scenario file and print its summary")
    run.add_argument("scenario")
    run.add_argument("--paths", type=int)
    run.add_argument("--years", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--threads", type=int)
    run.add_argument("--out", help="write the Dataset here: .nc (netCDF) or .zarr")
    run.add_argument(
        "--mode",
        choices=["full", "streaming"],
        default="full",
        help="full: every path x period array; streaming: per-period summaries, flat memory",
    )
    run.add_argument("--checkpoint", help="save completed chunks here; rerun to resume")
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the chunks on a Dask cluster: tcp://HOST:PORT, or 'local' for a LocalCluster",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--tail-target",
        type=float,
        metavar="LEVEL",
        help="importance sampling aimed at this VaR level, e.g. 0.995 (weighted estimates)",
    )
    run.set_defaults(func=cmd_run)

    plans = sub.add_parser("plans", help="list the plan presets")
    plans.set_defaults(func=cmd_plans)

    exp = sub.add_parser("expected", help="a member's expected share, exactly")
    exp.add_argument("--plan", required=True)
    exp.add_argument("--tier", default="standard")
    exp.add_argument("--age", type=int, required=True)
    exp.add_argument("--sex", choices=["M", "F"], required=True)
    exp.add_argument("--table", default="ci25")
    exp.add_argument("--multiplier", type=float, default=0.5)
    exp.set_defaults(func=cmd_expected)

    for module in COMMAND_MODULES:
        importlib.import_module(module).add_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyError, ValueError, UsageError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
