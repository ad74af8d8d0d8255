"""The HTML report: self-contained, every figure and table present, rendered by Chromium."""

import base64
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import xarray as xr

from engine.cli import main
from engine.io import save
from engine.report import RUN_FIGURES, render_report, write_report
from engine.simulate import simulate
from tests.test_plotting import outputs_scenario, synthetic_sweep

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
RUN_TABLES = ("table-headline", "table-risk", "table-years", "table-closure", "table-provenance")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class Page(HTMLParser):
    """Every tag of a page with its attributes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def ids(self, tag: str) -> set[str]:
        return {a["id"] for t, a in self.tags if t == tag and "id" in a}

    def images(self) -> dict[str, str]:
        return {a.get("id", ""): a.get("src", "") for t, a in self.tags if t == "img"}


@pytest.fixture(scope="module")
def run() -> xr.Dataset:
    return simulate(outputs_scenario())


@pytest.fixture(scope="module")
def report(run: xr.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(run, tmp_path_factory.mktemp("report") / "report.html", dpi=60)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_has_every_figure_and_table(report: Path, run: xr.Dataset) -> None:
    text = report.read_text(encoding="utf-8")
    page = Page(text)
    images = page.images()
    assert set(images) == {f"img-{kind}" for kind in RUN_FIGURES}
    for src in images.values():
        assert src.startswith("data:image/png;base64,")
        width, height = png_size(base64.b64decode(src.split(",", 1)[1]))
        assert width > 300 and height > 200
    assert set(RUN_TABLES) <= page.ids("table")
    assert "Not available" not in text
    for value in (run.attrs["seed"], run.attrs["engine_version"], run.attrs["created"]):
        assert value in text
    assert page.ids("pre") == {"scenario-toml", "scenario-json"}
    assert "[termination]" in text and "min_members = 274000" in text
    assert "&quot;min_members&quot;: 274000" in text
    assert "VaR 99.5%" in text and "康爱公社" in text


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    page = Page(text)
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "data", "action", "poster"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, key, value[:80])
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
    assert not re.search(r"url\(|@import", text)


def test_report_names_figures_a_result_cannot_draw(run: xr.Dataset) -> None:
    text = render_report(run.drop_vars(["runoff", "closure_period"]), dpi=40)
    page = Page(text)
    assert set(page.images()) == {"img-fan_chart", "img-exceedance", "img-platform"}
    assert page.ids("li") >= {"missing-membership", "missing-components"}
    assert "components needs the variable(s) runoff" in text
    assert "table-closure" not in page.ids("table")


def test_report_of_a_sweep(tmp_path: Path) -> None:
    sweep = synthetic_sweep({"population.members": [100_000, 1_000_000], "exits.price_rate": [0.1]})
    path = write_report(sweep, tmp_path / "sweep.html", dpi=40)
    page = Page(path.read_text(encoding="utf-8"))
    assert set(page.images()) == {"img-heatmap"}
    assert page.ids("table") == {"table-sweep", "table-provenance"}  # no pooled risk table
    one = write_report(sweep.isel(price_rate=0, drop=True), tmp_path / "members.html", dpi=40)
    assert set(Page(one.read_text(encoding="utf-8")).images()) == {"img-platform"}


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    shot = tmp_path / "report.png"
    url = report.resolve().as_uri()

    def chromium(*args: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
        return subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = chromium(f"--screenshot={shot}", "--window-size=1200,4000")
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == (1200, 4000)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")

    dom = chromium("--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Page(dom.stdout)
    images = page.images()
    assert set(images) == {f"img-{kind}" for kind in RUN_FIGURES}
    assert all(src.startswith("data:image/png;base64,") for src in images.values())
    assert set(RUN_TABLES) <= page.ids("table")
    assert {"figures", "scenario", "provenance"} <= page.ids("section")


def test_cli_report(run: xr.Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = save(run.isel(path=slice(0, 20)), tmp_path / "run.zarr")
    out = tmp_path / "report.html"
    assert main(["report", str(result), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert len(Page(out.read_text(encoding="utf-8")).images()) == len(RUN_FIGURES)
    not_result = tmp_path / "elsewhere.zarr"
    not_result.mkdir()
    assert main(["report", str(not_result), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {not_result} is not a huzhu result") and err.count("\n") == 1
