"""The one table printer of the command line: rows of text in aligned columns.

Widths count East Asian wide characters (相互宝) as two columns, so Chinese names line up.
"""

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


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """``rows`` under ``header`` in columns two spaces apart, a rule under the header.

    Examples
    --------
    >>> print(table([["a", "1"], ["相互宝", "22"]], ["plan", "n"]))
    plan    n
    ------  --
    a       1
    相互宝  22
    """
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True))
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
