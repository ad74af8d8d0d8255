"""A terminal progress bar for long runs: paths done, rate and time left.

``simulate(..., progress=advance)`` calls ``advance(n)`` after each chunk of ``n`` paths;
:func:`progress_bar` provides that callback and draws a rich progress bar on stderr, or
nothing at all when asked to be quiet or when stderr is not a terminal (a pipe, a log file,
a CI job), so that output there stays clean.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["progress_bar"]


class RateColumn(ProgressColumn):
    """Paths per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- paths/s" if speed is None else f"{speed:,.0f} paths/s", style="cyan")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@contextmanager
def progress_bar(
    total_paths: int, *, quiet: bool = False, file: TextIO | None = None
) -> Iterator[Callable[[int], None]]:
    """A callback ``advance(n_paths)`` that moves a progress bar of ``total_paths`` paths.

    The bar (paths done, paths per second, elapsed and remaining time) is drawn on ``file``
    (default: stderr) only if it is a terminal and ``quiet`` is false; otherwise the
    callback does nothing.

    Examples
    --------
    >>> with progress_bar(1000, quiet=True) as advance:
    ...     advance(1000)
    """
    stream = sys.stderr if file is None else file
    if quiet or total_paths < 0 or not _is_terminal(stream):

        def ignore(n_paths: int) -> None:
            return None

        yield ignore
        return
    console = Console(file=stream, force_terminal=True)
    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("paths"),
        RateColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        refresh_per_second=4,
    )
    task = bar.add_task("paths", total=total_paths)

    def advance(n_paths: int) -> None:
        bar.advance(task, n_paths)

    with bar:
        yield advance
