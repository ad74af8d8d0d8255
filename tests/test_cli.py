"""The command line's own behaviour: what each command imports, the kernel-cache notice,
where compiled kernels go, the version."""

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine import _jit
from engine.cli import COMMANDS, main, parser
from engine.cli import compiling as compiling_module

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "xarray", "pandas", "scipy", "matplotlib", "dask")


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
    or matplotlib at the top: ``huzhu --help`` would again take seconds."""
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
    from engine.scenario import load_scenario
    from engine.simulate import simulate

    scenario = load_scenario(ROOT / "scenarios" / "xianghubao.toml")
    simulate(scenario, paths=1, years=1 / 24)
    assert compiling_module.compile_kernel(scenario) is None
    assert capsys.readouterr().err == ""


def test_user_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Red if a read-only install would try to write next to its sources (and so compile on
    every run), or if it overrode the user's NUMBA_CACHE_DIR."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_jit.os, "access", lambda path, mode: True)
    assert _jit.user_cache_dir() is None
    monkeypatch.setattr(_jit.os, "access", lambda path, mode: False)
    assert _jit.user_cache_dir() == tmp_path / "huzhu" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert _jit.user_cache_dir() is None


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
