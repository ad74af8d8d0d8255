"""Checkpoint chunks are trusted only when they match their manifest entry.

Bugs it guards: a chunk rewritten with half its paths (a result with fewer paths) or with
edited counts (negative members) accepted as is; a chunk of another engine version reused;
two runs on one directory writing the same temporary file; temporary files of a killed run
left behind.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from engine import checkpoint
from engine.simulate import simulate
from tests.conftest import make_scenario

SCENARIO = make_scenario("kangai", 20_000, run={"paths": 40, "years": 0.5, "chunk_size": 16})


def _rewrite(path, change):
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    np.savez(path, **arrays)


def _halve(arrays):
    for name in ("counts", "money", "totals", "path_ints"):
        arrays[name] = arrays[name][: arrays[name].shape[0] // 2]


def _negative(arrays):
    arrays["counts"][:, :, 0] = -5


@pytest.mark.parametrize("change", [_halve, _negative])
def test_a_tampered_chunk_is_simulated_again(tmp_path, change):
    whole = simulate(SCENARIO, seed=3, checkpoint=tmp_path, threads=1)
    first = sorted(tmp_path.glob("chunk-*.npz"))[0]
    _rewrite(first, change)
    again = simulate(SCENARIO, seed=3, checkpoint=tmp_path, threads=1)
    assert again.sizes["path"] == 40
    xr.testing.assert_identical(whole.drop_attrs(), again.drop_attrs())
    entry = json.loads(first.with_suffix(".json").read_text())
    assert entry["sha256"] == checkpoint.hashlib.sha256(first.read_bytes()).hexdigest()


def test_a_chunk_of_another_engine_version_is_simulated_again(tmp_path, monkeypatch):
    simulate(SCENARIO, seed=3, checkpoint=tmp_path, threads=1)
    store = checkpoint.Checkpoint(tmp_path, _resolved(), 0, "full")
    assert store.load(0, 16) is not None
    monkeypatch.setattr(checkpoint, "engine_version", lambda: "9.9.9")
    assert store.load(0, 16) is None
    # a chunk without its entry (killed between the two renames) is not trusted either
    monkeypatch.undo()
    (tmp_path / "chunk-0000000000-0000000016.json").unlink()
    assert store.load(0, 16) is None


def _resolved():
    from engine.simulate import resolve

    return resolve(SCENARIO, seed=3)


def test_partial_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f".chunk-0000000000-0000000016.npz.{dead.stdout.strip()}.ab12cd34.partial"
    old_style = tmp_path / ".chunk-0000000016-0000000032.npz.partial"
    mine = tmp_path / f".chunk-0000000032-0000000040.npz.{os.getpid()}.00ff00ff.partial"
    for path in (stale, old_style, mine):
        path.write_bytes(b"torn")
    checkpoint.Checkpoint(tmp_path, _resolved(), 0, "full")
    assert not stale.exists() and not old_style.exists() and mine.exists()


RUN = textwrap.dedent(
    """
    import sys
    from engine.simulate import simulate
    from tests.conftest import make_scenario
    s = make_scenario("kangai", 20_000, run={"paths": 96, "years": 0.5, "chunk_size": 4})
    ds = simulate(s, seed=3, checkpoint=sys.argv[1], threads=1)
    print(float(ds["liability_pv"].sum()))
    """
)


def test_two_runs_sharing_a_directory_do_not_crash_each_other(tmp_path):
    args = [sys.executable, "-c", RUN, str(tmp_path)]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    assert outs[0][0] == outs[1][0]
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*.partial"))
