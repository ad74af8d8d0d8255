"""Bundled calibration tables, listed in one manifest and loaded by name.

Provenance
----------
``ci_2006_2010.csv``
    China life-insurance industry critical-illness experience table 2006-2010
    (《中国人身保险业重大疾病经验发生率表（2006-2010）》, issued with 保监发〔2013〕81号):
    annual incidence of a first diagnosis by age last birthday 0..105. CI1/CI2: the 6 core
    critical illnesses (male/female, 5 decimals); CI3/CI4: 25 critical illnesses
    (male/female, 6 decimals). Cross-checked sources are listed in the project's data notes.
``cnnic44_age_structure.csv``
    Share of internet users by age band, CNNIC 44th Statistical Report (June 2019).
``xianghubao_published.csv``
    What 相互宝 (Ant Group's mutual-aid plan) published from launch (2018-10-16) to its end
    (2022-01-28): membership milestones, cases and shares per member by calendar year, the
    closure notice. One fact a row (``date``: an ISO date or a year; ``metric``; ``value``;
    ``unit``; ``note``), each with its ``source`` (press releases, the plan's annual bill and
    operating report, news reports).
"""

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from engine.errors import InputError, UnknownNameError

AGES = np.arange(106)
"""Ages covered by the incidence tables (age last birthday)."""


@dataclass(frozen=True)
class TableInfo:
    """One entry of the manifest."""

    file: str
    description: str
    sex: str = ""
    diseases: int = 0
    kind: Literal["incidence", "age_mix", "published"] = "incidence"


MANIFEST: dict[str, TableInfo] = {
    "CI1": TableInfo("ci_2006_2010.csv", "6 core critical illnesses, male", "M", 6),
    "CI2": TableInfo("ci_2006_2010.csv", "6 core critical illnesses, female", "F", 6),
    "CI3": TableInfo("ci_2006_2010.csv", "25 critical illnesses, male", "M", 25),
    "CI4": TableInfo("ci_2006_2010.csv", "25 critical illnesses, female", "F", 25),
    "cnnic44": TableInfo(
        "cnnic44_age_structure.csv", "internet users by age band, June 2019", kind="age_mix"
    ),
    "xianghubao_published": TableInfo(
        "xianghubao_published.csv", "相互宝's published facts 2018-2022", kind="published"
    ),
}
"""Every bundled table, by name."""

INCIDENCE_SETS = {"ci6": ("CI1", "CI2"), "ci25": ("CI3", "CI4")}
"""Incidence definitions as (male table, female table)."""

# Ages each CNNIC band is spread over (uniformly) when building an age mix.
_CNNIC_BAND_AGES = {
    "under 10": (0, 9),
    "10-19": (10, 19),
    "20-29": (20, 29),
    "30-39": (30, 39),
    "40-49": (40, 49),
    "50+": (50, 69),
}


def _check_name(name: str, valid: list[str], what: str) -> None:
    if name not in valid:
        raise UnknownNameError(f"unknown {what} {name!r}; valid names: {', '.join(valid)}")


def _read_rows(file: str) -> list[list[str]]:
    text = resources.files(__package__).joinpath(file).read_text(encoding="utf-8")
    return [line.split(",") for line in text.splitlines()[1:] if line.strip()]


@cache
def _incidence(name: str) -> np.ndarray:
    rows = [r for r in _read_rows(MANIFEST[name].file) if r[0] == name]
    q = np.zeros(AGES.size)
    for row in rows:
        q[int(row[3])] = float(row[4])
    q.flags.writeable = False
    return q


def incidence(name: str) -> np.ndarray:
    """Annual incidence by age 0..105 of the incidence table ``name`` (CI1..CI4).

    Examples
    --------
    >>> float(incidence("CI3")[35])
    0.001396
    """
    _check_name(name, [k for k, v in MANIFEST.items() if v.diseases], "incidence table")
    return _incidence(name)


def incidence_by_sex(table: str) -> np.ndarray:
    """Incidence of the definition ``table`` ("ci25" or "ci6") as an array [sex, age]; sex 0 = M."""
    _check_name(table, list(INCIDENCE_SETS), "incidence definition")
    return np.stack([incidence(name) for name in INCIDENCE_SETS[table]])


@cache
def _age_mix(name: str) -> np.ndarray:
    weights = np.zeros(AGES.size)
    for band, share, _status in _read_rows(MANIFEST[name].file):
        if band in _CNNIC_BAND_AGES:
            lo, hi = _CNNIC_BAND_AGES[band]
            weights[lo : hi + 1] += float(share) / (hi - lo + 1)
    weights /= weights.sum()
    weights.flags.writeable = False
    return weights


def age_mix(name: str = "cnnic44") -> np.ndarray:
    """Age distribution (sums to 1 over ages 0..105) of an age-structure table.

    Each published band is spread evenly over its ages; "50+" is spread over 50-69.

    Examples
    --------
    >>> round(float(age_mix()[20:30].sum()), 3)
    0.246
    """
    mixes = [k for k, v in MANIFEST.items() if v.kind == "age_mix"]
    _check_name(name, mixes, "age-structure table")
    return _age_mix(name)


AgeMix = str | dict[str, float]
"""An age mix: a bundled table's name, or age bands ``{"18-29": 0.35, "30": 0.01, ...}``
(weights spread evenly over each band's ages). A path ending in ``.csv`` (rows ``age,
weight``) is read into bands when the scenario is validated."""


def read_age_csv(path: str) -> dict[str, float]:
    """The ``age,weight`` rows of a CSV file as single-age bands (a header line is skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the age-mix file {path} ({exc})") from None
    bands: dict[str, float] = {}
    for number, line in enumerate(lines, 1):
        cells = [c.strip() for c in line.split(",")]
        if not line.strip() or (number == 1 and not cells[0].isdigit()):
            continue
        try:
            age, weight = int(cells[0]), float(cells[1])
        except (ValueError, IndexError):
            raise InputError(f"{path} line {number}: expected 'age,weight'") from None
        bands[str(age)] = bands.get(str(age), 0.0) + weight
    return bands


def _band(band: str) -> tuple[int, int]:
    lo, _, hi = band.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise InputError(f"band {band!r} is not 'age' or 'low-high'") from None
    if not 0 <= first <= last <= AGES[-1]:
        raise InputError(f"band {band!r} must lie within ages 0-{AGES[-1]}")
    return first, last


def age_weights(mix: AgeMix) -> np.ndarray:
    """Weights over ages 0..105 of an age mix (a name, or bands summing to 1).

    Examples
    --------
    >>> w = age_weights({"20-29": 0.5, "40": 0.5})
    >>> float(w[25]), float(w[40]), float((w * AGES).sum())
    (0.05, 0.5, 32.25)
    """
    if isinstance(mix, str):
        return age_mix(mix)
    weights = np.zeros(AGES.size)
    for band, weight in mix.items():
        first, last = _band(band)
        if not (math.isfinite(weight) and weight >= 0):
            raise InputError(f"band {band!r}: weight {weight!r} must be a number >= 0")
        weights[first : last + 1] += weight / (last - first + 1)
    total = float(sum(mix.values()))
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise InputError(f"weights sum to {total:g}, not 1")
    return weights


def published(name: str = "xianghubao_published") -> "pd.DataFrame":
    """A platform's published facts, one a row, with their sources.

    Columns ``date`` (an ISO date, or a year for annual figures), ``metric``, ``value``
    (float, NaN for events without a value), ``unit``, ``note`` and ``source``.

    Examples
    --------
    >>> facts = published()
    >>> facts.set_index(["date", "metric"]).loc[("2020", "cases_in_year"), "value"]
    np.float64(68675.0)
    >>> facts["source"].str.len().gt(0).all()
    np.True_
    """
    _check_name(name, [k for k, v in MANIFEST.items() if v.kind == "published"], "published data")
    with resources.files(__package__).joinpath(MANIFEST[name].file).open(encoding="utf-8") as f:
        import pandas as pd  # only here: the light commands never read published facts

        frame = pd.read_csv(f, dtype={"date": str, "unit": str, "note": str, "source": str})
    return frame.fillna({"unit": "", "note": ""})
