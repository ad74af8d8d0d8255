"""Reading and writing results."""

from pathlib import Path

import xarray as xr


def to_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to netCDF-4 atomically (a temporary name, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
