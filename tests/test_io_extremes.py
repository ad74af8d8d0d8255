"""I/O failures: a missing folder, a folder that refuses writes, a full disk; no partial file
is ever left under the final name, and a failed write names the file asked for."""

import contextlib
import errno
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest
import xarray as xr

import engine.cli
import engine.cli.run
import engine.io
from engine.simulate import simulate
from tests.conftest import make_scenario
from tests.inputs import RUN, SIM, Simulated, assert_one_line, huzhu


def leftovers(folder: Path) -> list[str]:
    """Anything in ``folder`` (temporary files included)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@contextlib.contextmanager
def failing_writer(error: OSError, zarr: bool = False) -> Iterator[list[Path]]:
    """Make the netCDF (or Zarr) writer write part of its file, then raise ``error``."""
    targets: list[Path] = []
    name = "_write_zarr" if zarr else "_write_netcdf"
    original: Callable[..., None] = getattr(engine.io, name)

    def broken(ds: xr.Dataset, target: Path) -> None:
        targets.append(Path(target))
        if zarr:
            Path(target).mkdir()
            (Path(target) / ".zgroup").write_text("{")
        else:
            Path(target).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
        raise error

    with mock.patch.object(engine.io, name, broken):
        yield targets
    assert original is getattr(engine.io, name)


def _refuses_writes(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        probe.write_text("x")
    except PermissionError:
        return True
    probe.unlink()
    return False


def out_refused(target: Path) -> str:
    """``huzhu run --out target`` with simulation replaced: it must be refused first, with
    exit code 2 and one line; that line is returned."""
    with mock.patch.object(SIM, "simulate", side_effect=Simulated):
        code, out, err = huzhu([*RUN, "--out", str(target)])
    assert (code, out) == (2, ""), err
    assert_one_line(err)
    assert err.startswith(f"error: --out {target}: ") and ".partial" not in err
    return err


def test_out_in_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.nc"
    code, _, err = huzhu([*RUN, "--out", str(target)])
    assert code == 2
    assert_one_line(err)
    assert err == f"error: --out {target}: the folder {target.parent} does not exist\n"
    assert not target.exists() and not target.parent.exists()
    assert leftovers(tmp_path) == []


def test_out_in_a_missing_folder_is_refused_before_simulating(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "deeper" / "x.zarr"
    err = out_refused(target)
    assert f"the folder {target.parent} does not exist" in err
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["x.csv", "x", "x.nc.txt"])
def test_out_with_another_suffix_is_refused_before_simulating(tmp_path: Path, name: str) -> None:
    err = out_refused(tmp_path / name)
    assert err.endswith(": the name must end in .nc (netCDF) or .zarr\n")
    assert leftovers(tmp_path) == []


def test_out_is_an_existing_folder(tmp_path: Path) -> None:
    """``--out taken.nc`` where taken.nc is a folder the engine did not write: refused
    before simulating, naming the file asked for, and the folder is left alone."""
    target = tmp_path / "taken.nc"
    target.mkdir()
    code, out, err = huzhu([*RUN, "--out", str(target)])
    assert code == 2 and out == ""
    assert_one_line(err)
    assert err.startswith(f"error: {target} exists and is a directory this engine did not"), err
    assert ".partial" not in err
    assert leftovers(tmp_path) == ["taken.nc"] and leftovers(target) == []


def test_read_only_folder_is_refused_before_simulating(tmp_path: Path) -> None:
    """chmod 500 blocks writes, except for root: then ``os.access`` is made to answer as it
    would for anybody else."""
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "x.nc"
    folder.chmod(0o500)
    try:
        if _refuses_writes(folder):
            err = out_refused(target)
        else:  # root ignores the mode
            with mock.patch.object(engine.cli.run.os, "access", return_value=False):
                err = out_refused(target)
    finally:
        folder.chmod(0o700)
    assert err.endswith(f": the folder {folder} is not writable\n")
    assert leftovers(folder) == []


def test_folder_that_refuses_the_write_itself(tmp_path: Path) -> None:
    """A folder that passes the check but refuses the file (a read-only mount, say)."""
    target = tmp_path / "x.nc"
    denied = PermissionError(errno.EACCES, "Permission denied", str(target))
    with failing_writer(denied):
        code, out, err = huzhu([*RUN, "--out", str(target)])
    assert code == 1 and "wrote" not in out
    assert err == f"error: [Errno {errno.EACCES}] cannot write {target}: Permission denied\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.EIO, "Input/output error"),
    ],
    ids=["disk full", "permission", "I/O error"],
)
def test_write_failure_mid_file_leaves_nothing(tmp_path: Path, error: OSError) -> None:
    target = tmp_path / "x.nc"
    with failing_writer(error) as written:
        code, out, err = huzhu([*RUN, "--out", str(target)])
    assert written and written[0] != target  # it wrote to a temporary name
    assert code != 0
    assert_one_line(err)
    assert error.strerror is not None and f"cannot write {target}: {error.strerror}" in err
    assert "wrote" not in out
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"
    assert huzhu([*RUN, "--seed", "1", "--out", str(target)])[0] == 0
    before = target.read_bytes()
    with failing_writer(OSError(errno.ENOSPC, "No space left on device")):
        code, _, _ = huzhu([*RUN, "--seed", "2", "--out", str(target)])
    assert code != 0
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == ["x.nc"]


def test_disk_full_message_names_the_output_file(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"

    def name_tmp(ds: xr.Dataset, tmp: Path) -> None:
        # the operating system names the file it was writing: the temporary one
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with mock.patch.object(engine.io, "_write_netcdf", name_tmp):
        code, _, err = huzhu([*RUN, "--out", str(target)])
    assert code == 1
    assert err == f"error: [Errno {errno.ENOSPC}] cannot write {target}: No space left on device\n"
    assert leftovers(tmp_path) == []


def test_write_atomic_names_the_final_path(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"
    tried: list[Path] = []

    def full(tmp: Path) -> None:
        tried.append(tmp)
        tmp.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as info:
        engine.io.write_atomic(target, full)
    assert tried and tried[0] != target
    assert info.value.errno == errno.ENOSPC
    assert info.value.strerror == f"cannot write {target}: No space left on device"
    assert str(tried[0]) not in str(info.value)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_disk_full_leaves_nothing(tmp_path: Path, suffix: str) -> None:
    if not hasattr(engine.io, "save"):
        pytest.skip("engine.io.save does not exist yet")
    ds = simulate(make_scenario(), paths=2)
    target = tmp_path / f"x{suffix}"
    with (
        failing_writer(OSError(errno.ENOSPC, "No space left on device"), zarr=suffix == ".zarr"),
        pytest.raises(OSError, match="No space left"),
    ):
        engine.io.save(ds, target)
    assert leftovers(tmp_path) == []


def test_save_failed_rename_leaves_nothing(tmp_path: Path) -> None:
    if not hasattr(engine.io, "save"):
        pytest.skip("engine.io.save does not exist yet")
    ds = simulate(make_scenario(), paths=2)
    target = tmp_path / "x.nc"
    with (
        mock.patch.object(engine.io.os, "replace", side_effect=OSError(errno.EXDEV, "cross")),
        pytest.raises(OSError) as info,
    ):
        engine.io.save(ds, target)
    assert info.value.errno == errno.EXDEV
    assert info.value.strerror == f"cannot write {target}: cross"
    assert leftovers(tmp_path) == []
