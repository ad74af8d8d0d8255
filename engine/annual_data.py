"""Published annual figures: cases and shares by year, and membership milestones.

Two forms are read: a table by year (``year, cases [, members, share]``) and published
facts, one a row (``date, metric, value, unit, note, source``), as the bundled
``engine.tables.published`` data.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.errors import InputError
from engine.period_data import read_cell


@dataclass(frozen=True)
class Annual:
    """Published annual figures: ``rows`` (index ``year``; ``cases``, ``share`` per member,
    NaN where not published) and, when published, membership ``milestones`` (by date)."""

    rows: pd.DataFrame
    milestones: pd.Series | None
    source: str


def annual_from_published(facts: pd.DataFrame, source: str = "published") -> Annual:
    """Annual rows and membership milestones from facts in the form of ``tables.published``.

    Rows come from ``cases_in_year`` and ``annual_share_per_member``; milestones from
    ``members`` at dates, the ``launch`` (no members yet) and a year's ``members_peak``,
    placed at the end of its year (an assumption: 相互宝 gave no date for its peak).

    Examples
    --------
    >>> from engine.tables import published
    >>> data = annual_from_published(published())
    >>> data.rows.loc[2020, "cases"], int(data.milestones.iloc[0])
    (np.float64(68675.0), 0)
    """
    yearly = facts[facts["date"].str.fullmatch(r"\d{4}")]
    rows = yearly.pivot_table(index="date", columns="metric", values="value", aggfunc="first")
    rows = rows.rename(columns={"cases_in_year": "cases", "annual_share_per_member": "share"})
    if "cases" not in rows:
        raise InputError(
            f"{source}, column metric: no cases_in_year rows; the annual cases are needed"
        )
    rows = rows.reindex(columns=["cases", "share"])
    rows.index = rows.index.astype(int).rename("year")
    rows = rows[rows["cases"].notna()].astype(float)
    dated = facts[facts["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}")]
    points = dated[dated["metric"] == "members"].set_index("date")["value"]
    launch = dated[dated["metric"] == "launch"]["date"]
    if not launch.empty:
        points = pd.concat([pd.Series([0.0], index=[launch.iloc[0]]), points])
    peaks = yearly[yearly["metric"] == "members_peak"].set_index("date")["value"]
    points = pd.concat([points, peaks.rename(lambda y: f"{y}-12-31")])
    milestones = None
    if not points.empty:
        milestones = points.astype(float).sort_index()
        milestones.index = pd.DatetimeIndex(milestones.index, name="date")
    return Annual(rows.sort_index(), milestones, source)


ANNUAL_HEADERS = (("year", "cases"), ("date", "metric", "value"))
"""The columns of the two annual forms: a table by year, or published facts."""


def is_annual(path: str | Path) -> bool:
    """Whether the CSV file's header is one of the annual forms (``ANNUAL_HEADERS``)."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as f:
            header = {h.strip() for h in next(csv.reader(f), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return any(set(form) <= header for form in ANNUAL_HEADERS)


def read_annual(path: str | Path) -> Annual:
    """Annual rows from a CSV file in one of two forms.

    Published facts (``date, metric, value, ...``, as ``engine.tables.published``): see
    ``annual_from_published``. A table by year: ``year`` and ``cases``, optional ``share``
    (per member, yuan) and ``members`` (the year's mean membership, placed at July 1 and
    linear in between; before the first July 1, the first year's members, seasoned).

    Examples
    --------
    >>> from importlib import resources
    >>> data = read_annual(resources.files("engine.tables") / "xianghubao_published.csv")
    >>> data.rows.index.tolist(), data.source
    ([2019, 2020], 'xianghubao_published.csv')
    """
    path = Path(path)
    name = path.name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{name}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    if set(ANNUAL_HEADERS[1]) <= set(frame.columns):
        values = [
            read_cell(v, f"{name} row {i + 2}, column value", False)
            for i, v in enumerate(frame["value"])
        ]
        return annual_from_published(frame.assign(value=values), name)
    if not set(ANNUAL_HEADERS[0]) <= set(frame.columns):
        raise InputError(f"{name} row 1: expected the columns year, cases [, members, share]")
    rows, points = [], {}
    for i, r in enumerate(frame.to_dict("records")):
        where = f"{name} row {i + 2}"
        year = r["year"].strip()
        if not (year.isdigit() and 1900 <= int(year) <= 2200):
            raise InputError(f"{where}, column year: {year!r} is not a year from 1900 to 2200")
        cases = read_cell(r["cases"], f"{where}, column cases", True)
        share = read_cell(r.get("share", ""), f"{where}, column share", False)
        members = read_cell(r.get("members", ""), f"{where}, column members", True)
        if cases > 0 and not math.isnan(members) and not cases < members:
            raise InputError(
                f"{where}, column cases: {cases:g} cases among {members:g} members; cases must "
                "be fewer than members"
            )
        rows.append((int(year), cases, share))
        if not math.isnan(members):
            points[pd.Timestamp(int(year), 7, 1)] = members
    table = pd.DataFrame(rows, columns=["year", "cases", "share"]).set_index("year")
    if table.index.has_duplicates or not table.index.is_monotonic_increasing:
        raise InputError(
            f"{name}, column year: the years must be increasing, got {table.index.tolist()}"
        )
    milestones = None
    if points:
        first = min(points)
        points[pd.Timestamp(first.year, 1, 1)] = points[first]
        milestones = pd.Series(points, dtype=float).sort_index()
    return Annual(table[table["cases"].notna()], milestones, name)
