"""Checkpoints: completed chunks saved to a directory so an interrupted run resumes.

The directory holds ``run.json`` (the resolved scenario, first path and output mode) and one
``chunk-FIRST-STOP.npz`` per completed chunk, each written to a temporary name and then
renamed, so a kill at any moment leaves only whole files. A run with the same arguments
loads the saved chunks and simulates the rest; because path p's numbers depend only on the
seed and p, the result is identical to an uninterrupted run. A directory written for
another scenario, seed or mode is refused.
"""

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from engine.scenario import Scenario


class CheckpointError(ValueError):
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
                _write_atomic(path, json.dumps(manifest, indent=1).encode())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"checkpoint {self.directory}: {exc}") from None

    def _file(self, first: int, stop: int) -> Path:
        return self.directory / f"chunk-{first:010d}-{stop:010d}.npz"

    def load(self, first: int, stop: int) -> dict[str, np.ndarray] | None:
        """The saved arrays of chunk ``first..stop-1``, or None if it was not completed."""
        try:
            with open(self._file(first, stop), "rb") as fh, np.load(fh) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None

    def save(self, first: int, stop: int, arrays: dict[str, np.ndarray]) -> None:
        """Save a completed chunk atomically."""
        path = self._file(first, stop)
        tmp = path.with_name(f".{path.name}.partial")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def done(self) -> int:
        """Number of completed chunks on disk."""
        return len(list(self.directory.glob("chunk-*.npz")))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.replace(path)
