"""Bundled tables: incidence by name, the CNNIC age mix."""

import re

import numpy as np
import pytest

from engine.errors import InputError
from engine.tables import MANIFEST, age_mix, age_weights, incidence, incidence_by_sex


def test_tables_load_by_name_and_check_values():
    assert {"CI1", "CI2", "CI3", "CI4"} <= set(MANIFEST)
    for name in ("CI1", "CI2", "CI3", "CI4"):
        q = incidence(name)
        assert q.shape == (106,) and (q > 0).all() and (q < 1).all()
    assert incidence("CI3")[35] == 0.001396
    assert incidence("CI4")[0] == 0.000815
    assert incidence("CI4")[60] > incidence("CI4")[30]
    np.testing.assert_array_equal(incidence_by_sex("ci25")[1], incidence("CI4"))


def test_unknown_table_lists_valid_names():
    with pytest.raises(KeyError, match="valid names: CI1, CI2, CI3, CI4"):
        incidence("CI9")
    with pytest.raises(KeyError, match="ci6, ci25"):
        incidence_by_sex("ci99")


def test_age_mix_follows_cnnic_bands():
    mix = age_mix("cnnic44")
    assert mix.sum() == pytest.approx(1.0)
    assert mix[20:30].sum() == pytest.approx(0.246)
    assert mix[30:40].sum() == pytest.approx(0.237)
    assert mix[10:50].sum() == pytest.approx(0.824)  # 65.1 + 17.3; docs/model.md rounds to 82.5


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"20-x": 1.0}, "band '20-x' is not 'age' or 'low-high'"),
        ({"90-200": 1.0}, "band '90-200' must lie within ages 0-105"),
        ({"30": -1.0, "40": 2.0}, "band '30': weight -1.0 must be a number >= 0"),
        ({"30": 0.5}, "weights sum to 0.5, not 1"),
    ],
)
def test_a_bad_age_band_is_the_engines_own_input_error(mix: dict, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        age_weights(mix)
