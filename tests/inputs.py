"""Generated inputs and helpers shared by the input tests (``test_*_inputs.py``, the
scenario, command-line and calibration files) and the extreme-value tests
(``test_*_extremes.py``).

Scenario inputs are the bundled scenarios with one or two fields replaced by junk and
written with ``tomli_w``, or their bytes damaged, so that many reach deep validation and
many run. ``HUZHU_TEST_SCALE`` multiplies every generated test's number of examples: CI
runs 1 (the full size); the default keeps the README's ``pytest`` within a few minutes.
"""

import contextlib
import copy
import importlib
import io
import itertools
import math
import os
import reprlib
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import tomli_w
import xarray as xr
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import engine.cli
import engine.cli.run
import engine.io
from engine.checks import check_result
from engine.plans import PLANS, Band, Fee
from engine.scenario import Scenario, ScenarioError
from engine.simulate import simulate
from tests.conftest import make_scenario

ROOT = Path(__file__).resolve().parents[1]


BASES: list[dict[str, Any]] = [
    tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("scenarios/*.toml"))
]


FAST = ["--paths", "2", "--years", "0.5"]
"""What every generated run is cut to."""


SCALE = float(os.environ.get("HUZHU_TEST_SCALE", "0.1"))
"""Multiplies every generated test's number of examples (e.g. 10 for a long local run)."""


def scaled(n: int) -> int:
    """``n`` examples times ``SCALE``, at least one."""
    return max(1, round(n * SCALE))


def examples(n: int) -> settings:
    """Settings of a generated test: ``n`` examples (times ``SCALE``), slow data allowed."""
    return settings(
        max_examples=scaled(n),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _sections() -> dict[str, type[BaseModel]]:
    out = {}
    for name, info in Scenario.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out[name] = info.annotation
    return out


SECTIONS = _sections()


FIELD_PATHS: list[tuple[str | int, ...]] = [
    *((s, f) for s, model in SECTIONS.items() for f in model.model_fields),
    *((f,) for f in Scenario.model_fields if f not in SECTIONS),
    ("plan", "preset"),
    ("plan", "tier"),
    *(("plan", "fee", f) for f in Fee.model_fields),
    ("plan", "fee", "per_case", 0, 1),
]
"""Every field a scenario file can set (the plan's own fields are overrides of the preset)."""


BAND = {"min_age": 0, "max_age": 59, "benefit": 300_000}


NAMES = [
    *PLANS,
    "standard",
    "entry",
    "ci6",
    "ci25",
    "cnnic44",
    "none",
    "constant",
    "decay",
    "logistic",
    "table",
    "strict",
    "lax",
    "",
    "nope",
    "相互宝",
]
"""Strings the fields accept somewhere, so that swapped values reach semantic checks."""


SPECIAL_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,
    1e-300,
    1e-9,
    0.5,
    1.0,
    2.0,
    24.0,
    1000.0,
    1e9,
    1e10,
    1e15,
    1e19,
    1e300,
    1.7976931348623157e308,
    -1.0,
    -1e308,
]


SPECIAL_INTS = [0, 1, -1, 2, 5, 24, 100, 10**6, 10**9, 10**10, 2**31, 2**53 + 1, 2**63 - 1]


SPECIAL_INTS += [2**63, -(2**63), 10**30]


# printable strings; keys may hold control characters and line breaks too (the message
# quotes such a key, so it stays on one line)
TEXT = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))


KEY_TEXT = st.characters(blacklist_categories=["Cs"])


keys = st.text(KEY_TEXT, min_size=1, max_size=12)


scalars = st.one_of(
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(),
    st.floats(min_value=0, max_value=2),
    st.sampled_from(SPECIAL_INTS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=200),
    st.booleans(),
    st.sampled_from(NAMES),
    st.text(TEXT, max_size=20),
    st.just("x" * 20_000),
    st.dates(),
    st.datetimes(),
    st.times(),
)


def _nest(depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"x": 1}
    for _ in range(depth):
        out = {"a": out}
    return out


junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(keys, scalars, max_size=3),
    st.lists(st.dictionaries(keys, scalars, max_size=2), min_size=1, max_size=2),
    st.integers(min_value=1, max_value=60).map(_nest),
)


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Set ``doc[path]``, creating (or overwriting with) tables and arrays on the way."""
    node: Any = doc
    for key, nxt in itertools.pairwise(path):
        child = node[key] if _has(node, key) else None
        want = list if isinstance(nxt, int) else dict
        if not isinstance(child, want):
            child = [[0, 0]] if want is list else {}
            node[key] = child
        node = child
    if isinstance(node, list):
        while len(node) <= int(path[-1]):
            node.append(0)
    node[path[-1]] = value


def _has(node: Any, key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and key < len(node)


def _get(doc: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _leaves(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _leaves(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*prefix, i))


def _delete(doc: dict[str, Any], path: tuple[str | int, ...]) -> None:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


@st.composite
def mutations(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """One change to ``doc``: mostly a known field set to junk, so validation goes deep."""
    kind = draw(
        st.sampled_from(
            ["field"] * 5
            + ["plausible"] * 3
            + ["tiers", "add", "delete", "section", "nest", "swap"]
        )
    )
    if kind == "field":
        _set(doc, draw(st.sampled_from(FIELD_PATHS)), draw(junk))
    elif kind == "plausible":
        value = draw(st.one_of(st.floats(0, 3), st.integers(0, 400), st.sampled_from(NAMES)))
        _set(doc, draw(st.sampled_from(FIELD_PATHS)), value)
    elif kind == "tiers":
        band = {**BAND, draw(st.sampled_from(list(Band.model_fields))): draw(junk)}
        tier = draw(st.sampled_from(["standard", "gold"]))
        _set(doc, ("plan", "tiers"), {tier: {"bands": [band]}})
    elif kind == "add":
        where = draw(st.sampled_from([(), *((s,) for s in SECTIONS)]))
        _set(doc, (*where, draw(keys)), draw(junk))
    elif kind == "delete":
        paths = list(_leaves(doc))
        if paths:
            _delete(doc, draw(st.sampled_from(paths)))
    elif kind == "section":
        doc[draw(st.sampled_from(list(SECTIONS)))] = draw(scalars | st.lists(scalars, max_size=2))
    elif kind == "nest":
        _set(
            doc,
            (draw(st.sampled_from(list(SECTIONS))), draw(keys)),
            _nest(draw(st.integers(1, 90))),
        )
    else:  # a value copied to another field (a copy: an array may move inside itself)
        leaves = [p for p in _leaves(doc) if not isinstance(_get(doc, p), dict)]
        if leaves:
            value = copy.deepcopy(_get(doc, draw(st.sampled_from(leaves))))
            _set(doc, draw(st.sampled_from(FIELD_PATHS)), value)
    return doc


@st.composite
def scenario_docs(draw: st.DrawFn, max_changes: int = 2) -> dict[str, Any]:
    """A bundled scenario with one or two changes (or none, now and then)."""
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0 if max_changes > 1 else 1, max_changes))):
        doc = draw(mutations(doc))
    return doc


ENCODINGS = ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "gb18030", "shift_jis"]


@st.composite
def damaged_bytes(draw: st.DrawFn) -> bytes:
    """A scenario file's bytes in another encoding, with a BOM, cut, or with junk bytes."""
    text = tomli_w.dumps(draw(scenario_docs(max_changes=1)))
    how = draw(
        st.sampled_from(
            ["encoding", "bom", "bom16", "truncate", "insert", "flip", "garbage", "duplicate"]
        )
    )
    raw = text.encode("utf-8")
    if how == "encoding":
        text = text.replace('name = "', 'name = "café 相互宝 ', 1)
        return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "bom16":
        return b"\xff\xfe" + raw
    if how == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    if how == "insert":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if how == "flip":
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if how == "garbage":
        return draw(st.binary(max_size=200))
    lines = raw.splitlines(keepends=True)
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    return b"".join(lines[: i + 1] + lines[i:])


_QUOTED = reprlib.Repr()


_QUOTED.maxstring = 60


def shown(key: str) -> str:
    """A key as a message names it: as is when it is an identifier, else quoted (repr), a
    long one cut in the middle."""
    return key if key.isidentifier() else _QUOTED.repr(key)


def explains(problem: str, roots: set[str]) -> bool:
    """Whether one problem of a ScenarioError names a field (or the file's format)."""
    if problem.startswith(("not a valid TOML file", "file not found")):
        return True
    return any(problem.startswith((f"{shown(r)}: ", f"{shown(r)}.")) for r in roots)


LONGEST_PROBLEM = 1000
"""Values are cut in messages: no problem is longer, whatever the input."""


def assert_rejected_well(exc: ScenarioError, doc: dict[str, Any] | None) -> None:
    roots = set(Scenario.model_fields) | set(doc or {})
    assert exc.problems, exc
    for problem in exc.problems:
        assert problem.strip(), exc
        assert explains(problem, roots), f"problem names no field: {problem!r}"
        assert len(problem) < LONGEST_PROBLEM, f"long problem: {problem[:200]!r}..."
    assert "\n" not in str(exc)


@contextlib.contextmanager
def captured_runs() -> Iterator[list[xr.Dataset]]:
    """Collect the Datasets that ``huzhu run`` simulates."""
    runs: list[xr.Dataset] = []

    def spy(*args: Any, **kwargs: Any) -> xr.Dataset:
        ds = simulate(*args, **kwargs)
        runs.append(ds)
        return ds

    with mock.patch.object(importlib.import_module("engine.simulate"), "simulate", spy):
        yield runs


def cli(argv: list[str]) -> tuple[int, str, str, list[str]]:
    """``huzhu argv`` in process: (exit code, stdout, stderr, warnings raised)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("always")
        try:
            code = engine.cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue(), [str(w.message) for w in caught]


def assert_one_line_error(err: str) -> None:
    assert err.startswith("error: "), err
    assert err.endswith("\n") and "\n" not in err[:-1], f"more than one line: {err!r}"
    assert "Traceback" not in err


SIM = importlib.import_module("engine.simulate")  # `engine.simulate` is the function


SCENARIO = str(ROOT / "scenarios" / "xianghubao.toml")


LEAVING = ("approved", "exits", "deaths", "lapses", "aged_out")


def assert_members_accounted(ds: xr.Dataset, start: int) -> None:
    """Exact integer accounting on every path and period of an open plan:
    members = start + joiners - approved claimants - exits - deaths - lapses - aged out."""
    flows = ds["joiners"] - sum(ds[name] for name in LEAVING)
    expected = start + flows.cumsum("period")
    assert ds["members"].dtype == np.int64
    np.testing.assert_array_equal(ds["members"].values, expected.values)
    np.testing.assert_array_equal(ds["members"], ds["eligible"] + ds["waiting"])


def run(**kwargs: Any) -> xr.Dataset:
    """Simulate ``make_scenario(**kwargs)`` and check its numerical health."""
    paths = kwargs.pop("paths", None)
    ds = simulate(make_scenario(**kwargs), paths=paths)
    check_result(ds)
    return ds


def huzhu(argv: list[str]) -> tuple[int, str, str]:
    """``huzhu argv`` in process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = engine.cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_one_line(err: str) -> None:
    assert err.endswith("\n") and "\n" not in err[:-1], err
    assert "Traceback" not in err


class Simulated(Exception):
    """Raised in place of simulating: the run got past its checks."""


RUN = ["run", SCENARIO, "--paths", "2", "--years", "0.5"]


TILT_LIMIT = 15
"""The largest |tilt| x case cost accepted: claim rates are multiplied by at most exp(15)."""
