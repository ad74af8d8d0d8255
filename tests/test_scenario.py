"""The scenario models: every field documented (the site's scenario reference is generated
from these descriptions)."""

import typing
from collections.abc import Iterator

from pydantic import BaseModel

from engine.scenario import Scenario


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
