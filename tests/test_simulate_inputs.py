"""Every bundled scenario runs healthily (``engine.checks.check_result``) in both modes."""

import warnings
from pathlib import Path

import pytest

from engine.checks import check_result
from engine.scenario import load_scenario
from engine.simulate import simulate
from tests.inputs import ROOT


@pytest.mark.parametrize("mode", ["full", "streaming"])
@pytest.mark.parametrize("path", sorted(ROOT.glob("scenarios/*.toml")), ids=lambda p: p.stem)
def test_bundled_scenarios_are_healthy(path: Path, mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_result(simulate(load_scenario(path), paths=20, years=2, mode=mode))  # type: ignore[arg-type]
