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
"""

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from engine.errors import UnknownNameError

AGES = np.arange(106)
"""Ages covered by the incidence tables (age last birthday)."""


@dataclass(frozen=True)
class TableInfo:
    """One entry of the manifest."""

    file: str
    description: str
    sex: str = ""
    diseases: int = 0


MANIFEST: dict[str, TableInfo] = {
    "CI1": TableInfo("ci_2006_2010.csv", "6 core critical illnesses, male", "M", 6),
    "CI2": TableInfo("ci_2006_2010.csv", "6 core critical illnesses, female", "F", 6),
    "CI3": TableInfo("ci_2006_2010.csv", "25 critical illnesses, male", "M", 25),
    "CI4": TableInfo("ci_2006_2010.csv", "25 critical illnesses, female", "F", 25),
    "cnnic44": TableInfo("cnnic44_age_structure.csv", "internet users by age band, June 2019"),
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
    _check_name(name, [k for k, v in MANIFEST.items() if not v.diseases], "age-structure table")
    return _age_mix(name)
