"""``huzhu rerun RESULT [-o OUT]``: re-simulate a saved result and compare."""

import argparse

from engine.errors import InputError


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="a result file (.nc or .zarr)")
    p.add_argument("-o", "--out", help="write the rerun to this file (.nc or .zarr)")
    p.add_argument("--force", action="store_true", help="let -o replace a file huzhu did not write")


def run(args: argparse.Namespace) -> None:
    from engine.io import differences, open_result, rerun, save

    original = open_result(args.result)
    again = rerun(args.result)
    if args.out:
        print(f"wrote {save(again, args.out, force=args.force)}")
    changed = differences(original, again)
    if changed:
        raise InputError(f"the rerun of {args.result} differs in: {', '.join(changed)}")
    print(
        f"rerun of {args.result}: {again.sizes['path']:,} paths, seed {again.attrs['seed']}: "
        f"all {len(again.variables)} variables identical"
    )
