"""The one table printer of the command line: rows of text in aligned columns.

Widths count East Asian wide characters (相互宝) as two columns, so Chinese names line up.
"""

import textwrap
import unicodedata
from collections.abc import Sequence


def width(text: str) -> int:
    """Columns that ``text`` takes on a terminal.

    Examples
    --------
    >>> width("相互宝 ab")
    9
    """
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(rows: Sequence[Sequence[str]], header: Sequence[str], *, right: bool = False) -> str:
    """``rows`` under ``header`` in columns two spaces apart, a rule under the header; with
    ``right``, every column but the first is aligned to the right (columns of numbers).

    Examples
    --------
    >>> print(table([["a", "1"], ["相互宝", "22"]], ["plan", "n"]))
    plan    n
    ------  --
    a       1
    相互宝  22
    """
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def pad(i: int, cell: str, w: int) -> str:
        space = " " * (w - width(cell))
        return space + cell if right and i else cell + space

    lines = [
        "  ".join(pad(i, c, w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def money(x: float) -> str:
    """A yuan amount with thousands separators; ``-`` for no limit (infinity).

    Examples
    --------
    >>> money(1234.5), money(float("inf"))
    ('1,234.50', '-')
    """
    return "-" if x == float("inf") else f"{x:,.2f}"


def show(
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    *,
    title: str | None = None,
    note: str | None = None,
) -> None:
    """Print a table: with ``rich`` when the output is a terminal, as plain text otherwise
    (files, pipes, tests). ``title`` goes above it, ``note`` (what the columns mean) below.
    """
    import sys

    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(title=title, title_justify="left", caption=note, caption_justify="left")
        for i, name in enumerate(header):
            rich_table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows:
            rich_table.add_row(*row)
        Console().print(rich_table)
        return
    if title:
        print(title)
    print(table(rows, header, right=True))
    if note:
        print(textwrap.fill(note, 100))
