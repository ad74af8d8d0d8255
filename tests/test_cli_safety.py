"""The command line: combinations it refuses, errors it reports, files it will not replace,
a full disk, damaged result files.

Bugs it guards: ``--tail-target`` silently ignoring ``--mode``/``--checkpoint``/
``--scheduler``; every ``KeyError``/``ValueError`` (bugs included) turned into a user error;
``--out`` deleting a directory or file the engine did not write, or ``-o`` renaming over a
special file; a full disk ending in a crash; damaged files giving tracebacks (RecursionError,
IndexError, TypeError) or ``Exception ignored`` noise after the error.
"""

import contextlib
import errno
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import engine.cli
import engine.io
from engine.io import save
from engine.simulate import simulate
from tests.conftest import make_scenario

SCENARIO_TOML = (
    '[plan]\npreset = "kangai"\n[population]\nmembers = 20000\n[run]\npaths = 4\nyears = 0.5\n'
)


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = engine.cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> None:
    assert err.startswith("error: ") and err.endswith("\n") and "\n" not in err[:-1], err


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "s.toml"
    path.write_text(SCENARIO_TOML)
    return path


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    ds = simulate(make_scenario("kangai", 20_000, run={"paths": 4, "years": 0.5}), threads=1)
    return ds


@pytest.mark.parametrize(
    "extra", [["--mode", "streaming"], ["--checkpoint", "ck"], ["--scheduler", "local"]]
)
def test_tail_target_refuses_what_it_cannot_honour(scenario_file, tmp_path, extra):
    extra = [str(tmp_path / x) if x == "ck" else x for x in extra]
    code, out, err = cli(["run", str(scenario_file), "--tail-target", "0.9", *extra])
    assert (code, out) == (2, "")
    one_line(err)
    assert "--tail-target" in err and extra[0] in err


def test_a_bug_is_not_reported_as_bad_input(monkeypatch):
    import engine.cli.plans

    def bug(args):
        raise KeyError("internal")

    monkeypatch.setattr(engine.cli.plans, "run", bug)
    with pytest.raises(KeyError, match="internal"):
        engine.cli.main(["plans"])
    monkeypatch.setattr(engine.cli.plans, "run", lambda a: [][1])
    with pytest.raises(IndexError):
        engine.cli.main(["plans"])
    # bad input still is: an unknown plan, an unknown incidence definition
    code, _, err = cli(["expected", "--plan", "nope", "--age", "30", "--sex", "M"])
    assert code == 2 and "unknown plan 'nope'" in err
    one_line(err)


def test_out_replaces_only_what_the_engine_wrote(scenario_file, tmp_path, result):
    foreign = tmp_path / "data.zarr"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    code, out, err = cli(["run", str(scenario_file), "--quiet", "--out", str(foreign)])
    assert (code, out) == (2, "") and "did not write" in err and "--force" in err
    one_line(err)
    assert (foreign / "precious.txt").read_text() == "keep me"
    plain = tmp_path / "notes.nc"
    plain.write_text("not a result")
    assert cli(["run", str(scenario_file), "--quiet", "--out", str(plain)])[0] == 2
    assert plain.read_text() == "not a result"
    # --force replaces a regular file; a result of the engine is replaced without it
    assert cli(["run", str(scenario_file), "--quiet", "--out", str(plain), "--force"])[0] == 0
    assert cli(["run", str(scenario_file), "--quiet", "--out", str(plain)])[0] == 0
    zarr = save(result, tmp_path / "r.zarr")
    assert save(result, zarr) == zarr  # a Zarr result replaced by another
    report = tmp_path / "report.html"
    report.write_text("<html>someone's page</html>")
    code, _, err = cli(["report", str(plain), "-o", str(report)])
    assert code == 2 and "did not write" in err
    assert cli(["report", str(plain), "-o", str(report), "--force"])[0] == 0
    assert cli(["report", str(plain), "-o", str(report)])[0] == 0  # now a huzhu report


def test_special_files_are_never_replaced(tmp_path, result):
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    link = tmp_path / "link.nc"
    link.symlink_to(tmp_path / "elsewhere.nc")
    nc = save(result, tmp_path / "r.nc")
    for argv in (
        ["report", str(nc), "-o", str(fifo), "--force"],
        ["rerun", str(nc), "-o", str(link), "--force"],
    ):
        code, _, err = cli(argv)
        assert code == 2, err
        one_line(err)
    assert fifo.is_fifo() and link.is_symlink()


def test_a_full_disk_gives_the_one_line_error(monkeypatch, tmp_path, scenario_file):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(engine.io.shutil, "disk_usage", lambda _: usage._replace(free=10_000))
    out = tmp_path / "x.nc"
    code, _, err = cli(["run", str(scenario_file), "--quiet", "--out", str(out)])
    assert code == 1 and f"cannot write {out}" in err and "No space left" in err
    one_line(err)
    assert not out.exists() and not list(tmp_path.glob(".x.nc*"))


def test_a_write_failing_with_enospc_midway_leaves_nothing(monkeypatch, tmp_path, result):
    def full(self, target, **kwargs):
        Path(target).write_bytes(b"\x89HDF half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.io.xr.Dataset, "to_netcdf", full)
    with pytest.raises(OSError, match=r"cannot write .*x\.nc: No space left"):
        save(result, tmp_path / "x.nc")
    assert list(tmp_path.iterdir()) == []


def _damaged(result, folder: Path) -> dict[str, Path]:
    files = {}
    deep = result.copy()
    deep.attrs["scenario"] = "[" * 100_000 + "]" * 100_000
    variants = {
        "deep": deep,
        "no-paths": result.isel(path=slice(0, 0)),
        "no-periods": result.isel(period=slice(0, 0)),
        "no-period-coordinate": result.drop_vars("period"),
    }
    for name, ds in variants.items():
        files[name] = folder / f"{name}.nc"
        ds.to_netcdf(files[name], engine="h5netcdf")
    good = save(result, folder / "good.nc").read_bytes()
    header = folder / "header.nc"
    header.write_bytes(good[:600] + bytes(400) + good[1000:])
    files["header"] = header
    return files


def test_damaged_files_give_one_line_errors_naming_the_file(tmp_path, result):
    """Each damage with one of report, plot, rerun (they share the reader). A damaged
    header's handle, collected late, would print "Exception ignored in File.close": pytest
    turns that into an error here."""
    commands = {
        "report": ["-o", str(tmp_path / "r.html")],
        "plot": ["--kind", "exceedance", "-o", str(tmp_path / "p.png")],
        "rerun": [],
    }
    cycle = ["report", "plot", "rerun", "report", "plot", "rerun"]
    for (name, path), command in zip(_damaged(result, tmp_path).items(), cycle, strict=False):
        code, _, err = cli([command, str(path), *commands[command]])
        assert code in (1, 2), (name, err)
        one_line(err)
        assert str(path) in err, (name, err)
    header = tmp_path / "header.nc"
    for command in ("plot", "rerun"):
        one_line(cli([command, str(header), *commands[command]])[2])


def test_damaged_checkpoint_chunks_give_no_traceback(tmp_path, scenario_file):
    ck = tmp_path / "ck"
    argv = ["run", str(scenario_file), "--quiet", "--checkpoint", str(ck)]
    assert cli(argv)[0] == 0
    chunk = next(ck.glob("chunk-*.npz"))
    for damage in (b"", b"PK\x03\x04garbage", np.random.default_rng(1).bytes(5000)):
        chunk.write_bytes(damage)
        code, _, err = cli(argv)
        assert (code, err) == (0, ""), err
    (ck / "run.json").write_text("[" * 100_000)
    code, _, err = cli(argv)
    assert code == 2
    one_line(err)
