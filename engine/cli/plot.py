"""``huzhu plot RESULT --kind KIND -o FILE.png``: a figure of a saved result."""

import argparse
from pathlib import Path
from typing import Any

from engine.errors import InputError


def _dpi(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 10 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"--dpi must be a number from 10 to 1000, got {text!r}")
    return value


def arguments(p: argparse.ArgumentParser) -> None:
    from engine.plotting import KINDS, STATS

    p.add_argument("result", help="a result file (.nc or .zarr)")
    p.add_argument("--kind", required=True, choices=list(KINDS))
    p.add_argument("-o", "--out", required=True, help="image file (.png, .svg, .pdf)")
    p.add_argument("--dpi", type=_dpi, default=100, help="dots per inch, 10 to 1000")
    p.add_argument("--stat", choices=list(STATS), help="heatmap statistic")
    p.add_argument(
        "--fields", nargs=2, metavar=("X", "Y"), help="heatmap: the two swept fields to show"
    )


def run(args: argparse.Namespace) -> None:
    from engine.io import open_result
    from engine.plotting import plot

    ds = open_result(args.result)
    kwargs: dict[str, Any] = {"dpi": args.dpi}
    if args.stat is not None:
        if args.kind != "heatmap":
            raise InputError("--stat applies to --kind heatmap only")
        kwargs["stat"] = args.stat
    if args.fields is not None:
        if args.kind != "heatmap":
            raise InputError("--fields applies to --kind heatmap only")
        kwargs["fields"] = tuple(args.fields)
    fig = plot(ds, args.kind, **kwargs)
    out = Path(args.out)
    fig.savefig(out)
    print(f"wrote {out}")
