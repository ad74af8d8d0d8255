"""The documentation site, as built by ``mkdocs build --strict`` (CI builds it into
``site/`` first): its pages render in headless Chromium with their figures."""

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from tests.test_report import CHROMIUM_FLAGS, Page, png_size

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("HUZHU_DOCS_SITE", ROOT / "site"))
ARTIFACTS = ROOT / "tests" / "artifacts"
NOTEBOOK_PAGE = SITE / "notebooks" / "01_quickstart" / "index.html"


@pytest.fixture(scope="module")
def browser() -> str:
    found = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    missing = [] if (SITE / "index.html").exists() else ["the site (mkdocs build)"]
    missing += [] if found else ["chromium"]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide {' and '.join(missing)}")
        pytest.skip(f"needs {' and '.join(missing)}")
    assert found is not None
    return found


def _chromium(browser: str, page: Path, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _coloured_share(browser: str, page: Path, tmp_path: Path) -> float:
    """The share of a screenshot's pixels, below the header bar, that are neither white nor
    grey: figures are coloured, the text around them is not."""
    shot = tmp_path / f"{page.parent.name or 'index'}.png"
    _chromium(browser, page, tmp_path, f"--screenshot={shot}", "--window-size=1200,9000")
    assert png_size(shot.read_bytes()) == (1200, 9000)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / f"docs-{shot.name}")
    rgb = image.imread(shot)[150:, :, :3]
    return float((rgb.max(axis=2) - rgb.min(axis=2) > 0.15).mean())


def test_index_shows_its_figure(browser: str, tmp_path: Path) -> None:
    """Red if the index's figure is not in the page or not copied into the site."""
    page = Page(_chromium(browser, SITE / "index.html", tmp_path, "--dump-dom"))
    sources = [src for _, src in page.images().items()] or re.findall(
        r'<img[^>]+src="([^"]+)"', (SITE / "index.html").read_text()
    )
    assert "fan_chart.png" in sources
    assert png_size((SITE / "fan_chart.png").read_bytes())[0] > 300


def test_notebook_page_shows_its_executed_figures(browser: str, tmp_path: Path) -> None:
    """The notebooks are stored without outputs and executed at build time: red if the
    build stops executing them (no figures), or the figures do not show on screen (the
    screenshot of the notebook page is no more coloured than a page of text)."""
    dom = _chromium(browser, NOTEBOOK_PAGE, tmp_path, "--dump-dom")
    figures = re.findall(r'src="data:image/png;base64,([^"]+)"', dom)
    assert len(figures) >= 2
    for data in figures:
        width, height = png_size(base64.b64decode(data))
        assert width > 200 and height > 100
    with_figures = _coloured_share(browser, NOTEBOOK_PAGE, tmp_path)
    text_only = _coloured_share(browser, SITE / "commands" / "index.html", tmp_path)
    assert with_figures > 0.01 and with_figures > 5 * text_only, (with_figures, text_only)
    assert np.isfinite(with_figures)
