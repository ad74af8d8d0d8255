"""``huzhu report RESULT -o report.html``: a self-contained HTML report of a result."""

import argparse


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="a result file (.nc or .zarr)")
    p.add_argument("-o", "--out", required=True, help="the HTML file to write")
    p.add_argument("--force", action="store_true", help="replace a file huzhu did not write")


def run(args: argparse.Namespace) -> None:
    from engine.io import open_result
    from engine.report import write_report

    ds = open_result(args.result)
    print(f"wrote {write_report(ds, args.out, force=args.force)}")
