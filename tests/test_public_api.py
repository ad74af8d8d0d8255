"""The public API is pinned: a change to it is a deliberate change to this list."""

import engine

PUBLIC = {
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
}


def test_public_api_is_pinned():
    assert set(engine.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(engine, name) is not None
