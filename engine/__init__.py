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
    # scenarios and plans
    "InputError": "engine.errors",
    "PLANS": "engine.plans",
    "Plan": "engine.plans",
    "Scenario": "engine.scenario",
    "ScenarioError": "engine.scenario",
    "get_plan": "engine.plans",
    "load_scenario": "engine.scenario",
    "scenario_from_dict": "engine.scenario",
    # running
    "simulate": "engine.simulate",
    "simulate_tail": "engine.tail",
    "sweep": "engine.sweep",
    # risk measures and policy
    "capital": "engine.policy",
    "closure_summary": "engine.results",
    "control_variate": "engine.tail",
    "summary": "engine.results",
    "tail_components": "engine.results",
    "tail_estimates": "engine.tail",
    # exact answers and fits
    "calibrate": "engine.calibrate",
    "compound_poisson": "engine.exact",
    "member_share": "engine.expected",
    "pool_cost": "engine.expected",
    # results on disk, figures, reports
    "open_result": "engine.io",
    "plot": "engine.plotting",
    "rerun": "engine.io",
    "save": "engine.io",
    "write_report": "engine.report",
}
"""Each public name and the module it lives in: the entry points of the README."""

__all__ = sorted([*_HOME, "__version__"])

if TYPE_CHECKING:  # the names for type checkers and editors; at run time, __getattr__
    from engine.calibrate import calibrate
    from engine.errors import InputError
    from engine.exact import compound_poisson
    from engine.expected import member_share, pool_cost
    from engine.io import open_result, rerun, save
    from engine.plans import PLANS, Plan, get_plan
    from engine.plotting import plot
    from engine.policy import capital
    from engine.report import write_report
    from engine.results import closure_summary, summary, tail_components
    from engine.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
    from engine.simulate import simulate
    from engine.sweep import sweep
    from engine.tail import control_variate, simulate_tail, tail_estimates


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
