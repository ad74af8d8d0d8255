"""Shared fixtures and helpers: small scenarios built in code, a folder for generated files.

The tests mirror the package: the tests of ``engine/<module>.py`` are in
``test_<module>.py``. Bad-input tests (generated or damaged files and values) of a module
may live in ``test_<module>_inputs.py`` and extreme-value tests (sizes, bounds, I/O
failures) in ``test_<module>_extremes.py``; the generators and helpers they share are in
``tests/inputs.py``, the reference implementation in ``tests/reference.py``. Generated
tests take their size from ``HUZHU_TEST_SCALE`` (see ``tests/inputs.py``).
"""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from engine.scenario import Scenario, scenario_from_dict

# generated examples are the same on every run: property tests cannot flake
settings.register_profile("huzhu", derandomize=True, deadline=None, database=None)
settings.load_profile("huzhu")


def make_scenario(
    preset: str = "xianghubao",
    members: int = 100_000,
    plan: dict[str, Any] | None = None,
    **sections: Any,
) -> Scenario:
    """A scenario from a preset with ``section={...}`` updates (``run``, ``claims``, ...).

    Termination is off unless a test sets it: the core checks use pools of any size.
    """
    data: dict[str, Any] = {
        "plan": {"preset": preset, **(plan or {})},
        "population": {"members": members},
        "run": {"paths": 50, "years": 1},
        "termination": {"min_members": 0},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return scenario_from_dict(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hardening")
