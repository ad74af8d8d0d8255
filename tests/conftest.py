"""Shared helpers: small scenarios built in code."""

from typing import Any

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
