"""The repository speaks for itself: no link or path leaves it, and the README's first
lines and its scenario block are true."""

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (".md", ".py", ".toml", ".ipynb", ".yml", ".yaml", ".cfg", ".txt", ".csv", "")
OUTSIDE = re.compile(r"\.\./shared|(?<![\w.])/work/|(?<![\w/])/home/|file://|\.\./\.\./")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    paths = [ROOT / f for f in listed if (ROOT / f).is_file()]
    return [p for p in paths if p.suffix in TEXT and p.name != "test_repository.py"]


def test_no_path_points_outside_the_repository() -> None:
    """Red if a file names a folder beside the checkout, an absolute path of this machine or a
    file URL."""
    found = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert found == []


def _markdown(path: Path) -> str:
    """A Markdown file's text, or a notebook's Markdown cells (code such as ``f["a"](10)``
    looks like a link but is none)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_relative_links_resolve_inside_the_repository() -> None:
    """Every Markdown link that is not a URL or an anchor names a file in the repository.
    Pages the site generates (docs/hooks.py) count as present."""
    generated = {ROOT / "docs" / "scenarios.md", ROOT / "docs" / "commands.md"}
    broken = []
    for path in _files():
        if path.suffix not in (".md", ".ipynb"):
            continue
        for target in LINK.findall(_markdown(path)):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            base = path.parent
            if path.parent.name == "docs" and target.startswith("notebooks/"):
                base = ROOT  # the site maps docs/notebooks/ to notebooks/
            resolved = (base / target.split("#")[0]).resolve()
            inside = resolved.is_relative_to(ROOT)
            if not inside or not (resolved.exists() or resolved in generated):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


def test_readme_opens_with_the_two_commands() -> None:
    """Red if the first code block grows beyond install-and-run and the tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(first) == 2
    assert first[0].endswith("huzhu run xianghubao") and first[1] == "pytest"


def test_readme_scenario_block_is_the_bundled_file() -> None:
    """The README shows scenarios/xianghubao.toml as it is: red if one changes alone."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    assert block == (ROOT / "scenarios" / "xianghubao.toml").read_text(encoding="utf-8")


def test_no_scenario_script_shadows_an_installed_module() -> None:
    """A script runs with scenarios/ first on sys.path: one named like a module the engine
    imports (a ``tornado.py`` beside dask's ``tornado``) breaks every other script there."""
    import importlib.util

    shadowing = [
        p.name for p in (ROOT / "scenarios").glob("*.py") if importlib.util.find_spec(p.stem)
    ]
    assert shadowing == []
