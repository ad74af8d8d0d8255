"""Reading and writing results: netCDF or Zarr, CF-style attributes, atomic writes, reruns.

``save`` picks the format from the suffix (``.nc``: netCDF-4 through h5netcdf; ``.zarr``: a
Zarr v2 store with consolidated metadata, which every Zarr reader opens). Both carry CF-1.10
attributes: ``units`` and ``long_name`` on every variable, ``standard_name = "time"`` and a
``calendar`` on the period coordinate. A write goes to a temporary name in the target's
folder and is renamed into place, so a failed write never leaves a file under the final
name. ``open_result`` reads either format and checks that the file is a huzhu result;
``rerun`` re-simulates a result from the scenario and seed recorded in it.
"""

import contextlib
import copy
import errno
import gc
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pydantic import ValidationError

from engine.atomic import write_atomic
from engine.errors import InputError
from engine.results import VARIABLES
from engine.scenario import Scenario, scenario_from_dict
from engine.simulate import simulate

__all__ = [
    "CONVENTIONS",
    "FORMATS",
    "cf_dataset",
    "differences",
    "open_result",
    "rerun",
    "save",
    "scenario_of",
    "to_netcdf",
    "write_atomic",
]

CONVENTIONS = "CF-1.10"
FORMATS = {".nc": "netCDF-4", ".zarr": "Zarr"}
"""File suffixes ``save`` understands and the format each selects."""

REQUIRED_ATTRS = ("scenario", "seed", "engine_version", "created")
"""Dataset attributes every result carries (provenance)."""

REQUIRED_VARIABLES = ("liability_pv",)
"""Variables every result has, single runs and sweeps alike."""

CALENDAR = "proleptic_gregorian"
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError)
"""What the netCDF and Zarr readers raise on files that are not theirs."""


# --- CF attributes -------------------------------------------------------------------------


def cf_dataset(ds: xr.Dataset) -> xr.Dataset:
    """A copy of ``ds`` with CF-1.10 attributes, as ``save`` writes it.

    Every variable gets ``long_name`` (its description, else its name) and, where known,
    ``units``; the period coordinate gets ``standard_name = "time"``, ``axis = "T"`` and is
    encoded as ``days since`` the first period in the proleptic Gregorian calendar (the
    ``units`` and ``calendar`` attributes on disk); ``path`` gets ``units = "1"``.
    Encodings left over from a file the Dataset was read from are dropped.
    """
    out = ds.copy(deep=False)
    for name, var in out.variables.items():
        attrs = dict(var.attrs)
        if name in VARIABLES:
            units, description = VARIABLES[str(name)]
            attrs.setdefault("units", units)
            attrs.setdefault("description", description)
        attrs.setdefault("long_name", attrs.get("description", str(name)))
        var.attrs = attrs
        var.encoding = {}
    if "path" in out.coords:
        out["path"].attrs.setdefault("units", "1")
    if "period" in out.coords and np.issubdtype(out["period"].dtype, np.datetime64):
        period = out["period"]
        for key in ("units", "calendar"):
            period.attrs.pop(key, None)
        period.attrs.update(standard_name="time", axis="T")
        first = np.datetime_as_string(period.values[0], unit="D") if period.size else "1970-01-01"
        period.encoding = {"units": f"days since {first}", "calendar": CALENDAR}
    out.attrs = {**ds.attrs, "Conventions": CONVENTIONS}
    return out


# --- atomic writes -------------------------------------------------------------------------

REPORT_GENERATOR = "huzhu report"
"""The ``<meta name="generator">`` of the HTML reports this engine writes."""


def _written_here(path: Path) -> bool:
    """Whether ``path`` (a regular file or a directory, not a link) is a result or a report
    this engine wrote."""
    try:
        if path.is_dir():
            for name in (".zattrs", "zarr.json"):
                meta = path / name
                if meta.is_file():
                    data = json.loads(meta.read_text(encoding="utf-8")[:10_000_000])
                    attrs = data.get("attributes", data) if isinstance(data, dict) else {}
                    return isinstance(attrs, dict) and attrs.get("engine") == "huzhu"
            return False
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if head.startswith(b"\x89HDF"):
            import h5py

            with _quiet_close(), h5py.File(path, "r") as f:
                return bool(f.attrs.get("engine") in ("huzhu", b"huzhu"))
        return f'<meta name="generator" content="{REPORT_GENERATOR}">'.encode() in head
    except (OSError, ValueError, RecursionError, UnicodeDecodeError):
        return False


def check_replace(path: Path, *, force: bool = False) -> None:
    """Refuse to replace ``path`` unless it does not exist, is a result or report this
    engine wrote (a regular file, or a Zarr directory), or ``force`` is set. Something
    that is not a regular file or a directory (a device, a socket, a link) is refused even
    with ``force``."""
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() or not (path.is_file() or path.is_dir()):
        kind = "a symbolic link" if path.is_symlink() else "not a regular file"
        raise InputError(f"{path} exists and is {kind}: choose another name")
    if not force and not _written_here(path):
        kind = "directory" if path.is_dir() else "file"
        raise InputError(
            f"{path} exists and is a {kind} this engine did not write: choose another name, "
            "or pass --force (force=True) to replace it"
        )


def _write_netcdf(ds: xr.Dataset, target: Path) -> None:
    """Write netCDF-4 after checking the disk has room: HDF5 can crash the process when a
    write fails midway, so a full disk must be seen before it starts."""
    need = int(ds.nbytes * 1.1) + 1_000_000
    free = shutil.disk_usage(target.parent).free
    if need > free:
        raise OSError(
            errno.ENOSPC,
            f"{os.strerror(errno.ENOSPC)} (about {need / 2**20:,.0f} MiB needed, "
            f"{free / 2**20:,.0f} MiB free)",
        )
    ds.to_netcdf(target, engine="h5netcdf")


def _write_zarr(ds: xr.Dataset, target: Path) -> None:
    ds.to_zarr(target, mode="w-", zarr_format=2, consolidated=True)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        valid = ", ".join(f"{s} ({f})" for s, f in FORMATS.items())
        raise InputError(
            f"{path}: unknown result format {suffix or '(no suffix)'!r}; valid: {valid}"
        )
    return suffix


def save(ds: xr.Dataset, path: str | Path, *, force: bool = False) -> Path:
    """Write a result to ``path``: netCDF-4 for ``.nc``, Zarr for ``.zarr``, atomically.

    The file opens with ``xarray.open_dataset`` (netCDF) or ``xarray.open_zarr`` (Zarr) as
    well as with :func:`open_result`; it carries CF-1.10 attributes (:func:`cf_dataset`).
    It is written to a temporary name and renamed, so a failed write leaves nothing under
    ``path``.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of ``simulate``, ``simulate_tail`` or ``sweep``.
    path : str or Path
        The file (``.nc``) or store (``.zarr``) to write.
    force : bool
        Replace an existing ``path`` that this engine did not write (a regular file or a
        directory; never a link or a device). Without it only a result or report of this
        engine is replaced (:func:`check_replace`).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        For an unknown suffix, or a ``path`` that may not be replaced.
    OSError
        When the disk is full or the folder cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run.nc"
    >>> save(ds, out) == out and open_result(out).attrs["seed"] == "1"
    True
    """
    path = Path(path)
    suffix = _format(path)
    check_replace(path, force=force)
    data = cf_dataset(ds)
    writer = _write_netcdf if suffix == ".nc" else _write_zarr
    return write_atomic(path, lambda tmp: writer(data, tmp))


def to_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to netCDF-4 atomically (a temporary name, then rename), any suffix.

    :func:`save` is the entry point; this is its netCDF writer without the suffix and
    replacement checks."""
    path = Path(path)
    data = cf_dataset(ds)
    return write_atomic(path, lambda tmp: _write_netcdf(data, tmp))


# --- reading -------------------------------------------------------------------------------


def _not_a_result(path: Path, why: str) -> InputError:
    return InputError(f"{path} is not a huzhu result ({why})")


def _problems(ds: xr.Dataset) -> list[str]:
    problems = [f"attribute {a!r} missing" for a in REQUIRED_ATTRS if a not in ds.attrs]
    problems += [f"variable {v!r} missing" for v in REQUIRED_VARIABLES if v not in ds.variables]
    if "path" not in ds.dims:
        problems.append("dimension 'path' missing")
    if "path" in ds.dims and ds.sizes["path"] == 0:
        problems.append("it has 0 paths")
    if "period" in ds.dims:
        if ds.sizes["period"] == 0:
            problems.append("it has 0 periods")
        elif "period" not in ds.coords:
            problems.append("coordinate 'period' missing")
        elif not np.issubdtype(ds["period"].dtype, np.datetime64):
            problems.append("coordinate 'period' is not dates")
    if "scenario" in ds.attrs:
        try:
            scenario = json.loads(ds.attrs["scenario"])
        except (TypeError, ValueError, RecursionError):  # deep nesting: not a scenario
            scenario = None
        if not isinstance(scenario, dict) or not isinstance(scenario.get("plan"), dict):
            problems.append("attribute 'scenario' is not a scenario's JSON")
    return problems


@contextlib.contextmanager
def _quiet_close() -> Any:
    """Silence the errors a damaged HDF5 file raises again when its handle is collected
    ("Exception ignored in File.close"): the reader's own error has said what is wrong."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook = hook


def open_result(path: str | Path, *, lazy: bool = False) -> xr.Dataset:
    """Read a result saved by :func:`save` (netCDF or Zarr, told apart by their content).

    Parameters
    ----------
    path : str or Path
        A ``.nc`` file or a ``.zarr`` store written by :func:`save`.
    lazy : bool
        Leave the data on disk (the file stays open) instead of loading it into memory and
        closing the file.

    Returns
    -------
    xarray.Dataset
        The result, periods decoded to ``datetime64[s]`` as ``simulate`` returns them.

    Raises
    ------
    InputError
        ``"... is not a huzhu result (...)"`` for a file in another format, a damaged one,
        or a Dataset without the provenance attributes and variables of a result.
    FileNotFoundError
        When ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> back = open_result(save(ds, folder / "run.zarr"))
    >>> back.sizes["path"], back.attrs["seed"]
    (40, '1')
    >>> (folder / "notes.txt").write_text("not a result")
    12
    >>> open_result(folder / "notes.txt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    engine.errors.InputError: ...notes.txt is not a huzhu result (not a netCDF-4 file: ...)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    times = xr.coders.CFDatetimeCoder(time_unit="s")
    failure = None
    with _quiet_close():  # the handle of a damaged file is collected in here, silently
        try:
            if path.is_dir():
                ds = xr.open_zarr(path, decode_times=times)
            else:
                ds = xr.open_dataset(path, engine="h5netcdf", decode_times=times)
        except _READ_ERRORS as exc:
            kind = "not a Zarr store" if path.is_dir() else "not a netCDF-4 file"
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            failure = f"{kind}: {detail}"
    if failure is not None:
        raise _not_a_result(path, failure)
    try:
        problems = _problems(ds)
    except _READ_ERRORS as exc:  # RecursionError is a RuntimeError
        problems = [f"its header cannot be read: {type(exc).__name__}"]
    if problems:
        ds.close()
        raise _not_a_result(path, "; ".join(problems))
    if lazy:
        return ds
    try:
        return ds.load()
    except _READ_ERRORS as exc:
        raise _not_a_result(path, f"its data cannot be read: {exc}") from None
    finally:
        ds.close()


def _restore_infinities(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``null`` put back to infinity wherever the scenario wants a number.

    pydantic's JSON writes an infinite float (no cap, no limit) as ``null``; a float field
    that is not optional can only have been written that way.
    """
    data = copy.deepcopy(data)
    try:
        Scenario.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            if error["type"] != "float_type" or error["input"] is not None:
                continue
            *parents, last = error["loc"]
            node: Any = data
            for key in parents:
                node = node[key]
            node[last] = math.inf
    return data


def scenario_of(ds: xr.Dataset) -> Scenario:
    """The scenario recorded in a result's ``scenario`` attribute, validated again.

    An infinite value (a cap, a limit) may be stored as ``Infinity`` or, by JSON writers
    that cannot write it, as ``null``; both read back as infinity.
    """
    data = json.loads(ds.attrs["scenario"])
    if not isinstance(data, dict):
        raise InputError("the result's scenario attribute is not a JSON object")
    return scenario_from_dict(_restore_infinities(data), source="the result's scenario")


def rerun(path: str | Path) -> xr.Dataset:
    """Re-simulate a saved run from its recorded scenario (seed and spawn key included),
    paths and first path.

    Path p's numbers depend only on the seed and p, so the result equals the saved one in
    every variable; only the ``created`` attribute differs.

    Parameters
    ----------
    path : str or Path
        A single run saved by :func:`save` (not a sweep).

    Returns
    -------
    xarray.Dataset
        The run simulated again.

    Raises
    ------
    InputError
        When ``path`` is not a result, is a sweep, or holds paths that are not consecutive.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> saved = save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
    >>> differences(rerun(saved), open_result(saved))
    []
    """
    ds = open_result(path, lazy=True)
    try:
        extra = [str(d) for d in ds.dims if d not in ("path", "period")]
        if extra:
            raise InputError(
                f"{path}: rerun needs a single run; this result is swept over {', '.join(extra)}"
            )
        scenario = scenario_of(ds)
        paths = np.asarray(ds["path"].values, dtype=np.int64)
    finally:
        ds.close()
    first = int(paths[0]) if paths.size else 0
    if not np.array_equal(paths, np.arange(first, first + paths.size)):
        raise InputError(f"{path}: rerun needs consecutive paths, got {paths.tolist()[:5]}...")
    return simulate(scenario, paths=paths.size, first_path=first)


def differences(a: xr.Dataset, b: xr.Dataset) -> list[str]:
    """Names of the variables whose values (or presence, dims, dtype) differ; [] if none."""
    names = sorted({str(n) for n in a.variables} | {str(n) for n in b.variables})
    out = []
    for name in names:
        if name not in a.variables or name not in b.variables:
            out.append(name)
            continue
        x, y = a[name], b[name]
        if x.dims != y.dims or x.dtype != y.dtype:
            out.append(name)
        elif not np.array_equal(x.values, y.values, equal_nan=x.dtype.kind == "f"):
            out.append(name)
    return out
