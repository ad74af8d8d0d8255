"""``huzhu run``: simulate a scenario file and print its summary."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli import UsageError, explain
from engine.cli.compiling import compile_kernel
from engine.cli.scenarios import find

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from engine.scenario import Scenario


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a scenario file, or a bundled scenario's name")
    p.add_argument("--paths", type=int)
    p.add_argument("--years", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", help="write the Dataset here: .nc (netCDF) or .zarr")
    p.add_argument(
        "--force", action="store_true", help="let --out replace a file huzhu did not write"
    )
    p.add_argument(
        "--mode",
        choices=["full", "streaming"],
        default="full",
        help="full: every path x period array; streaming: per-period summaries, flat memory",
    )
    p.add_argument("--checkpoint", help="save completed chunks here; rerun to resume")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the chunks on a Dask cluster: tcp://HOST:PORT, or 'local' for a LocalCluster",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--tail-target",
        type=float,
        metavar="LEVEL",
        help="importance sampling aimed at this VaR level, e.g. 0.995 (weighted estimates)",
    )


def _simulate(
    args: argparse.Namespace, scenario: Scenario
) -> tuple[xr.Dataset, pd.DataFrame | None]:
    """Run as the options say; with ``--tail-target`` the tilted run and its weighted table."""
    common = {"paths": args.paths, "seed": args.seed, "years": args.years, "threads": args.threads}
    if args.tail_target is not None:
        from engine.tail import TailWarning, simulate_tail

        if not 0.5 < args.tail_target < 1:
            raise UsageError(f"--tail-target must be in (0.5, 1), got {args.tail_target}")
        if args.mode != "full" or args.checkpoint or args.scheduler:
            raise UsageError(
                "--tail-target runs a pilot and a weighted full-mode run in this process: "
                "drop --mode, --checkpoint and --scheduler"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TailWarning)
            ds, weighted = simulate_tail(scenario, args.tail_target, **common)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        return ds, weighted
    if args.scheduler and (args.mode != "full" or args.checkpoint or args.threads):
        raise UsageError(
            "--scheduler runs full-mode chunks on the cluster's workers: "
            "drop --mode, --checkpoint and --threads"
        )
    from engine.progress import progress_bar

    total = scenario.run.paths if args.paths is None else args.paths
    try:
        with progress_bar(total, quiet=args.quiet) as advance:
            if args.scheduler:
                from engine.distributed import simulate_dask

                del common["threads"]
                ds = simulate_dask(scenario, scheduler=args.scheduler, progress=advance, **common)
            else:
                from engine.simulate import simulate

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


def check_out(out: str | None, force: bool = False) -> None:
    """Refuse an unusable ``--out`` before hours of simulation, not after."""
    if out is None:
        return
    from engine.io import check_replace

    path = Path(out)
    if path.suffix not in (".nc", ".zarr"):
        raise UsageError(f"--out {out}: the name must end in .nc (netCDF) or .zarr")
    if not path.parent.resolve().is_dir():
        raise UsageError(f"--out {out}: the folder {path.parent} does not exist")
    if not os.access(path.parent.resolve(), os.W_OK):
        raise UsageError(f"--out {out}: the folder {path.parent} is not writable")
    check_replace(path, force=force)


def run(args: argparse.Namespace) -> None:
    from engine.scenario import load_scenario

    scenario = load_scenario(find(args.scenario))  # a bad file: refused before the imports below
    check_out(args.out, args.force)
    from engine.io import save
    from engine.results import summary
    from engine.scenario_inputs import mean_age

    if not args.scheduler:  # workers compile their own
        compile_kernel(scenario)
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
        if ds.attrs["tail_fallback"]:
            print(f"plain Monte Carlo: a tilt cannot reach the {args.tail_target:g} tail (warning)")
        else:
            tilt, notice = ds.attrs["tilt"], ds.attrs["tilt_notice"]
            aim = f"importance sampling aimed at the {args.tail_target:g} level"
            print(f"{aim}, tilt {tilt:.3g}/yuan, in a closure notice {notice:.3g}/yuan")
        print()
        explain.weighted_text(tail_table, ds.sizes["path"])
    else:
        years = ds.sizes["period"] / 24
        explain.summary_text(summary(ds, levels=(0.995,)), years, scenario.discount_rate)
        print()
        explain.closure_text(ds, scenario.min_members)
        print()
        explain.tail_text(ds)
    if args.out:
        print(f"\nwrote {save(ds, args.out, force=args.force)}")
