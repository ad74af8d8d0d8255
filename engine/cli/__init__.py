"""The ``huzhu`` command line: one module per command, each a thin layer over the engine.

A command module has ``arguments(parser)``, which declares its options, and ``run(args)``,
which does the work. Both import the engine only when called, so that ``huzhu --help`` and
the light commands do not pay for the numerical libraries they do not use; only the module
of the command being run declares its options (the others are listed with their help line).
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine import __version__
from engine.errors import InputError

COMMANDS: dict[str, str] = {
    "run": "simulate a scenario (a file, or a bundled scenario's name) and print its summary",
    "scenarios": "list the bundled scenarios",
    "plans": "list the plan presets",
    "expected": "a member's expected share, exactly",
    "sweep": "run a grid of scenario variants on common random numbers",
    "capital": "capital for the implicit liability: VaR/TVaR over one year",
    "report": "write a self-contained HTML report of a result",
    "plot": "draw a figure of a saved result",
    "rerun": "re-simulate a saved result from its scenario and seed, and compare",
    "calibrate": "fit the incidence multiplier to published case counts",
}
"""Each command and its help line; the command's module is ``engine.cli.<command>``."""


class UsageError(InputError):
    """A bad command-line value; printed as one line, exit code 2."""


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``: its first word that is not an option."""
    words = [a for a in argv if not a.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def parser(command: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The argument parser, with the options of ``command`` (or of ``every`` command).

    Examples
    --------
    >>> parser("expected").parse_args(["expected", "--plan", "kuake", "--age", "35",
    ...                                "--sex", "M"]).multiplier
    0.5
    """
    p = argparse.ArgumentParser(
        prog="huzhu", description="Monte Carlo risk engine for online mutual-aid platforms."
    )
    p.add_argument("--version", action="version", version=f"huzhu {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_line in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_line, description=help_line)
        if every or name == command:
            module = importlib.import_module(f"engine.cli.{name}")
            module.arguments(command_parser)
            command_parser.set_defaults(func=module.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``huzhu argv``; the exit status: 0, 1 for a file error, 2 for bad input."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser(_chosen(argv)).parse_args(argv)
    try:
        args.func(args)
    except InputError as exc:  # the engine's own errors only: a bug keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
