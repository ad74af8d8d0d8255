"""Published per-period platform data: a CSV of members and cases by period, read and checked.

One row per period: ``period`` (ISO date, increasing), ``members`` (sharing members),
``cases`` (approved cases shared in the period), optionally ``paid`` and ``share`` (yuan)
and age-band pairs ``cases_<lo>_<hi>`` / ``members_<lo>_<hi>``. A bad file raises
:class:`~engine.errors.InputError` naming the row and column, the value and what is allowed.
"""

import csv
import datetime as dt
import io
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.tables import AGES

REQUIRED = ("period", "members", "cases")
OPTIONAL = ("paid", "share")
BAND_COLUMN = re.compile(r"(cases|members)_(\d+)_(\d+)")

LARGEST = 1e13
"""The largest count or amount a cell may hold (members, cases, yuan)."""


def read_cell(text: str, where: str, whole: bool) -> float:
    """A count (``whole``) or an amount from one cell; NaN when empty."""
    text = text.strip()
    if not text:
        return math.nan
    kind = "a whole number" if whole else "a number"
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {shown} is not {kind}") from None
    too_big = math.isinf(value) and "inf" not in text.lower()  # digits beyond float range
    if too_big or value > LARGEST:
        raise InputError(f"{where}: {shown} is above {LARGEST:.0e}, more than any platform")
    if not math.isfinite(value) or (whole and value != round(value)):
        raise InputError(f"{where}: {shown} is not {kind}")
    if value < 0:
        raise InputError(f"{where}: {shown} is negative")
    return value


def read_observations(path: str | Path) -> pd.DataFrame:
    """Read and check a CSV of published platform data.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header. Required columns: ``period`` (ISO date, increasing),
        ``members`` (sharing members) and ``cases`` (approved cases shared in the period),
        whole numbers >= 0; optional ``paid`` and ``share`` (yuan), and band pairs
        ``cases_<lo>_<hi>`` with ``members_<lo>_<hi>`` (ages lo to hi inclusive). Other
        columns are ignored. Empty cells are allowed.

    Returns
    -------
    pandas.DataFrame
        One float column per numeric column (NaN for empty cells), indexed by ``period``.

    Raises
    ------
    InputError
        For a malformed file, naming the row (lines of the file, the header being row 1)
        and the column, e.g. ``data.csv row 7, column cases: 'abc' is not a whole number``.

    Examples
    --------
    >>> df = read_observations("scenarios/calibration_sample.csv")
    >>> len(df), df.columns.tolist(), df.attrs["source"]
    (23, ['members', 'cases', 'paid', 'share'], 'calibration_sample.csv')
    """
    name, header, rows = _read_csv(Path(path))
    bands = _check_header(name, header)
    if not rows:
        raise InputError(f"{name}: no data rows below the header")
    numeric = ["members", "cases", *[c for c in OPTIONAL if c in header], *bands]
    dates: list[dt.date] = []
    values: list[list[float]] = []
    for line, row in rows:
        if len(row) != len(header):
            raise InputError(
                f"{name} row {line}: {len(row)} cells, but the header has {len(header)} columns"
            )
        cells = dict(zip(header, row, strict=True))
        dates.append(_date(cells["period"], f"{name} row {line}, column period", dates))
        values.append(
            [
                read_cell(cells[c], f"{name} row {line}, column {c}", c not in OPTIONAL)
                for c in numeric
            ]
        )
    frame = pd.DataFrame(values, columns=numeric, index=pd.DatetimeIndex(dates, name="period"))
    _check_cases_below_members(frame, bands, [f"{name} row {line}" for line, _ in rows])
    frame.attrs["source"] = name
    return frame


def _read_csv(path: Path) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    """The file's name, its header and its non-blank rows with their line numbers."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a CSV text file (it is not UTF-8)") from None
    if not text.strip():
        raise InputError(f"{name}: the file is empty; expected a header {','.join(REQUIRED)}")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise InputError(f"{name} row {reader.line_num}: not a valid CSV ({exc})") from None
    return name, header, rows


def _check_header(name: str, header: list[str]) -> list[str]:
    """Refuse a header without the required columns, with a repeated column or a band
    column without its pair; the band columns."""
    for column in REQUIRED:
        if column not in header:
            raise InputError(
                f"{name} row 1, column {column}: missing from the header "
                f"(required: {', '.join(REQUIRED)}; found: {', '.join(header)})"
            )
    repeated = [column for column, n in Counter(header).items() if n > 1]
    if repeated:
        raise InputError(f"{name} row 1, column {repeated[0]}: appears more than once")
    bands = [c for c in header if BAND_COLUMN.fullmatch(c)]
    for column in bands:
        kind, lo, hi = BAND_COLUMN.fullmatch(column).groups()  # type: ignore[union-attr]
        other = f"{'members' if kind == 'cases' else 'cases'}_{lo}_{hi}"
        if other not in header:
            raise InputError(f"{name} row 1, column {other}: missing (needed with {column})")
        if not int(lo) <= int(hi) <= AGES[-1]:
            raise InputError(
                f"{name} row 1, column {column}: ages {lo}-{hi} are not a band "
                f"(from 0 to {AGES[-1]}, low <= high)"
            )
    return bands


def _date(text: str, where: str, before: list[dt.date]) -> dt.date:
    """An ISO date after the last of ``before``."""
    try:
        date = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{where}: {text!r} is not an ISO date (YYYY-MM-DD)") from None
    if before and date <= before[-1]:
        raise InputError(f"{where}: {date} does not come after the row above ({before[-1]})")
    return date


def _check_cases_below_members(frame: pd.DataFrame, bands: list[str], where: list[str]) -> None:
    """Refuse a row whose cases are not fewer than its members (a claimant is a member, and
    the hazard of a whole pool falling ill in half a month is beyond any table), overall and
    in each age band; ``where`` names each row."""
    pairs = [("members", "cases")] + [(f"members_{c[6:]}", c) for c in bands if c[0] == "c"]
    for members_column, cases_column in pairs:
        members, cases = frame[members_column].to_numpy(), frame[cases_column].to_numpy()
        bad = np.flatnonzero((cases > 0) & (cases >= members))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{where[i]}, column {cases_column}: {cases[i]:g} cases among "
                f"{members[i]:g} members ({members_column}); cases must be fewer than members"
            )


def check_frame(data: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame of observations, checked as ``read_observations`` checks a file."""
    missing = [c for c in ("members", "cases") if c not in data]
    if missing:
        raise InputError(f"data: column(s) {', '.join(missing)} missing")
    if not isinstance(data.index, pd.DatetimeIndex) or not data.index.is_monotonic_increasing:
        raise InputError("data: the index must be increasing period dates")
    numbers = data.select_dtypes("number")
    if (numbers < 0).any().any():
        raise InputError("data: counts and amounts must be >= 0")
    frame = data.astype(float)
    bands = [c for c in frame.columns if BAND_COLUMN.fullmatch(str(c))]
    _check_cases_below_members(frame, bands, [f"data period {d.date()}" for d in frame.index])
    return frame
