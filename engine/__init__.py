"""huzhu: a Monte Carlo risk engine for the implicit liability of online mutual-aid platforms."""

from engine.exact import compound_poisson
from engine.expected import member_share, pool_cost
from engine.io import open_result, rerun, save, to_netcdf
from engine.plans import PLANS, Plan, get_plan
from engine.results import closure_summary, summary, tail_components
from engine.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from engine.simulate import simulate
from engine.tables import age_mix, incidence

__all__ = [
    "PLANS",
    "Plan",
    "Scenario",
    "ScenarioError",
    "age_mix",
    "closure_summary",
    "compound_poisson",
    "get_plan",
    "incidence",
    "load_scenario",
    "member_share",
    "open_result",
    "pool_cost",
    "rerun",
    "save",
    "scenario_from_dict",
    "simulate",
    "summary",
    "tail_components",
    "to_netcdf",
]
