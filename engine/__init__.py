"""huzhu: a Monte Carlo risk engine for the implicit liability of online mutual-aid platforms.

The public names below are imported when first used, so that ``import engine`` (and the
``huzhu`` command line) does not load numba, xarray and scipy until a name that needs them is
touched.
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
"""The version, declared once: the package metadata (pyproject.toml) reads it from here."""

_HOME: dict[str, str] = {
    "PLANS": "engine.plans",
    "Plan": "engine.plans",
    "Scenario": "engine.scenario",
    "ScenarioError": "engine.scenario",
    "age_mix": "engine.tables",
    "closure_summary": "engine.results",
    "compound_poisson": "engine.exact",
    "get_plan": "engine.plans",
    "incidence": "engine.tables",
    "load_scenario": "engine.scenario",
    "member_share": "engine.expected",
    "open_result": "engine.io",
    "pool_cost": "engine.expected",
    "rerun": "engine.io",
    "save": "engine.io",
    "scenario_from_dict": "engine.scenario",
    "simulate": "engine.simulate",
    "summary": "engine.results",
    "tail_components": "engine.results",
    "to_netcdf": "engine.io",
}
"""Each public name and the module it lives in."""

__all__ = sorted(_HOME)

if TYPE_CHECKING:  # the names for type checkers and editors; at run time, __getattr__
    from engine.exact import compound_poisson
    from engine.expected import member_share, pool_cost
    from engine.io import open_result, rerun, save, to_netcdf
    from engine.plans import PLANS, Plan, get_plan
    from engine.results import closure_summary, summary, tail_components
    from engine.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
    from engine.simulate import simulate
    from engine.tables import age_mix, incidence


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """The package object: a submodule named like a public function (``engine.simulate``)
    does not replace the function when the submodule is imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
