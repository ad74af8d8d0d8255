"""``huzhu sweep SCENARIO --set FIELD=V1,V2 ...``: a grid of scenario variants on common
random numbers (``engine.sweep``), one table row per grid point."""

import argparse
import itertools
from typing import Any

from engine.cli import UsageError
from engine.cli.scenarios import find
from engine.cli.table import show


def value(text: str) -> Any:
    """A grid value from the command line: a whole number, a number, true/false or text.

    Examples
    --------
    >>> value("3"), value("3.24e6"), value("0.1"), value("true"), value("ci6")
    (3, 3240000, 0.1, True, 'ci6')
    """
    for parse in (int, float):
        try:
            number = parse(text)
        except ValueError:
            continue
        return int(number) if isinstance(number, float) and number.is_integer() else number
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else text


def _coordinate(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,.6g}"


def grid_option(text: str) -> tuple[str, list[Any]]:
    """``FIELD=V1,V2,...`` as ``(field, [values])``."""
    field, sep, values = text.partition("=")
    if not sep or not field or not values:
        raise argparse.ArgumentTypeError(f"--set {text!r}: expected FIELD=V1,V2,... ")
    return field.strip(), [value(v.strip()) for v in values.split(",")]


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a scenario file, or a bundled scenario's name")
    p.add_argument(
        "--set",
        dest="grid",
        type=grid_option,
        action="append",
        required=True,
        metavar="FIELD=V1,V2",
        help="a dotted scenario field and its values, e.g. population.members=3.24e6,1e7; "
        "repeat for a grid of several fields",
    )
    p.add_argument("--paths", type=int, help="paths per grid point (default: the scenario's)")
    p.add_argument("--years", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--variable", default="liability_pv", help="the per-path total to tabulate")
    p.add_argument("--out", help="write the sweep here (.nc or .zarr), for huzhu plot/report")
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="run the points on a Dask cluster (or 'local')"
    )


def run(args: argparse.Namespace) -> None:
    from engine.cli.explain import label
    from engine.cli.run import check_out
    from engine.io import save
    from engine.results import summary
    from engine.scenario import load_scenario
    from engine.sweep import sweep

    grid = dict(args.grid)
    if len(grid) != len(args.grid):
        raise UsageError("--set: each field may be given once")
    scenario = load_scenario(find(args.scenario))
    if args.years is not None:
        scenario = scenario.replace(run={"years": args.years})
    check_out(args.out)
    paths = scenario.run.paths if args.paths is None else args.paths
    ds = sweep(scenario, grid, paths=paths, seed=args.seed, scheduler=args.scheduler)
    if args.variable not in ds:
        valid = ", ".join(map(str, ds.data_vars))
        raise UsageError(f"--variable {args.variable}: not in the sweep; valid: {valid}")
    dims = [key.split(".")[-1] for key in grid]
    rows, statistics = [], None
    for point in itertools.product(*(range(ds.sizes[d]) for d in dims)):
        sel = ds.isel(dict(zip(dims, point, strict=True)))
        frame = summary(sel, variables=(args.variable,), levels=(0.995,)).loc[args.variable]
        statistics = list(frame.index)
        cells = [_coordinate(sel[d].item()) for d in dims]
        scale = 1.0 if label(args.variable).endswith("(yuan)") else 1e6
        for stat in statistics:
            est = float(frame.loc[stat, "estimate"])
            if stat == "mean":
                se = float(frame.loc[stat, "std_error"])
                cells.append(f"{est / scale:,.2f} ± {se / scale:,.2f}")
            else:
                cells.append(f"{est:.3f}" if stat.startswith("P(") else f"{est / scale:,.2f}")
        rows.append(cells)
    print(
        f"{scenario.name}: {len(rows)} grid points x {paths:,} paths, the same random numbers "
        f"at every point (seed {ds.attrs['seed']})"
    )
    print()
    names = {"mean": "mean ± s.e.", "std": "sd"}
    show(
        rows,
        [*grid, *(names.get(s, s) for s in statistics or [])],
        title=f"{label(args.variable)}, per path",
        note="differences between rows come from the fields, not from sampling noise",
    )
    if args.out:
        print(f"\nwrote {save(ds, args.out)}")
