"""Bad input never crashes: generated scenario, observation and result files fed to the
loaders and to the command line.

Every input either runs or is rejected: ``ScenarioError`` (scenarios) or ``ValueError``
(observations, results), exit code 2 at the command line with a one-line message that names
the field, or says the file is not valid TOML, UTF-8, CSV or a result. Scenario inputs are
the bundled scenarios with one or two fields replaced by junk and written with ``tomli_w``,
or their bytes damaged, so that many reach deep validation and many run; a run's Dataset
must then pass ``engine.checks.check_result``.

The tests at the end hold the edge cases these inputs once broke (unhashable presets, deep
nesting, huge values in messages, amounts and counts without an upper bound, calibration
at certain illness, astronomical member counts, wildly over-dispersed counts) to the way
they are now refused or run.
"""

import contextlib
import copy
import datetime as dt
import errno
import importlib
import io
import itertools
import math
import os
import re
import reprlib
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import tomli_w
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import engine.cli
from engine.calibrate import calibrate, read_observations
from engine.checks import check_result
from engine.plans import PLANS, Band, Fee
from engine.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from engine.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
BASES: list[dict[str, Any]] = [
    tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("scenarios/*.toml"))
]
FAST = ["--paths", "2", "--years", "0.5"]
"""What every generated run is cut to."""

SCALE = float(os.environ.get("HUZHU_FUZZ_SCALE", "1"))
"""Multiplies every generated test's number of examples (e.g. 10 for a long local run)."""


def examples(n: int) -> settings:
    """Settings of a generated test: ``n`` examples (times ``SCALE``), slow data allowed."""
    return settings(
        max_examples=max(1, round(n * SCALE)),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --------------------------------------------------------------------------- the fields


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


# --------------------------------------------------------------------------- helpers


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


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hardening")


# --------------------------------------------------------------------------- scenarios

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


@pytest.mark.parametrize("mode", ["full", "streaming"])
@pytest.mark.parametrize("path", sorted(ROOT.glob("scenarios/*.toml")), ids=lambda p: p.stem)
def test_bundled_scenarios_are_healthy(path: Path, mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_result(simulate(load_scenario(path), paths=20, years=2, mode=mode))  # type: ignore[arg-type]


SUBPROCESS_CASES = [
    (b"this is = not [toml", "not a valid TOML file"),
    (b'[plan]\npreset = "xianghubao"\n[population]\nmembers = nan\n', "population"),
    ("name = 'café'\n".encode("latin-1"), "not a valid TOML file"),
    (b"\xff\xfe" + "[plan]\n".encode("utf-16-le"), "not a valid TOML file"),
]


@pytest.mark.parametrize(("raw", "named"), SUBPROCESS_CASES)
def test_cli_subprocess_exit_2_one_line(tmp_path: Path, raw: bytes, named: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(raw)
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(path), *FAST],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr)
    assert named in proc.stderr


# --------------------------------------------------------------------------- observations

DATES = pd.date_range("2019-01-01", periods=24, freq="SMS")
GOOD_ROWS = [
    [str(d.date()), str(2_000_000 + 1000 * i), str(40 + i % 7)] for i, d in enumerate(DATES)
]
HEADER = ["period", "members", "cases", "paid", "share", "cases_0_39", "members_0_39"]
CELL_JUNK = st.one_of(
    st.integers(0, 10**7).map(str),
    st.floats(0, 1e7).map(repr),
    st.sampled_from(
        ["", " ", "nan", "inf", "-inf", "-1", "1.5", "1e400", "1e308", "0", "abc", "2020-13-01"]
    ),
    st.sampled_from(["9" * 400, "1e20", "0x10", "１２", "5_000", "+3", " 7 ", '"', "a,b", "\x00"]),
    st.text(TEXT, max_size=10),
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(repr),
)


@st.composite
def observation_bytes(draw: st.DrawFn) -> bytes:
    """A valid observations CSV with cells, columns or bytes damaged."""
    header = HEADER[: draw(st.integers(3, len(HEADER)))]
    rows = [
        [*r, *(["1000", "0.5", "10", "500000"][: len(header) - 3])]
        for r in GOOD_ROWS[: draw(st.integers(1, len(GOOD_ROWS)))]
    ]
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["cell"] * 6 + ["header", "drop", "extra", "swap", "dup"]))
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, max(len(rows[r]), 1) - 1))
        if how == "cell" and rows[r]:
            rows[r][c] = draw(CELL_JUNK)
        elif how == "header":
            header[c % len(header)] = draw(
                st.sampled_from([*HEADER, "cases_40_20", "cases_0_200", "x", ""])
            )
        elif how == "drop" and rows[r]:
            del rows[r][c]
        elif how == "extra":
            rows[r].append(draw(CELL_JUNK))
        elif how == "swap" and len(rows) > 1:
            rows[0], rows[-1] = rows[-1], rows[0]
        elif how == "dup":
            rows.insert(r, list(rows[r]))
    text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    encoding = draw(st.sampled_from(["utf-8"] * 12 + ["utf-8-sig", "utf-16", "latin-1", "cut"]))
    if encoding == "cut":
        raw = text.encode()
        return raw[: draw(st.integers(0, len(raw)))]
    return text.replace("period", "périod" if encoding == "latin-1" else "period").encode(
        encoding, errors="replace"
    )


OBS_MESSAGE = re.compile(
    r"^obs\.csv(: (the file is empty|no data rows|not a CSV text file)| row \d+)"
)


@examples(1500)
@given(raw=observation_bytes())
def test_read_observations_reads_or_names_row_and_column(folder: Path, raw: bytes) -> None:
    path = folder / "obs.csv"
    path.write_bytes(raw)
    try:
        frame = read_observations(path)
        event("observations: read")
    except ValueError as exc:
        event("observations: rejected")
        assert OBS_MESSAGE.match(str(exc)), str(exc)
        assert "\n" not in str(exc)
    else:
        assert frame.index.is_monotonic_increasing
        assert np.isfinite(frame.to_numpy()[~np.isnan(frame.to_numpy())]).all()
        assert (frame.fillna(0).to_numpy() >= 0).all()


@examples(250)
@given(raw=observation_bytes())
def test_cli_calibrate_exits_0_or_2(folder: Path, raw: bytes) -> None:
    path = folder / "obs.csv"
    path.write_bytes(raw)
    code, out, err, warned = cli(["calibrate", str(path), "--plan", "xianghubao"])
    event(f"calibrate: exit {code}")
    assert code in (0, 2), err
    if code == 2:
        assert_one_line_error(err)
        assert "obs.csv" in err
    else:
        assert "incidence multiplier k" in out
        assert not warned, warned


# --------------------------------------------------------------------------- results


def _has_command(name: str) -> bool:
    code, _, _, _ = cli([name, "--help"])
    return code == 0


def _not_results(folder: Path) -> dict[str, Path]:
    """Files and folders that are not huzhu results, by what they are."""
    out: dict[str, Path] = {}
    (folder / "empty.nc").write_bytes(b"")
    out["empty file"] = folder / "empty.nc"
    out["scenario"] = ROOT / "scenarios" / "xianghubao.toml"
    (folder / "text.nc").write_text("period,members\n")
    out["text"] = folder / "text.nc"
    other = xr.Dataset({"x": ("t", np.arange(3.0))}, attrs={"title": "not ours"})
    other.to_netcdf(folder / "other.nc", engine="h5netcdf")
    out["other netCDF"] = folder / "other.nc"
    other.to_zarr(folder / "other.zarr", mode="w", zarr_format=2, consolidated=True)
    out["other Zarr"] = folder / "other.zarr"
    bad_attr = other.assign_attrs(
        scenario="{not json", seed="1", engine_version="0", created="now"
    ).assign(liability_pv=("path", [1.0]))
    bad_attr.to_netcdf(folder / "badattr.nc", engine="h5netcdf")
    out["result-like, scenario not JSON"] = folder / "badattr.nc"
    (folder / "folder.zarr").mkdir(exist_ok=True)
    out["empty folder"] = folder / "folder.zarr"
    out["missing"] = folder / "missing.nc"
    return out


@pytest.mark.parametrize("command", ["plot", "report"])
def test_plot_and_report_reject_files_that_are_not_results(tmp_path: Path, command: str) -> None:
    if not _has_command(command):
        pytest.skip(f"huzhu {command} does not exist yet")
    extra = ["--kind", "fan_chart"] if command == "plot" else []
    for what, path in _not_results(tmp_path).items():
        code, _, err, _ = cli([command, str(path), *extra, "-o", str(tmp_path / "out.png")])
        assert code in (1, 2), (what, err)
        assert_one_line_error(err)
        assert path.name in err, (what, err)
        assert not (tmp_path / "out.png").exists()


@examples(150)
@given(
    raw=st.one_of(
        st.binary(max_size=300), st.binary(max_size=40).map(lambda b: b"\x89HDF\r\n\x1a\n" + b)
    )
)
def test_report_rejects_random_bytes(folder: Path, raw: bytes) -> None:
    if not _has_command("report"):
        pytest.skip("huzhu report does not exist yet")
    path = folder / "random.nc"
    path.write_bytes(raw)
    code, _, err, _ = cli(["report", str(path), "-o", str(folder / "r.html")])
    assert code == 2, err
    assert_one_line_error(err)
    assert "is not a huzhu result" in err


# --------------------------------------------------------------------------- edge cases

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


def _observations(tmp_path: Path, members: int, cases: int) -> Path:
    path = tmp_path / "obs.csv"
    rows = [f"{d.date()},{members},{cases}" for d in DATES[:4]]
    path.write_text("\n".join(["period,members,cases", *rows]) + "\n", encoding="utf-8")
    return path


def test_calibrate_at_a_high_multiplier_gives_finite_numbers(tmp_path: Path) -> None:
    """600 cases a half-month among a million members: k near 6.5, q k >= 1 at old ages."""
    path = _observations(tmp_path, 1_000_000, 600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(path, "xianghubao")
    assert 6 < cal.k.value < 7
    assert math.isfinite(cal.plan_benefit) and np.isfinite(cal.fitted_share).all()


def test_calibrate_of_wildly_over_dispersed_counts_gives_no_warnings(tmp_path: Path) -> None:
    """About 40 cases a period among 10^9 members, then among 1,000: the counts are
    over-dispersed, and the negative-binomial fit must cope with means that overflow and
    a flat likelihood without numerical warnings."""
    path = tmp_path / "obs.csv"
    members = [10**9, 1000, 1000]
    lines = [
        f"{d.date()},{m},{40 + i}" for i, (d, m) in enumerate(zip(DATES[:3], members, strict=True))
    ]
    path.write_text("\n".join(["period,members,cases", *lines]) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(path, "xianghubao")
    assert cal.overdispersed and cal.nb_k is not None
    assert math.isfinite(cal.nb_k.value) and math.isfinite(cal.nb_k.high)


def _members_column(tmp_path: Path, members: str) -> Path:
    path = tmp_path / "obs.csv"
    lines = [f"{d.date()},{members},40" for d in DATES[:2]]
    path.write_text("\n".join(["period,members,cases", *lines]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("members", ["1.0000001e13", "1e20", "1e307", "1e308"])
def test_astronomical_member_counts_are_refused(tmp_path: Path, members: str) -> None:
    """Member counts near the largest float made the fitted k underflow to 0 (0 / 0, NaN
    results) or the sum of members overflow: a cell holds at most 1e13."""
    with pytest.raises(ValueError) as info:
        read_observations(_members_column(tmp_path, members))
    assert str(info.value) == (
        f"obs.csv row 2, column members: {members!r} is above 1e+13, more than any platform"
    )


def test_a_count_beyond_the_float_range_is_called_too_large(tmp_path: Path) -> None:
    """A 400-digit count is a whole number too large for any platform (``float`` makes it
    inf): it is called too large, not "not a whole number"."""
    with pytest.raises(ValueError) as info:
        read_observations(_members_column(tmp_path, "9" * 400))
    assert str(info.value).endswith("is above 1e+13, more than any platform")


def test_a_huge_cell_gives_a_short_message(tmp_path: Path) -> None:
    """A 100,000-character cell is cut in the message, like the scenario's values."""
    with pytest.raises(ValueError) as info:
        read_observations(_members_column(tmp_path, "1" * 100_000))
    assert str(info.value).startswith("obs.csv row 2, column members: ")
    assert len(str(info.value)) < 1000


def test_the_largest_member_count_calibrates(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(_members_column(tmp_path, "1e13"), "xianghubao")
    assert 0 < cal.k.value < 1e-4
    assert math.isfinite(cal.plan_benefit) and np.isfinite(cal.fitted_share).all()


def test_more_cases_than_members_is_an_error(tmp_path: Path) -> None:
    path = _observations(tmp_path, 1, 40)
    with pytest.raises(ValueError) as info:
        read_observations(path)
    assert str(info.value) == (
        "obs.csv row 2, column cases: 40 cases among 1 members (members); "
        "cases must be fewer than members"
    )


def test_as_many_cases_as_members_is_an_error(tmp_path: Path) -> None:
    """A whole pool falling ill in half a month fitted a multiplier of 136,969."""
    with pytest.raises(ValueError, match="40 cases among 40 members"):
        read_observations(_observations(tmp_path, 40, 40))


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
