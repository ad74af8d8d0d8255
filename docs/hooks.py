"""MkDocs hooks: pages generated from the code at build time, so that they cannot drift.

- ``scenarios.md``: every scenario field, from the pydantic models (type, default, bounds,
  description);
- ``commands.md``: every command's ``--help``, from the argparse parsers;
- the notebooks of ``notebooks/``, executed by mkdocs-jupyter.
"""

import argparse
import contextlib
import datetime as dt
import io
import math
import sys
import typing
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if typing.get_origin(annotation) is None else None
    text = text or str(annotation).replace("typing.", "")
    for module in ("engine.plans.", "engine.sections.", "engine.scenario."):
        text = text.replace(module, "")
    return text


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "model_dump"):
        return "(section)"
    if isinstance(value, dt.date):
        return f"`{value.isoformat()}`"
    if isinstance(value, float) and math.isinf(value):
        return "inf (no limit)"
    return f"`{value!r}`" if value != "" else '`""`'


def _bounds(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                parts.append(f"{sign} {getattr(meta, attr):g}")
    return ", ".join(parts)


def _fields(model: Any, skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| field | type | default | allowed | description |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        description = (field.description or "").replace("|", "\\|")
        kind = _type(field.annotation).replace("|", "\\|")
        rows.append(f"| `{name}` | {kind} | {_default(field)} | {_bounds(field)} | {description} |")
    return rows


def scenario_reference() -> str:
    """The scenario file reference, from ``engine.scenario`` and ``engine.plans``."""
    from pydantic import BaseModel

    from engine.plans import Band, Fee, Plan, Tier
    from engine.scenario import Event, Scenario

    lines = [
        "# Scenario reference",
        "",
        "Generated from the scenario models when the site is built. A scenario file is TOML;",
        "every section is optional except `[plan]` and `[population]`, and an unknown key is",
        "an error. Bounds are checked when the file is loaded; the message names the field,",
        "the value and the allowed range. Bundled files: `huzhu scenarios`.",
        "",
        "## Top level",
        "",
    ]
    sections = []
    top = []
    for name, field in Scenario.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            sections.append((name, kind))
        else:
            top.append(name)
    lines += _fields(Scenario, skip=(*(n for n, _ in sections), "preset", "tier"))
    lines += [
        "",
        "## [plan]",
        "",
        "`preset` names a plan (`huzhu plans`), `tier` one of its tiers (default: its first);",
        "any field below overrides the preset's value.",
        "",
        *_fields(Plan),
        "",
        "`[plan.fee]` (and a tier's own `fee`):",
        "",
        *_fields(Fee),
        "",
        "`[plan.tiers.NAME]`, a tier, and each of its `bands`:",
        "",
        *_fields(Tier),
        "",
        *_fields(Band),
    ]
    for name, model in sections:
        if model is Plan:
            continue
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += ["", f"## [{name}]", "", doc, "", *_fields(model)]
    lines += ["", "## [[events]]", "", " ".join((Event.__doc__ or "").split()).replace("``", "`")]
    lines += ["", *_fields(Event)]
    return "\n".join(lines) + "\n"


def command_reference() -> str:
    """Every command's help, from the parsers of ``engine.cli``."""
    from engine.cli import COMMANDS, parser

    full = parser(every=True)
    lines = ["# Commands", "", "Generated from the command line's own help.", ""]
    lines += ["```text", full.format_help().rstrip(), "```", ""]
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    for name in COMMANDS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            sub.choices[name].print_help()
        lines += [f"## huzhu {name}", "", "```text", out.getvalue().rstrip(), "```", ""]
    return "\n".join(lines)


@event_priority(100)  # before mkdocs-jupyter, which picks up the notebooks added here
def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "scenarios.md", content=scenario_reference()))
    files.append(File.generated(config, "commands.md", content=command_reference()))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{notebook.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
