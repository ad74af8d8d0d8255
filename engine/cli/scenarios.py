"""``huzhu scenarios``: the bundled scenario files, by name, with their descriptions.

The files live in the repository's ``scenarios/`` folder, where users read and copy them; a
wheel carries them as the package data ``engine.scenarios``. ``huzhu run NAME`` finds a
bundled file by its name (the file name without ``.toml``).
"""

import argparse
import os
import tomllib
from importlib import util
from pathlib import Path

from engine.cli import UsageError
from engine.cli.table import table

SOURCE_TREE = Path(__file__).resolve().parents[2] / "scenarios"
"""The scenario folder of a source checkout (an editable install)."""


def folder() -> Path:
    """Where the bundled scenario files are: the installed package data, else the checkout."""
    spec = util.find_spec("engine.scenarios")  # a folder of data, without __init__.py
    if spec is None or not spec.submodule_search_locations:
        return SOURCE_TREE
    return Path(next(iter(spec.submodule_search_locations)))


def bundled() -> dict[str, Path]:
    """Every bundled scenario file, by name.

    Examples
    --------
    >>> bundled()["xianghubao"].name
    'xianghubao.toml'
    """
    return {p.stem: p for p in sorted(folder().glob("*.toml"))}


def find(scenario: str) -> str:
    """The file to load for ``scenario``: a path as given, or a bundled scenario's name.

    Examples
    --------
    >>> find("xianghubao").endswith("xianghubao.toml")
    True
    >>> find("nope")
    Traceback (most recent call last):
    ...
    engine.cli.UsageError: unknown scenario 'nope': no such file, and no bundled scenario of that name (see `huzhu scenarios`)
    """  # noqa: E501
    path = Path(scenario)
    if path.exists() or path.suffix or "/" in scenario or os.sep in scenario:
        return scenario
    files = bundled()
    if scenario not in files:
        raise UsageError(
            f"unknown scenario {scenario!r}: no such file, and no bundled scenario of that name "
            "(see `huzhu scenarios`)"
        )
    return str(files[scenario])


def arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> None:
    rows = []
    for name, path in bundled().items():
        with path.open("rb") as f:
            rows.append([name, str(tomllib.load(f).get("description", ""))])
    print(table(rows, ["scenario", "description"]))
    print(f"\nfiles in {folder()}; run one with `huzhu run NAME`, or copy it and edit the copy")
