"""Kernel inputs against truths computed here from the incidence table file and the plan.

``tests/reference.py`` is fed by ``prepare()``, so it cannot see a bug there; these do:
a hazard not ``-log(1 - q m) / 24`` or read from the wrong sex or table, a discount factor
off by a period, a fee converted per month instead of per half-month, benefits in the wrong
age band, calendar years turning on the wrong period.
"""

import csv
from pathlib import Path

import numpy as np
import pytest

from engine.kernel_inputs import PAR
from engine.scenario_inputs import prepare
from tests.conftest import make_scenario

TABLE = Path(__file__).resolve().parent.parent / "engine" / "tables" / "ci_2006_2010.csv"


def _incidence(table: str, sex: str) -> np.ndarray:
    with open(TABLE, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["table"] == table and r["sex"] == sex]
    q = np.zeros(106)
    for r in rows:
        q[int(r["age"])] = float(r["incidence"])
    return q


def test_hazard_from_the_table_file():
    s = make_scenario(incidence={"table": "ci25", "multiplier": 0.5, "impaired_multiplier": 3.0})
    hazard = prepare(s).hazard
    for sex, (table, code) in enumerate((("CI3", "M"), ("CI4", "F"))):
        q = _incidence(table, code)
        for c, factor in enumerate((0.5, 1.5)):
            np.testing.assert_allclose(hazard[sex, :, c], -np.log(1 - q * factor) / 24, rtol=1e-12)
    ci6 = prepare(make_scenario(incidence={"table": "ci6", "multiplier": 1.0})).hazard
    np.testing.assert_allclose(ci6[1, 40, 0], -np.log(1 - _incidence("CI2", "F")[40]) / 24)


def test_discount_benefits_fees_and_calendar_from_the_plan():
    s = make_scenario(
        "xianghubao", plan={"fee": {"rate": 0.08, "per_member_month": 3.0}}, run={"years": 2}
    )
    s = s.replace(discount_rate=0.05)
    inputs = prepare(s)
    t = np.arange(48)
    np.testing.assert_allclose(inputs.discount, 1.05 ** (-(t + 1) / 24), rtol=1e-14)
    # 相互宝 standard: 300,000 yuan to age 39, 100,000 from 40 to 59, nothing above
    assert inputs.benefit[[0, 39, 40, 59, 60]].tolist() == [300_000, 300_000, 100_000, 100_000, 0]
    assert inputs.case_cost[30] == pytest.approx(300_000 * 1.08)
    assert inputs.par[PAR["member_fee"]] == pytest.approx(1.5)  # 3 a month, two periods a month
    # from 2020-08-01: periods 0..9 are Aug 1 .. Dec 15, period 10 is 2021-01-01
    assert np.flatnonzero(inputs.new_year).tolist() == [0, 10, 34]
    assert np.flatnonzero(inputs.age_up).tolist() == [23, 47]
