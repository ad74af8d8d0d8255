"""Files that are not results (empty, text, other netCDF or Zarr, random bytes) are refused
by ``huzhu plot`` and ``huzhu report`` with one line naming the file."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from tests.inputs import ROOT, assert_one_line_error, cli, examples


def _has_command(name: str) -> bool:
    code, _, _, _ = cli([name, "--help"])
    return code == 0


def _not_results(folder: Path) -> dict[str, Path]:
    """Files and folders that are not huzhu results, by what they are."""
    out: dict[str, Path] = {}
    (folder / "empty.nc").write_bytes(b"")
    out["empty file"] = folder / "empty.nc"
    out["scenario"] = ROOT / "scenarios" / "xianghubao.toml"
    (folder / "text.nc").write_text("period,members\n")
    out["text"] = folder / "text.nc"
    other = xr.Dataset({"x": ("t", np.arange(3.0))}, attrs={"title": "not ours"})
    other.to_netcdf(folder / "other.nc", engine="h5netcdf")
    out["other netCDF"] = folder / "other.nc"
    other.to_zarr(folder / "other.zarr", mode="w", zarr_format=2, consolidated=True)
    out["other Zarr"] = folder / "other.zarr"
    bad_attr = other.assign_attrs(
        scenario="{not json", seed="1", engine_version="0", created="now"
    ).assign(liability_pv=("path", [1.0]))
    bad_attr.to_netcdf(folder / "badattr.nc", engine="h5netcdf")
    out["result-like, scenario not JSON"] = folder / "badattr.nc"
    (folder / "folder.zarr").mkdir(exist_ok=True)
    out["empty folder"] = folder / "folder.zarr"
    out["missing"] = folder / "missing.nc"
    return out


@pytest.mark.parametrize("command", ["plot", "report"])
def test_plot_and_report_reject_files_that_are_not_results(tmp_path: Path, command: str) -> None:
    if not _has_command(command):
        pytest.skip(f"huzhu {command} does not exist yet")
    extra = ["--kind", "fan_chart"] if command == "plot" else []
    for what, path in _not_results(tmp_path).items():
        code, _, err, _ = cli([command, str(path), *extra, "-o", str(tmp_path / "out.png")])
        assert code in (1, 2), (what, err)
        assert_one_line_error(err)
        assert path.name in err, (what, err)
        assert not (tmp_path / "out.png").exists()


@examples(150)
@given(
    raw=st.one_of(
        st.binary(max_size=300), st.binary(max_size=40).map(lambda b: b"\x89HDF\r\n\x1a\n" + b)
    )
)
def test_report_rejects_random_bytes(folder: Path, raw: bytes) -> None:
    if not _has_command("report"):
        pytest.skip("huzhu report does not exist yet")
    path = folder / "random.nc"
    path.write_bytes(raw)
    code, _, err, _ = cli(["report", str(path), "-o", str(folder / "r.html")])
    assert code == 2, err
    assert_one_line_error(err)
    assert "is not a huzhu result" in err
