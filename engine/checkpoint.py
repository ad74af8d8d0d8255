"""Checkpoints: completed chunks saved to a directory so an interrupted run resumes.

The directory holds ``run.json`` (the resolved scenario, first path and output mode) and,
per completed chunk, ``chunk-FIRST-STOP.npz`` with its manifest entry
``chunk-FIRST-STOP.json``: the SHA-256 of the ``.npz`` file and the engine version that
wrote it. Every file is written to a temporary name unique to the writing process and then
renamed, so a kill at any moment leaves only whole files, and two runs sharing a directory
never write to the same temporary file. A run with the same arguments loads the saved chunks
whose content matches their entry and was written by this engine version, and simulates the
rest (a damaged, edited or foreign chunk is simulated again); because path p's numbers depend
only on the seed and p, the result is identical to an uninterrupted run. Opening a directory
removes the temporary files of processes that no longer run. A directory written for
another scenario, seed or mode is refused.
"""

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from engine.atomic import PARTIAL, write_bytes
from engine.errors import InputError
from engine.results import engine_version
from engine.scenario import Scenario


class CheckpointError(InputError):
    """A checkpoint directory that belongs to another run or cannot be used."""


class Checkpoint:
    """The chunks of one run saved under ``directory``."""

    def __init__(self, directory: str | Path, scenario: Scenario, first_path: int, mode: str):
        self.directory = Path(directory)
        manifest = {
            "scenario": json.loads(scenario.model_dump_json()),
            "first_path": first_path,
            "mode": mode,
        }
        path = self.directory / "run.json"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if path.exists():
                saved = json.loads(path.read_text(encoding="utf-8"))
                if saved != manifest:
                    changed = sorted(k for k in manifest if saved.get(k) != manifest[k])
                    raise CheckpointError(
                        f"checkpoint {self.directory} was written by another run "
                        f"(different {', '.join(changed)}): use another directory or delete it"
                    )
            else:
                write_bytes(path, json.dumps(manifest, indent=1).encode())
            _remove_stale_partials(self.directory)
        except (OSError, json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"checkpoint {self.directory}: {exc}") from None

    def _file(self, first: int, stop: int) -> Path:
        return self.directory / f"chunk-{first:010d}-{stop:010d}.npz"

    def load(self, first: int, stop: int) -> dict[str, np.ndarray] | None:
        """The saved arrays of chunk ``first..stop-1``, or None if it was not completed or
        does not match its manifest entry (content hash, engine version)."""
        path = self._file(first, stop)
        try:
            entry = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            content = path.read_bytes()
            if not isinstance(entry, dict) or entry != _entry(content):
                return None
            with np.load(io.BytesIO(content)) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, RecursionError):
            return None

    def save(self, first: int, stop: int, arrays: dict[str, np.ndarray]) -> None:
        """Save a completed chunk and then its manifest entry, each atomically."""
        path = self._file(first, stop)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        content = buffer.getvalue()
        write_bytes(path, content)
        write_bytes(path.with_suffix(".json"), json.dumps(_entry(content)).encode())

    def done(self) -> int:
        """Number of completed chunks on disk."""
        return len(list(self.directory.glob("chunk-*.npz")))


def _entry(content: bytes) -> dict[str, str]:
    """A chunk's manifest entry: its content hash and the engine version."""
    return {"sha256": hashlib.sha256(content).hexdigest(), "engine_version": engine_version()}


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's) or cannot be told: keep its files
    return True


def _remove_stale_partials(directory: Path) -> None:
    """Remove the temporary files left by processes that no longer run."""
    for tmp in directory.glob(f".*{PARTIAL}"):
        parts = tmp.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is None or not _alive(pid):
            tmp.unlink(missing_ok=True)
