"""The command line's own behaviour: what each command imports, the kernel-cache notice,
where compiled kernels go, the version."""

import ast
import importlib
import io
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from engine import _jit
from engine.cli import COMMANDS, explain, main, parser
from engine.cli import compiling as compiling_module
from engine.cli.table import show
from engine.results import summary
from engine.scenario import load_scenario
from engine.simulate import simulate
from tests.inputs import (
    FAST,
    RUN,
    SCENARIO,
    SIM,
    Simulated,
    assert_one_line,
    assert_one_line_error,
    huzhu,
)

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "numba",
    "xarray",
    "pandas",
    "scipy",
    "matplotlib",
    "dask",
    "pydantic",
    "importlib.metadata",
)


def _loaded_after(argv: list[str]) -> set[str]:
    """The heavy libraries imported by ``huzhu argv`` in a fresh interpreter."""
    script = textwrap.dedent(
        f"""
        import contextlib, io, sys
        from engine.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main({argv!r})
            except SystemExit:
                pass
        print(" ".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["plans"], ["expected", "--plan", "kuake", "--age", "35", "--sex", "M"]],
)
def test_light_commands_import_no_numerical_library(argv: list[str]) -> None:
    """Red if a command module (or ``engine/__init__``) imports numba, xarray, pandas, scipy
    or matplotlib at the top (``huzhu --help`` would again take seconds), or if the light
    commands load pydantic (the presets' validation) or package metadata (the version)."""
    assert _loaded_after(argv) == set()


def test_every_command_declares_its_options() -> None:
    """Red if a command listed in COMMANDS has no module, or its module no ``arguments``."""
    sub = parser(every=True)._subparsers
    assert sub is not None
    for name in COMMANDS:
        module = importlib.import_module(f"engine.cli.{name}")
        assert callable(module.arguments) and callable(module.run), name


def _tiny_jitted(folder: Path, name: str) -> object:
    """A cached jitted function in a fresh module under ``folder``."""
    (folder / f"{name}.py").write_text(
        "from engine._jit import jit\n\n\n@jit\ndef double(x):\n    return 2 * x\n"
    )
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name).double
    finally:
        sys.path.remove(str(folder))


def test_cached_sees_compiled_and_on_disk(tmp_path: Path) -> None:
    """Red if the cold-cache notice would be printed on a warm run (an on-disk entry not
    recognised) or never (a missing entry taken for a cached one)."""
    double = _tiny_jitted(tmp_path, "tiny_kernel_a")
    assert not compiling_module._cached(double)  # nothing compiled, nothing on disk
    assert double(21) == 42
    assert compiling_module._cached(double)  # compiled in this process
    again = _tiny_jitted(tmp_path, "tiny_kernel_b")
    assert not compiling_module._cached(again)
    (tmp_path / "tiny_kernel_c.py").write_text((tmp_path / "tiny_kernel_a.py").read_text())
    fresh = _tiny_jitted(tmp_path, "tiny_kernel_c")
    assert not compiling_module._cached(fresh)
    subprocess.run(
        [sys.executable, "-c", "import tiny_kernel_c; tiny_kernel_c.double(1)"],
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": ""},
    )
    assert compiling_module._cached(fresh)  # written to disk by another process


def test_compile_kernel_is_silent_when_cached(capsys: pytest.CaptureFixture[str]) -> None:
    """Red if the notice appears in a warm run."""

    scenario = load_scenario(ROOT / "scenarios" / "xianghubao.toml")
    simulate(scenario, paths=1, years=1 / 24)
    assert compiling_module.compile_kernel(scenario) is None
    assert capsys.readouterr().err == ""


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Red if a read-only install would try to write next to its sources (and so compile on
    every run), or if it overrode the user's NUMBA_CACHE_DIR."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_jit.os, "access", lambda path, mode: True)
    here = Path(_jit.__file__).parent
    assert _jit.cache_dir() == here / "__pycache__" / "numba" / _jit.fingerprint()
    monkeypatch.setattr(_jit.os, "access", lambda path, mode: False)
    assert _jit.cache_dir() == tmp_path / "huzhu" / "numba" / _jit.fingerprint()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert _jit.cache_dir() is None


def test_the_kernel_cache_follows_every_source_the_kernel_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Red if a module the compiled kernel depends on is missing from the fingerprint, so
    that an edit to it would run stale compiled code from the cache."""
    code = "import sys, engine.kernel; print(sorted(m for m in sys.modules if 'engine.' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.removeprefix("engine.") for name in ast.literal_eval(out.stdout)}
    assert loaded == set(_jit.KERNEL_SOURCES)
    here, copy = Path(_jit.__file__).parent, tmp_path / "engine"
    for name in _jit.KERNEL_SOURCES:
        source = here / f"{name}.py"
        source = source if source.exists() else here / name / "__init__.py"
        target = copy / source.relative_to(here)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    monkeypatch.setattr(_jit, "__file__", str(copy / "_jit.py"))
    before = _jit.fingerprint()
    steps = copy / "kernel_steps.py"
    steps.write_text(steps.read_text() + "\n# an edit\n")
    assert _jit.fingerprint() != before


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


# --- what `huzhu run` prints ------------------------------------------------------------------

DENGHUO = str(ROOT / "scenarios" / "denghuo.toml")


def _run_output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["run", DENGHUO, "--paths", "40", "--years", "2", "--quiet", *argv]) == 0
    return capsys.readouterr().out


def test_summary_rows_are_words_with_units_and_the_engines_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Red if a row is named by a variable name, shows money in another unit than it says,
    or prints a number other than results.summary's (the oracle: the same run through the
    library)."""
    from engine.scenario import load_scenario

    out = _run_output(capsys)
    assert "liability_pv" not in out and "share_total" not in out
    out = out[: out.index("the liability's parts in the tail")]  # the summary table
    frame = summary(simulate(load_scenario(DENGHUO), paths=40, years=2), levels=(0.995,))
    for name, unit in [("liability_pv", "million yuan"), ("share_total", "yuan")]:
        label = explain.label(name)
        assert label.endswith(f"({unit})")
        (line,) = [x for x in out.splitlines() if x.startswith(label)]
        scale = 1e6 if unit == "million yuan" else 1.0
        mean = frame.loc[(name, "mean"), "estimate"] / scale
        var = frame.loc[(name, "VaR 99.5%"), "estimate"] / scale
        cells = line[len(label) :].split()
        assert cells[0] == f"{mean:,.2f}" and f"{var:,.2f}" in cells
    assert "mean ± s.e.: the mean over the paths" in out


def test_one_figure_per_label(capsys: pytest.CaptureFixture[str]) -> None:
    """The tail table holds conditional means: red if its columns are again called plain
    "VaR 99.5%" (two different figures under one label)."""
    out = _run_output(capsys)
    tail = out[out.index("the liability's parts in the tail") :]
    header = tail.splitlines()[1]
    assert "near the VaR 99.5% path" in header and "beyond it (TVaR 99.5%)" in header
    assert "conditional means" in tail


def test_closure_line_is_compact(capsys: pytest.CaptureFixture[str]) -> None:
    """灯火互助 closes within the first year on every path: red if every year is listed."""
    out = _run_output(capsys)
    (line,) = [x for x in out.splitlines() if x.startswith("closure announced")]
    assert line.endswith("by the end of year 1: every path (unchanged to year 2)")


def test_closure_steps_keep_only_changes() -> None:
    """A table written by hand: red if an unchanged year is repeated or a change is lost."""
    t = pd.DataFrame(
        {"probability": [0.0, 0.0, 0.1234, 0.1234, 0.5], "std_error": [0, 0, 0.01, 0.01, 0.02]},
        index=[1, 2, 3, 4, 5],
    )
    assert (
        explain.closure_steps(t) == "year 1: no path; year 3: 0.123 ± 0.010; year 5: 0.500 ± 0.020"
    )
    assert explain.closure_steps(t.iloc[:4]).endswith("year 3: 0.123 ± 0.010 (unchanged to year 4)")


def test_tail_target_uses_the_summary_layout_and_weights(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Red if --tail-target prints a raw pandas table again (e-notation, variable names) or
    drops the weight diagnostics."""
    code = main(
        [
            "run",
            str(ROOT / "scenarios" / "kuake.toml"),
            "--paths",
            "200",
            "--years",
            "0.5",
            "--quiet",
            "--tail-target",
            "0.9",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "e+0" not in out and "liability_pv" not in out
    assert "liability, discounted (million yuan)" in out
    assert "weights: mean" in out and "effective paths" in out and "variance reduction" in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_on_a_terminal_plain_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Red if a pipe gets rich's box drawing, or a terminal gets the plain layout."""
    show([["a", "1"]], ["name", "n"], title="t")
    assert capsys.readouterr().out == "t\nname  n\n----  -\na     1\n"
    screen = _Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    show([["a", "1"]], ["name", "n"], title="t")
    assert "━" in screen.getvalue() or "─" in screen.getvalue()


# --- huzhu sweep, plot --kind heatmap, expected --------------------------------------------


def test_sweep_then_heatmap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Red if a grid point is missing from the table, a row shows another point's numbers
    (oracle: engine.sweep called directly), or the heatmap of the written file fails."""
    from engine.sweep import sweep

    out = tmp_path / "s.nc"
    argv = ["sweep", "kuake", "--set", "population.members=1e5,1e6", "--set"]
    argv += ["plan.cap_per_case=0.1,1", "--paths", "20", "--years", "0.5", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    base = load_scenario(ROOT / "scenarios" / "kuake.toml").replace(run={"years": 0.5})
    grid = {"population.members": [100_000, 1_000_000], "plan.cap_per_case": [0.1, 1]}
    direct = sweep(base, grid, paths=20)
    for members in grid["population.members"]:
        for cap in grid["plan.cap_per_case"]:
            mean = direct.liability_pv.sel(members=members, cap_per_case=cap).mean().item()
            row = f"{members:,}  {cap:>17}  {mean / 1e6:,.2f} ± "
            assert any(
                " ".join(line.split()).startswith(" ".join(row.split()))
                for line in text.splitlines()
            ), row
    png = tmp_path / "h.png"
    assert main(["plot", str(out), "--kind", "heatmap", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_of_a_run_says_how_to_make_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "r.nc"
    assert (
        main(["run", "kuake", "--paths", "5", "--years", "0.5", "--quiet", "--out", str(run)]) == 0
    )
    capsys.readouterr()
    assert main(["plot", str(run), "--kind", "heatmap", "-o", str(tmp_path / "h.png")]) == 2
    assert "huzhu sweep SCENARIO --set" in capsys.readouterr().err


def test_expected_takes_the_presets_first_tier(capsys: pytest.CaptureFixture[str]) -> None:
    """夸克联盟 has no "standard" tier: red if the default falls back to that name."""
    from engine.expected import member_share
    from engine.plans import get_plan

    assert main(["expected", "--plan", "kuake", "--age", "35", "--sex", "M"]) == 0
    out = capsys.readouterr().out
    plan = get_plan("kuake")
    first = next(iter(plan.tiers))
    assert f"tier {first}," in out
    annual = member_share(plan, first, 35, "M", table="ci25", multiplier=0.5).annual
    assert f"expected yearly share {annual:,.2f} yuan" in out


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


@pytest.mark.parametrize("years", ["0", "0.01"])
def test_horizon_shorter_than_a_period_at_the_cli(years: str) -> None:
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = huzhu(["run", SCENARIO, "--paths", "2", "--years", years])
    assert (code, out) == (2, "")
    assert err == (
        f"error: scenario: run.years: {float(years):g} holds no period; at least 1/24 of a year\n"
    )


BAD_OPTIONS = [
    ("--paths", "0"),
    ("--paths", "-1"),
    ("--paths", str(10**20)),
    ("--paths", "many"),
    ("--years", "-1"),
    ("--years", "101"),
    ("--years", "nan"),
    ("--years", "inf"),
    ("--years", "1e308"),
    ("--years", "0"),
    ("--years", "0.01"),
    ("--seed", "-1"),
    ("--seed", "1.5"),
    ("--threads", "0"),
    ("--threads", "-1"),
    ("--threads", str(10**6)),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_bad_option_exits_2_naming_it(option: str, value: str) -> None:
    """Rejected before any path is simulated, with the option named on the last line."""
    argv = ["run", SCENARIO, "--paths", "2", "--years", "0.5", f"{option}={value}"]
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = huzhu(argv)
    assert code == 2, err
    assert_one_line(err.splitlines()[-1] + "\n")
    assert option.lstrip("-") in err.splitlines()[-1]
    assert out == ""


@pytest.mark.parametrize("value", ["0.5", "1", "0.3", "nan", "-inf"])
def test_bad_tail_target_names_the_option(value: str) -> None:
    """The tail target lies strictly between 0.5 and 1 (simulate_tail refuses 0.5 itself)."""
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = huzhu([*RUN, f"--tail-target={value}"])
    assert (code, out) == (2, "")
    assert err == f"error: --tail-target must be in (0.5, 1), got {float(value)}\n"


@pytest.fixture(scope="module")
def small_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved result of 2 paths and 12 periods."""
    path = tmp_path_factory.mktemp("small") / "r.nc"
    assert huzhu([*RUN, "--out", str(path)])[0] == 0
    return path


@pytest.mark.parametrize("value", ["nan", "inf", "0", "9", "1001", "-100", "many"])
def test_plot_dpi_out_of_range_names_the_option(
    small_result: Path, tmp_path: Path, value: str
) -> None:
    out = tmp_path / "p.png"
    code, _, err = huzhu(
        ["plot", str(small_result), "--kind", "fan_chart", "-o", str(out), f"--dpi={value}"]
    )
    assert code == 2
    assert f"argument --dpi: --dpi must be a number from 10 to 1000, got {value!r}" in err
    assert not out.exists()


def test_plot_dpi_at_its_lowest(small_result: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    code, _, err = huzhu(
        ["plot", str(small_result), "--kind", "fan_chart", "-o", str(out), "--dpi", "10"]
    )
    assert code == 0, err
    assert out.read_bytes().startswith(b"\x89PNG")


def test_expected_share_at_the_cli_when_illness_is_certain() -> None:
    argv = ["expected", "--plan", "xianghubao", "--age", "35", "--sex", "M"]
    code, out, err = huzhu([*argv, "--multiplier", "1000"])
    assert code == 0, err
    assert "expected share/period 324,000.0000 yuan" in out
