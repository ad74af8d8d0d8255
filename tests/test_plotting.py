"""Figures: every kind renders from a small run or sweep, at the size asked, without warnings."""

import ast
import io
import struct
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure

from engine import plotting
from engine.cli import main
from engine.io import save, scenario_of
from engine.scenario import scenario_from_dict
from engine.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
RUN_KINDS = ("fan_chart", "exceedance", "membership", "components", "platform")


def outputs_scenario(**changes: Any) -> Any:
    """康爱公社 (per-period and yearly caps) at 300,000 members, shrinking towards its
    minimum: closures, run-off and platform accounts within two years."""
    data: dict[str, Any] = {
        "name": "outputs-test",
        "plan": {"preset": "kangai"},
        "population": {"members": 300_000, "impaired_share": 0.05},
        "deduction": {"failure_rate": 0.01, "recovery_rate": 0.5},
        "growth": {"curve": "constant", "joiners": 900, "price_elasticity": 1.0},
        "exits": {"base_rate": 0.15, "price_rate": 0.1},
        "termination": {"min_members": 274_000},
        "platform": {"fixed_cost": 20_000, "cost_per_case": 500, "cost_per_joiner": 5},
        "run": {"paths": 60, "years": 2, "seed": 11},
    }
    data.update(changes)
    return scenario_from_dict(data)


@pytest.fixture(scope="module")
def run() -> xr.Dataset:
    return simulate(outputs_scenario())


def synthetic_sweep(fields: dict[str, list[Any]], paths: int = 40, seed: int = 1) -> xr.Dataset:
    """A sweep Dataset as ``engine.sweep`` lays it out: one dim per field (named by its last
    part, coordinate attr ``field``), then ``path``; per-path variables only.

    The mean platform result is ``1e6 * log10(members / 1e6)``: it breaks even at exactly
    one million members.
    """
    rng = np.random.default_rng(seed)
    dims = [key.split(".")[-1] for key in fields]
    shape = (*(len(v) for v in fields.values()), paths)
    members = np.asarray(fields.get("population.members", [1_000_000]), dtype=float)
    scale = np.log10(members / 1e6) * 1e6
    if "population.members" in fields:
        axis = list(fields).index("population.members")
        trend = np.expand_dims(scale, [i for i in range(len(shape)) if i != axis])
    else:
        trend = np.zeros([1] * len(shape))
    coords: dict[str, Any] = {
        dim: (dim, np.asarray(values), {"field": key, "long_name": key})
        for dim, (key, values) in zip(dims, fields.items(), strict=True)
    }
    coords["path"] = ("path", np.arange(paths), {"long_name": "path"})
    all_dims = (*dims, "path")
    closure = rng.integers(-40, 240, size=shape)
    scenario = outputs_scenario().model_dump_json()
    return xr.Dataset(
        {
            "liability_pv": (all_dims, rng.gamma(2.0, 1e6, size=shape), {"units": "yuan"}),
            "platform_result": (
                all_dims,
                trend + rng.normal(0, 2e4, size=shape),
                {"units": "yuan", "long_name": "platform cumulative net cash flow"},
            ),
            "closure_period": (
                all_dims,
                np.where(closure < 0, -1, closure).astype(np.int64),
                {"units": "period"},
            ),
        },
        coords=coords,
        attrs={
            "scenario": scenario,
            "seed": "1",
            "engine_version": "0.1.0",
            "created": "2020-08-01T00:00:00+00:00",
        },
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def render(fig: Figure, path: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_every_run_kind_renders_at_its_size(run: xr.Dataset, kind: str, tmp_path: Path) -> None:
    fig = plotting.plot(run, kind, figsize=(6.0, 4.0), dpi=50)
    assert isinstance(fig, Figure)
    out = tmp_path / f"{kind}.png"
    data = render(fig, out)
    assert out.stat().st_size > 2000
    assert png_size(data) == (300, 200)
    assert fig.get_suptitle()


def test_heatmap_of_a_two_field_sweep(tmp_path: Path) -> None:
    sweep = synthetic_sweep(
        {"population.members": [100_000, 1_000_000, 10_000_000], "exits.price_rate": [0.1, 0.5]}
    )
    for stat in plotting.STATS:
        fig = plotting.heatmap(sweep, stat=stat, dpi=40, figsize=(5.0, 4.0))
        assert png_size(render(fig)) == (200, 160)
    expected = ((sweep.closure_period >= 0) & (sweep.closure_period < 120)).mean("path")
    fig = plotting.plot(sweep, "heatmap")
    (image,) = fig.axes[0].get_images()
    np.testing.assert_allclose(np.asarray(image.get_array()), expected.T.values)
    assert fig.axes[0].get_xlabel() == "population.members"
    assert fig.axes[0].get_ylabel() == "exits.price_rate"


def test_break_even_scale_and_platform_panels(run: xr.Dataset) -> None:
    sweep = synthetic_sweep({"population.members": [100_000, 300_000, 3_000_000, 10_000_000]})
    scale = plotting.break_even_scale(sweep)
    assert scale is not None and 0.8e6 < scale < 1.25e6
    assert plotting.break_even_scale(sweep.isel(members=[0, 1])) is None
    both = plotting.platform(run, sweep=sweep, dpi=40)
    assert len(both.axes) == 2
    assert any("break-even" in str(t.get_label()) for t in both.axes[1].get_lines())
    alone = plotting.plot(sweep, "platform", dpi=40)
    assert len(alone.axes) == 1
    render(both)
    render(alone)


def test_real_sweep_renders() -> None:
    sweep_module = pytest.importorskip("engine.sweep")
    base = outputs_scenario(run={"paths": 10, "years": 1, "seed": 3})
    grid = {"population.members": [280_000, 400_000], "exits.base_rate": [0.05, 0.3]}
    sweep = sweep_module.sweep(base, grid, paths=10, seed=3)
    assert set(plotting.swept_fields(sweep)) == set(grid)
    render(plotting.heatmap(sweep, dpi=40))
    render(plotting.heatmap(sweep, stat="tvar", variable="liability_pv", dpi=40))
    render(plotting.platform(sweep.isel(base_rate=0), dpi=40))


def test_fan_chart_draws_finite_caps(run: xr.Dataset) -> None:
    labels = [line.get_label() for line in plotting.fan_chart(run).axes[0].get_lines()]
    assert any("cap per period (3 yuan)" in label for label in labels)
    assert any("cap per year" in label for label in labels)
    assert not any("cap per case" in label for label in labels)
    per_case = simulate(
        scenario_from_dict(
            {
                "plan": {"preset": "xianghubao"},
                "population": {"members": 1_000_000},
                "run": {"paths": 20, "years": 1, "seed": 2},
            }
        )
    )
    labels = [line.get_label() for line in plotting.fan_chart(per_case).axes[0].get_lines()]
    assert any("cap per case (0.1 yuan)" in label for label in labels)
    assert not any("cap per period" in label for label in labels)


def test_axes_carry_units(run: xr.Dataset) -> None:
    ylabel = plotting.fan_chart(run).axes[0].get_ylabel()
    assert "yuan/member" in ylabel
    assert "yuan" in plotting.exceedance(run).axes[0].get_xlabel()
    left, right = plotting.membership(run).axes[:2]
    assert "members" in left.get_ylabel() and "date" in left.get_xlabel()
    assert "date" in right.get_xlabel()
    assert "yuan" in plotting.components(run).axes[0].get_ylabel()
    assert "yuan" in plotting.platform(run).axes[0].get_ylabel()


@pytest.mark.parametrize(
    ("kind", "drop", "name"),
    [
        ("membership", "closure_period", "closure_period"),
        ("components", "runoff", "runoff"),
        ("platform", "net_cash", "net_cash"),
        ("fan_chart", "share_post", "share_post"),
        ("exceedance", "liability_pv", "liability_pv"),
    ],
)
def test_missing_variable_is_named(run: xr.Dataset, kind: str, drop: str, name: str) -> None:
    with pytest.raises(ValueError, match=f"{kind} needs the variable\\(s\\) {name}"):
        plotting.plot(run.drop_vars(drop), kind)


def test_bad_requests_name_the_valid_choices(run: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="unknown plot kind 'pie'; valid kinds: fan_chart, "):
        plotting.plot(run, "pie")
    with pytest.raises(ValueError, match="heatmap needs a sweep over two fields, got 0"):
        plotting.heatmap(run)
    with pytest.raises(ValueError, match="stat 'mode' is unknown; valid: p_closure, mean"):
        plotting.heatmap(run, stat="mode")
    sweep = synthetic_sweep({"population.members": [1, 2], "a.b": [1, 2], "c.d": [1, 2]})
    with pytest.raises(ValueError, match="select one value of the other swept dims first: d"):
        plotting.heatmap(sweep, fields=("population.members", "a.b"))
    with pytest.raises(ValueError, match="exceedance needs liability_pv with dims \\(path,\\)"):
        plotting.exceedance(sweep)


def test_pinyin_title_without_a_cjk_font(run: xr.Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plotting.style, "cjk_font", lambda: None)
    chinese = scenario_of(run).replace(name="康爱测试")
    ds = run.assign_attrs(scenario=chinese.model_dump_json())
    assert plotting.plan_label(ds) == "kangai"
    for kind in RUN_KINDS:
        fig = plotting.plot(ds, kind, dpi=30)
        title = fig.get_suptitle()
        assert title.endswith("— kangai"), title
        assert all(ord(ch) < 0x2E80 for ch in title), title
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            render(fig)
        assert not [w for w in caught if "Glyph" in str(w.message)]


def test_chinese_title_with_a_cjk_font(run: xr.Dataset) -> None:
    if plotting.cjk_font() is None:
        pytest.skip("no font with Chinese glyphs installed")
    assert plotting.plan_label(run) == "康爱公社 (kangai)"
    fig = plotting.fan_chart(run, dpi=30)
    assert "康爱公社" in fig.get_suptitle()
    render(fig)


def test_no_pyplot_and_no_global_state(run: xr.Dataset) -> None:
    modules = [*(ROOT / "engine" / "plotting").glob("*.py"), ROOT / "engine" / "report.py"]
    assert len(modules) > 3
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = [
            alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        ]
        assert not [name for name in imported if "pyplot" in name or "pylab" in name], module
    before = dict(matplotlib.rcParams)
    managers = len(Gcf.get_all_fig_managers())
    for kind in RUN_KINDS:
        render(plotting.plot(run, kind, dpi=30))
    assert dict(matplotlib.rcParams) == before
    assert len(Gcf.get_all_fig_managers()) == managers  # no figure registered with pyplot


def test_cli_plot(run: xr.Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = save(run, tmp_path / "run.nc")
    out = tmp_path / "members.png"
    assert main(["plot", str(result), "--kind", "membership", "-o", str(out), "--dpi", "40"]) == 0
    assert png_size(out.read_bytes()) == (480, 192)
    assert f"wrote {out}" in capsys.readouterr().out
    junk = tmp_path / "junk.nc"
    junk.write_text("not a result\n")
    assert main(["plot", str(junk), "--kind", "fan_chart", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {junk} is not a huzhu result") and err.count("\n") == 1
