"""The package stands alone: its version, its license, its bundled scenarios and sample data,
and (marked slow, run by CI) a wheel installed in a fresh environment outside the checkout."""

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

import engine
from engine.calibrate import calibrate
from engine.cli import main
from engine.cli.scenarios import bundled, find

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_declared_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Red if the package metadata stops reading ``engine.__version__`` (a second version
    in pyproject.toml), or ``--version`` prints another."""
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "engine.__version__"}
    assert importlib.metadata.version("huzhu") == engine.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", engine.__version__)
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"huzhu {engine.__version__}\n"


def test_license_is_spdx_and_shipped() -> None:
    """Red if the license goes back to a TOML table or the file goes missing."""
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_every_scenario_file_is_found_by_name() -> None:
    """Red if a file in scenarios/ is not bundled, or a name resolves to another file."""
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    assert [p.name for p in bundled().values()] == [p.name for p in files]
    for path in files:
        assert Path(find(path.stem)).read_bytes() == path.read_bytes()


def test_scenarios_lists_names_with_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for path in (ROOT / "scenarios").glob("*.toml"):
        description = tomllib.loads(path.read_text())["description"]
        assert any(
            line.split()[:1] == [path.stem] and description in line for line in out.splitlines()
        )


def test_a_path_is_never_taken_for_a_name(tmp_path: Path) -> None:
    """Red if ``huzhu run ./xianghubao`` (a missing file) silently ran the bundled one."""
    assert find("./xianghubao") == "./xianghubao"
    assert find("xianghubao.toml") == "xianghubao.toml"


def test_calibration_sample_recovers_its_multiplier() -> None:
    """The sample is one simulated year of xianghubao.toml (multiplier 0.5, every claim
    approved): red if the sample and the scenario drift apart, or the fit stops finding it."""
    cal = calibrate(ROOT / "scenarios" / "calibration_sample.csv", "xianghubao")
    assert cal.k.low < 0.5 < cal.k.high


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done


@pytest.mark.slow
def test_wheel_in_a_fresh_environment(tmp_path: Path) -> None:
    """Build the wheel, install it in a new virtual environment, run from outside the
    checkout: the bundled scenario by name, the cold-cache notice once, the version."""
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        tmp_path,
        dict(os.environ),
    )
    (wheel,) = wheels.glob("huzhu-*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env)
    huzhu = str(env_dir / "bin" / "huzhu")
    work = tmp_path / "elsewhere"
    work.mkdir()
    version = _run([huzhu, "--version"], work, env).stdout
    assert version == f"huzhu {engine.__version__}\n"
    first = _run([huzhu, "run", "xianghubao", "--paths", "100", "--quiet"], work, env)
    assert "xianghubao: 相互宝" in first.stdout
    assert first.stderr.count("compiling the simulation kernel") == 1
    second = _run([huzhu, "run", "xianghubao", "--paths", "100", "--quiet"], work, env)
    assert "compiling" not in second.stderr
    assert second.stdout.splitlines()[0] == first.stdout.splitlines()[0]
