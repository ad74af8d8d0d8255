"""The scenario loader and models. Every field is documented (the site's scenario reference
is generated from the descriptions). Bad input never crashes: generated scenario files (the
bundled ones with junk fields, damaged bytes) either load and run or are refused naming the
field, at the loader and at ``huzhu run``; every bounded field runs at its bounds and is
refused beyond them. The edge cases at the end once broke validation: unhashable presets,
deep nesting, huge values in messages, amounts and counts without an upper bound, dates
results cannot hold."""

import datetime as dt
import errno
import math
import re
import tomllib
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import annotated_types as at
import pytest
import tomli_w
from hypothesis import event, given
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine.checks import check_result
from engine.plans import PLANS, Fee
from engine.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from engine.simulate import simulate
from tests.conftest import make_scenario
from tests.inputs import (
    BAND,
    FAST,
    LONGEST_PROBLEM,
    _set,
    assert_one_line_error,
    assert_rejected_well,
    captured_runs,
    cli,
    damaged_bytes,
    examples,
    huzhu,
    scenario_docs,
)


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models(argument)


def _undocumented(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    seen.add(model)
    missing = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            missing.append(f"{model.__name__}.{name}")
        for sub in _models(field.annotation):
            if sub not in seen:
                missing += _undocumented(sub, seen)
    return missing


def test_every_scenario_field_has_a_description() -> None:
    """Red if a field is added to a section, the plan, a tier, a fee, a band or an event
    without a description: the scenario reference would show an empty cell."""
    seen: set[type[BaseModel]] = set()
    assert _undocumented(Scenario, seen) == []
    names = {m.__name__ for m in seen}
    assert {"Plan", "Tier", "Fee", "Band", "Event", "Run", "Policy"} <= names


STATS: dict[str, int] = {}


def _tally(name: str) -> None:
    STATS[name] = STATS.get(name, 0) + 1
    event(name)


@examples(3000)
@given(doc=scenario_docs())
def test_load_scenario_runs_or_names_the_field(folder: Path, doc: dict[str, Any]) -> None:
    path = folder / "mutated.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    _tally("load_scenario: written")
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert_rejected_well(exc, doc)
    else:
        _tally("load_scenario: valid")


@examples(1500)
@given(raw=damaged_bytes())
def test_load_scenario_survives_damaged_bytes(folder: Path, raw: bytes) -> None:
    path = folder / "damaged.toml"
    path.write_bytes(raw)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))  # as load_scenario reads it
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        doc = None
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert_rejected_well(exc, doc)
        if doc is None:
            assert exc.problems[0].startswith("not a valid TOML file")


@examples(1200)
@given(doc=scenario_docs())
def test_cli_run_exits_0_or_2_and_results_are_healthy(folder: Path, doc: dict[str, Any]) -> None:
    path = folder / "cli.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    _tally("cli run: tried")
    try:
        load_scenario(path)
        expected = None
    except ScenarioError as exc:
        expected = f"error: {exc}\n"
    with captured_runs() as runs:
        code, out, err, warned = cli(["run", str(path), *FAST])
    if expected is not None:
        assert (code, err) == (2, expected)
        return
    _tally("cli run: ran")
    assert code == 0, err
    assert not warned, warned
    assert err == "" and "liability, discounted" in out
    check_result(runs[0])


def test_generated_inputs_reach_the_runs() -> None:
    """The generators are useful: many scenario files are valid and run (when this test
    follows the generated ones in the same session)."""
    if "load_scenario: written" not in STATS:
        pytest.skip("run with the generated tests")
    assert STATS.get("load_scenario: valid", 0) > 0.1 * STATS["load_scenario: written"]
    assert STATS.get("cli run: ran", 0) > 0.1 * STATS["cli run: tried"]


HEAD = '[plan]\npreset = "xianghubao"\n[population]\nmembers = 1000\n'


def _load(tmp_path: Path, text: str | bytes) -> Scenario:
    path = tmp_path / "s.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def _problem(exc: pytest.ExceptionInfo[ScenarioError]) -> str:
    """The one problem of a ScenarioError, checked to be one short line."""
    assert len(exc.value.problems) == 1, exc.value.problems
    problem = exc.value.problems[0]
    assert "\n" not in str(exc.value) and len(problem) < LONGEST_PROBLEM, problem[:200]
    return problem


@pytest.mark.parametrize("preset", ["[]", '["xianghubao"]', "{a = 1}"])
def test_preset_that_is_not_a_string_is_a_scenario_error(tmp_path: Path, preset: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, f"[plan]\npreset = {preset}\n[population]\nmembers = 5\n")
    assert _problem(info) == (
        f"plan.preset: unknown plan {tomllib.loads(f'x = {preset}')['x']!r}; "
        f"valid plans: {', '.join(PLANS)}"
    )


@pytest.mark.parametrize(
    "value",
    [
        "{a=" * 3000 + "1" + "}" * 3000,
        "[" * 3000 + "]" * 3000,
    ],
    ids=["inline tables", "arrays"],
)
def test_deeply_nested_values_are_a_scenario_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, HEAD + f"x = {value}\n")
    assert _problem(info) == "not a valid TOML file (nested too deeply)"


def test_deeply_nested_dotted_key_is_a_scenario_error(tmp_path: Path) -> None:
    """Dotted keys nest without recursion in the parser: the message cuts the value."""
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, HEAD + "x." + ".".join(["a"] * 5000) + " = 1\n")
    problem = _problem(info)
    assert problem.startswith("population.x: Extra inputs are not permitted (got {'a': ")
    assert "..." in problem and len(problem) < 200


def test_very_long_string_gives_a_short_message(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, HEAD.replace("1000", '"' + "9" * 1_000_000 + '"'))
    problem = _problem(info)
    assert problem.startswith("population.members: ")
    assert re.search(r"\(got '9+\.\.\.9+'\)$", problem), problem
    assert len(str(info.value)) < 2000


@pytest.mark.parametrize(
    "path",
    [
        ("plan", "tier"),
        ("incidence", "table"),
        ("population", "age_mix"),
        ("growth", "age_mix"),
    ],
    ids=lambda p: ".".join(p),
)
def test_a_very_long_unknown_name_gives_a_short_message(path: tuple[str, str]) -> None:
    """The names checked against the plan's tiers and the bundled tables are quoted cut,
    like every other value."""
    data: dict[str, Any] = {"plan": {"preset": "xianghubao"}, "population": {"members": 1000}}
    _set(data, path, "x" * 100_000)
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    where = "tier" if path == ("plan", "tier") else ".".join(path)
    assert re.fullmatch(rf"{re.escape(where)}: 'x+\.\.\.x+' is unknown; valid: .+", _problem(info))


def test_key_with_a_newline_gives_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(HEAD + '"bad\\nkey" = 1\n', encoding="utf-8")
    code, _, err, _ = cli(["run", str(path), *FAST])
    assert code == 2
    assert_one_line_error(err)
    assert "population.'bad\\nkey': Extra inputs are not permitted" in err


def test_a_folder_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read the file (Is a directory)"


def test_an_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(HEAD, encoding="utf-8")
    denied = PermissionError(errno.EACCES, "Permission denied")
    with (
        mock.patch.object(Path, "read_text", side_effect=denied),
        pytest.raises(ScenarioError) as info,
    ):
        load_scenario(path)
    assert str(info.value) == f"{path}: cannot read the file (Permission denied)"


def test_a_folder_at_the_cli_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, err, _ = cli(["run", str(tmp_path), *FAST])
    assert code == 2
    assert_one_line_error(err)
    assert "cannot read the file" in err


def test_bom_and_utf16_are_rejected_as_not_toml(tmp_path: Path) -> None:
    """A UTF-8 BOM (which Windows editors write) is rejected today, with a clear message."""
    for raw in (b"\xef\xbb\xbf" + HEAD.encode(), HEAD.encode("utf-16")):
        with pytest.raises(ScenarioError, match="not a valid TOML file"):
            _load(tmp_path, raw)


def _min_members(where: str, value: int) -> str:
    if where == "plan":
        return HEAD.replace("[population]", f"min_members = {value}\n[population]")
    return HEAD + f"[termination]\nmin_members = {value}\n"


@pytest.mark.parametrize("where", ["plan", "termination"])
def test_min_members_is_at_most_ten_billion(tmp_path: Path, where: str) -> None:
    path = tmp_path / "s.toml"
    for value in (10**10 + 1, 2**63):
        path.write_text(_min_members(where, value), encoding="utf-8")
        code, _, err, _ = cli(["run", str(path), *FAST])
        assert code == 2
        assert_one_line_error(err)
        assert f"{where}.min_members: Input should be less than or equal to 10000000000" in err
    # the bound itself runs: a plan of 1,000 members closes at once
    path.write_text(_min_members(where, 10**10), encoding="utf-8")
    with captured_runs() as runs:
        code, _, err, _ = cli(["run", str(path), *FAST])
    assert code == 0, err
    assert (runs[0]["closure_period"] == 0).all()
    check_result(runs[0])


def _growth_table(entry: float) -> dict[str, Any]:
    return {
        "plan": {"preset": "xianghubao"},
        "population": {"members": 1000},
        "growth": {"curve": "table", "table": [5.0, entry]},
        "termination": {"min_members": 0},
    }


@pytest.mark.parametrize("entry", [math.nextafter(1e9, math.inf), 1e19, math.inf, -1.0])
def test_growth_table_entries_are_from_0_to_a_billion(entry: float) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(_growth_table(entry))
    assert "growth.table: every entry must be a number from 0 to 1e9" in _problem(info)


def test_a_growth_table_of_a_billion_joiners_runs() -> None:
    ds = simulate(scenario_from_dict(_growth_table(1e9)), paths=2, years=0.5)
    check_result(ds)
    assert (ds["joiners"].isel(period=slice(1, None)) > 0.9e9).all()


def _with_amount(field: str, value: float) -> tuple[dict[str, Any], str]:
    """A scenario with the amount ``field`` at ``value``, and where a message names it."""
    band = {**BAND, "benefit": value}
    by_field: dict[str, tuple[dict[str, Any], str]] = {
        "benefit": (
            {"plan": {"preset": "xianghubao", "tiers": {"standard": {"bands": [band]}}}},
            "plan.tiers.standard.bands.0.benefit",
        ),
        "prepayment": ({"plan": {"preset": "shuidi", "prepayment": value}}, "plan.prepayment"),
        "tier prepayment": (
            {
                "plan": {
                    "preset": "shuidi",
                    "tiers": {"standard": {"bands": [BAND], "prepayment": value}},
                }
            },
            "plan.tiers.standard.prepayment",
        ),
        "min_balance": ({"plan": {"preset": "shuidi", "min_balance": value}}, "plan.min_balance"),
        "per_member_month": (
            {"plan": {"preset": "ehuzhu", "fee": {"per_member_month": value}}},
            "plan.fee.per_member_month",
        ),
        "per_case fee": (
            {"plan": {"preset": "kangai", "fee": {"per_case": [[0, value]]}}},
            "plan.fee: per_case: tier",
        ),
    }
    for name in ("fixed_cost", "cost_per_case", "cost_per_joiner"):
        by_field[name] = ({"platform": {name: value}}, f"platform.{name}")
    for name in ("reserve", "reserve_trigger", "transfer_cost"):
        policy = {"reserve": 1e6, "transfer_at_closure": True, name: value}
        by_field[name] = ({"policy": policy}, f"policy.{name}")
    data, named = by_field[field]
    data = {"plan": {"preset": "xianghubao"}, **data, "population": {"members": 10**6}}
    return data, named


AMOUNT_BOUNDS = {
    "benefit": 1e9,
    "prepayment": 1e6,
    "tier prepayment": 1e6,
    "min_balance": 1e6,
    "per_member_month": 1e6,
    "per_case fee": 1e9,
    "fixed_cost": 1e12,
    "cost_per_case": 1e9,
    "cost_per_joiner": 1e6,
    "reserve": 1e13,
    "reserve_trigger": 1e9,
    "transfer_cost": 1e7,
}
"""The largest amount each field accepts: larger ones would overflow to inf and NaN."""


@pytest.mark.parametrize("field", list(AMOUNT_BOUNDS))
def test_amounts_beyond_their_bound_are_refused_naming_the_field(field: str) -> None:
    for value in (math.nextafter(AMOUNT_BOUNDS[field], math.inf), 1e308, math.inf):
        data, named = _with_amount(field, value)
        with pytest.raises(ScenarioError) as info:
            scenario_from_dict(data)
        # a band refused also leaves its tier without bands: a second problem, same field
        assert info.value.problems[0].startswith(named), info.value
        assert "\n" not in str(info.value) and len(str(info.value)) < 2 * LONGEST_PROBLEM


@pytest.mark.parametrize("field", list(AMOUNT_BOUNDS))
def test_amounts_at_their_bound_give_healthy_results(field: str) -> None:
    data, _ = _with_amount(field, AMOUNT_BOUNDS[field])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_result(simulate(scenario_from_dict(data), paths=2, years=0.5))


@pytest.mark.parametrize(
    "tier", [[0, math.nan], [0, math.inf], [0, -1e6], [0, 1e9 + 1], [-1, 10], [math.inf, 10]]
)
def test_per_case_fee_tiers_must_hold_amounts(tier: list[float]) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(
            {
                "plan": {"preset": "kangai", "fee": {"per_case": [tier]}},
                "population": {"members": 1000},
            }
        )
    assert re.fullmatch(
        r"plan\.fee: per_case: tier \(.+, .+\) must hold amounts from 0 to 1e9 yuan",
        _problem(info),
    )


@pytest.mark.parametrize("where", ["plan", "tier"])
@pytest.mark.parametrize("prepayment", [5e-324, 1e-300, 0.009])
def test_a_prepayment_below_a_fen_is_refused(where: str, prepayment: float) -> None:
    plan: dict[str, Any] = {"preset": "shuidi"}
    if where == "plan":
        plan["prepayment"] = prepayment
    else:
        plan["tiers"] = {"standard": {"bands": [BAND], "prepayment": prepayment}}
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"plan": plan, "population": {"members": 1000}})
    assert f"prepayment: {prepayment!r} must be 0 or at least 0.01 yuan" in _problem(info)


def test_dates_far_from_today_are_refused_at_load() -> None:
    """Start dates at the ends of the calendar TOML allows cannot be written as results
    (nanosecond timestamps end in 1677 and 2262): refused when the scenario is read."""
    for start in (dt.date(1, 1, 1), dt.date(9999, 12, 1)):
        data = {
            "plan": {"preset": "xianghubao"},
            "population": {"members": 1000},
            "run": {"start": start, "paths": 1, "years": 1},
        }
        with pytest.raises(ScenarioError, match=r"start .* outside the dates results can hold"):
            scenario_from_dict(data)


@pytest.mark.parametrize("years", [0, 0.01, 1 / 48 - 1e-9])
def test_horizon_shorter_than_a_period_is_refused(years: float) -> None:
    """A horizon that rounds to 0 periods holds nothing to simulate: refused, in the scenario
    and as a ``simulate`` override."""
    message = f"run.years: {years:g} holds no period; at least 1/24 of a year"
    with pytest.raises(ScenarioError) as info:
        make_scenario(run={"years": years})
    assert info.value.problems == [message]
    with pytest.raises(ScenarioError) as info:
        simulate(make_scenario(), paths=2, years=years)
    assert info.value.problems == [message]


def test_infinite_cap_in_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[plan]\npreset = "xianghubao"\ncap_per_case = inf\n[population]\nmembers = 1000\n'
    )
    code, _, err = huzhu(["run", str(path), "--paths", "2", "--years", "0.5"])
    assert code == 0, err


def _bounded_fields() -> list[tuple[tuple[str, ...], Any, Any]]:
    """(path, lower, upper) of every scenario field with a numeric bound; an exclusive bound
    is replaced by the next float inside it."""
    fields: list[tuple[tuple[str, ...], FieldInfo]] = []
    for name, info in Scenario.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields += [((name, f), i) for f, i in model.model_fields.items()]
        else:
            fields.append(((name,), info))
    fields += [(("plan", "fee", f), i) for f, i in Fee.model_fields.items()]
    out = []
    for path, info in fields:
        lo = hi = None
        for m in info.metadata:
            if isinstance(m, at.Ge):
                lo = m.ge
            elif isinstance(m, at.Gt):
                lo = math.nextafter(float(m.gt), math.inf)  # type: ignore[arg-type]
            elif isinstance(m, at.Le):
                hi = m.le
            elif isinstance(m, at.Lt):
                hi = math.nextafter(float(m.lt), -math.inf)  # type: ignore[arg-type]
        if lo is not None or hi is not None:
            out.append((path, lo, hi))
    return out


BOUNDED = _bounded_fields()


EDGES = [
    pytest.param(path, value, id=f"{'.'.join(path)}={value:g}")
    for path, lo, hi in BOUNDED
    for value in (lo, hi)
    if value is not None
]


def _with(path: tuple[str, ...], value: Any, preset: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plan": {"preset": preset},
        "population": {"members": 100_000},
        "termination": {"min_members": 0},
        "growth": {"curve": "constant", "joiners": 1000},
        "exits": {"base_rate": 0.1, "price_rate": 0.5},
    }
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value"), EDGES)
def test_every_field_at_its_bounds_runs_or_is_refused_naming_it(
    path: tuple[str, ...], value: Any
) -> None:
    """Each bound the scenario documents, low and high, on a plan with caps and per-case fees
    (kangai) and one with prepayment (shuidi): a healthy run, or a cross-field error that
    names the field (a per-period cap below the per-case cap, say)."""
    assert len(BOUNDED) > 40
    for preset in ("kangai", "shuidi"):
        try:
            scenario = scenario_from_dict(_with(path, value, preset))
        except ScenarioError as exc:
            assert path[-1] in str(exc), exc
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_result(simulate(scenario, paths=2, years=min(scenario.run.years, 2.0)))


@pytest.mark.parametrize("field", ["tilt", "tilt_notice"])
@pytest.mark.parametrize("tilt", [3e-4, 1e-3, -1e-3])
@pytest.mark.parametrize("preset", ["xianghubao", "kangai", "shuidi"])
def test_a_tilt_too_strong_for_the_case_costs_is_refused(
    preset: str, tilt: float, field: str
) -> None:
    """|tilt| x the largest case cost above 15 would overflow the tilted Poisson means (at
    3e-4 per yuan a 324,000-yuan case's mean is multiplied by exp(97)): refused up front."""
    with pytest.raises(ScenarioError) as info:
        make_scenario(preset=preset, run={field: tilt})
    (problem,) = info.value.problems
    assert problem.startswith(f"run.{field}: {tilt:g} multiplies claim rates by exp(")
    assert problem.endswith("|tilt| x the largest case cost must be at most 15")


OUTSIDE = [
    pytest.param(path, value, id=f"{'.'.join(path)}={value:g}")
    for path, lo, hi in BOUNDED
    for value in (
        None if lo is None else lo - max(1.0, abs(lo)),
        None if hi is None else hi + max(1.0, abs(hi)),
    )
    if value is not None
]


@pytest.mark.parametrize(("path", "value"), OUTSIDE)
def test_every_field_beyond_its_bounds_is_refused_naming_it(
    path: tuple[str, ...], value: Any
) -> None:
    with pytest.raises(ScenarioError, match=re.escape(".".join(path))):
        scenario_from_dict(_with(path, value, "kangai"))


@pytest.mark.parametrize("where", ["plan", "tier"])
@pytest.mark.parametrize("prepayment", [5e-324, 0.009])
def test_a_prepayment_below_a_fen_is_refused_in_a_plan_or_tier(
    where: str, prepayment: float
) -> None:
    """A prepayment of 5e-324 yuan made the top-up units ``ceil(short / prepay)`` infinite:
    a prepayment is 0 or at least 0.01 yuan."""
    plan: dict[str, Any] = {"prepayment": prepayment}
    if where == "tier":
        band = {"min_age": 0, "max_age": 59, "benefit": 300_000}
        plan = {"tiers": {"standard": {"bands": [band], "prepayment": prepayment}}}
    with pytest.raises(ScenarioError) as info:
        make_scenario(preset="shuidi", plan=plan)
    (problem,) = info.value.problems
    assert problem.endswith(f"prepayment: {prepayment!r} must be 0 or at least 0.01 yuan")
