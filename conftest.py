"""Doctest namespace: ``np``, ``pd``, ``xr``, ``load_scenario`` and a small run ``ds``.

``ds`` is 相互宝 at its 2020 size over one year, 40 paths, seed 1: the examples in the
docstrings run on it instead of being skipped.
"""

from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr


@pytest.fixture(scope="session")
def _doctest_run() -> xr.Dataset:
    from engine.scenario import load_scenario
    from engine.simulate import simulate

    return simulate(load_scenario("scenarios/xianghubao.toml"), paths=40, seed=1, years=1)


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, Any], request: pytest.FixtureRequest) -> None:
    doctest_namespace.update(np=np, pd=pd, xr=xr)
    if isinstance(request.node, pytest.DoctestItem):
        from engine.scenario import load_scenario

        doctest_namespace.update(ds=request.getfixturevalue("_doctest_run"))
        doctest_namespace.update(load_scenario=load_scenario)
