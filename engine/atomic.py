"""The one atomic writer: write to a temporary name next to the target, then rename.

A temporary is named ``.NAME.PID.TOKEN.partial``: unique to the writing process (two
processes writing the same target never share one), and telling whose it is, so a
directory's stale temporaries (``remove_stale``) can be told from those of a live writer.
Results, reports and checkpoint chunks are all written through :func:`write_atomic`.
"""

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

PARTIAL = ".partial"
"""Suffix of temporary files: ``.NAME.PID.TOKEN.partial``."""


def temporary(path: Path) -> Path:
    """A fresh temporary name next to ``path``, marked with this process's id."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _cannot_write(path: Path, exc: OSError) -> OSError:
    """The error of a failed write, naming the file asked for rather than the temporary."""
    return OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}")


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary name next to ``path``, then rename it to ``path``.

    A file replaces the target in one rename. A directory (Zarr) cannot replace a directory
    in one step: the old one is moved aside first and removed after, or put back if the
    rename fails. Whatever happens, no temporary is left behind.

    Parameters
    ----------
    path : Path
        The final name.
    write : callable
        Writes the whole content to the path it is given (a file or a directory).

    Returns
    -------
    Path
        ``path``, once the whole content stands under it.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> target = Path(mkdtemp()) / "note.txt"
    >>> write_atomic(target, lambda tmp: tmp.write_text("whole")).read_text()
    'whole'
    >>> [p.name for p in target.parent.iterdir()]
    ['note.txt']
    """
    tmp = temporary(path)
    old: Path | None = None
    try:
        try:
            write(tmp)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        if tmp.is_dir() and (path.exists() or path.is_symlink()):
            old = temporary(path)
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException as exc:
            if old is not None:
                os.replace(old, path)
                old = None
            if isinstance(exc, OSError):
                raise _cannot_write(path, exc) from None
            raise
    finally:
        _remove(tmp)
        if old is not None:
            _remove(old)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, flushed to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    return write_atomic(path, write)
