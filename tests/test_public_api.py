"""The public API is pinned: a change to it is a deliberate change to this list.

It is the README's entry points and ``__version__``; each exported function documents its
parameters and what it returns, and shows a runnable example (the doctests run them).
"""

import inspect
import re
import subprocess
import sys

import engine

PUBLIC = {
    "InputError",
    "PLANS",
    "Plan",
    "Scenario",
    "ScenarioError",
    "__version__",
    "calibrate",
    "capital",
    "closure_summary",
    "compound_poisson",
    "control_variate",
    "get_plan",
    "load_scenario",
    "member_share",
    "open_result",
    "plot",
    "pool_cost",
    "rerun",
    "save",
    "scenario_from_dict",
    "simulate",
    "simulate_tail",
    "summary",
    "sweep",
    "tail_components",
    "tail_estimates",
    "write_report",
}

SECTIONS = ("Parameters", "Returns", "Examples")


def _missing(name: str) -> list[str]:
    doc = inspect.getdoc(getattr(engine, name)) or ""
    return [s for s in SECTIONS if not re.search(rf"^{s}\n-{{{len(s)}}}$", doc, re.M)]


def test_public_api_is_pinned() -> None:
    assert set(engine.__all__) == PUBLIC
    assert len(engine.__all__) == len(PUBLIC)
    for name in PUBLIC:
        assert getattr(engine, name) is not None, name


def test_table_helpers_and_the_second_writer_are_not_exported_but_still_importable() -> None:
    from engine.io import to_netcdf
    from engine.tables import age_mix, incidence

    for name in ("age_mix", "incidence", "to_netcdf"):
        assert name not in engine.__all__
    assert callable(age_mix) and callable(incidence) and callable(to_netcdf)


def test_submodules_named_like_functions_leave_the_functions_in_place() -> None:
    """``engine.calibrate`` and ``engine.sweep`` are modules and exported functions: once
    the module is imported, the package attribute stays the function."""
    import engine.calibrate
    import engine.sweep

    for name in ("calibrate", "sweep", "simulate"):
        assert inspect.isfunction(getattr(engine, name)), name


def test_every_exported_function_has_full_numpydoc_with_a_runnable_example() -> None:
    functions = sorted(n for n in PUBLIC if inspect.isfunction(getattr(engine, n, None)))
    assert len(functions) >= 20
    incomplete = {name: _missing(name) for name in functions if _missing(name)}
    assert not incomplete
    for name in functions:
        assert "+SKIP" not in (inspect.getdoc(getattr(engine, name)) or ""), name


def test_import_engine_loads_no_numerical_library() -> None:
    code = (
        "import sys, engine; engine.__all__; "
        "print(sorted(m for m in ('numba', 'xarray', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
