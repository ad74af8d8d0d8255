"""Streaming mode (bounded memory) and checkpointed, resumable runs."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest
import xarray as xr

from engine.checkpoint import CheckpointError
from engine.simulate import simulate
from tests.conftest import make_scenario

SCENARIO = make_scenario(
    members=300_000,
    plan={"cap_per_case": float("inf")},  # continuous shares: histogram quantiles are checked
    growth={"curve": "constant", "joiners": 3_000},
    exits={"base_rate": 0.1},
    deduction={"failure_rate": 0.01},
    run={"years": 1, "chunk_size": 64},
)


def test_streaming_summaries_match_the_full_run():
    full = simulate(SCENARIO, paths=600, seed=3)
    stream = simulate(SCENARIO, paths=600, seed=3, mode="streaming", quantiles=(0.1, 0.5, 0.9))
    assert stream.attrs["mode"] == "streaming"
    for var in ("liability_pv", "share_total", "closure_period", "log_weight"):
        np.testing.assert_array_equal(stream[var].values, full[var].values)
    for var in ("members", "claims", "share_post", "liability", "net_cash"):
        np.testing.assert_allclose(
            stream[var].sel(statistic="mean"), full[var].mean("path"), rtol=1e-10, atol=1e-9
        )
        np.testing.assert_allclose(
            stream[var].sel(statistic="std"), full[var].std("path", ddof=1), rtol=1e-8, atol=1e-9
        )
    # each quantile lies in the histogram bin of the exact (inverse-CDF) one, and a bin is
    # at most 1.5 x the range of the paths / 512 wide
    for var in ("members", "share_post", "liability"):
        exact = full[var].quantile([0.1, 0.5, 0.9], "path", method="inverted_cdf").values
        got = stream[var].sel(statistic=["q10", "q50", "q90"]).values
        spread = (full[var].max("path") - full[var].min("path")).values
        assert (np.abs(got - exact) <= spread * 1.5 / 512 + 1e-9).all(), var
    assert np.isnan(stream.claims.sel(statistic="q50")).all()  # not tracked


def test_streaming_memory_does_not_grow_with_paths():
    scenario = SCENARIO.replace(run={"chunk_size": 256})
    simulate(scenario, paths=256, seed=1, mode="streaming")  # compile

    def peak(paths):
        tracemalloc.start()
        simulate(scenario, paths=paths, seed=1, mode="streaming")
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return used

    small, large = peak(1_000), peak(8_000)
    per_path_totals = 7_000 * 9 * 8 * 2  # totals and path ints, with one copy when joined
    assert large - small <= per_path_totals + 2e6, (small, large)


def test_streaming_does_not_depend_on_threads():
    a = simulate(SCENARIO, paths=200, seed=5, mode="streaming", threads=1)
    b = simulate(SCENARIO, paths=200, seed=5, mode="streaming", threads=2)
    xr.testing.assert_equal(a.drop_attrs(), b.drop_attrs())


@pytest.mark.parametrize("mode", ["full", "streaming"])
def test_checkpoint_resumes_to_the_identical_dataset(tmp_path, mode):
    whole = simulate(SCENARIO, paths=300, seed=2, mode=mode)
    calls = []
    partial = tmp_path / "ck"
    with pytest.raises(KeyboardInterrupt):

        def stop_after_two(n):
            calls.append(n)
            if len(calls) == 2:
                raise KeyboardInterrupt

        simulate(
            SCENARIO, paths=300, seed=2, mode=mode, checkpoint=partial, progress=stop_after_two
        )
    assert len(list(partial.glob("chunk-*.npz"))) == 2
    resumed = simulate(SCENARIO, paths=300, seed=2, mode=mode, checkpoint=partial)
    xr.testing.assert_identical(whole.drop_attrs(), resumed.drop_attrs())


def test_checkpoint_of_another_run_is_refused(tmp_path):
    simulate(SCENARIO, paths=70, seed=2, checkpoint=tmp_path)
    with pytest.raises(CheckpointError, match=r"another run \(different scenario\)"):
        simulate(SCENARIO, paths=70, seed=3, checkpoint=tmp_path)
    with pytest.raises(CheckpointError, match="different mode"):
        simulate(SCENARIO, paths=70, seed=2, checkpoint=tmp_path, mode="streaming")


def test_a_sibling_seed_does_not_resume_another_siblings_checkpoint(tmp_path):
    """Bug it guards: a checkpoint keyed on the seed's entropy only, so that
    ``spawn(2)[1]`` would load the chunks of ``spawn(2)[0]`` (identical results)."""
    first, second = np.random.SeedSequence(77).spawn(2)
    simulate(SCENARIO, paths=10, seed=first, checkpoint=tmp_path, threads=1)
    with pytest.raises(CheckpointError, match=r"another run \(different scenario\)"):
        simulate(SCENARIO, paths=10, seed=second, checkpoint=tmp_path, threads=1)
    again = simulate(SCENARIO, paths=10, seed=first, checkpoint=tmp_path, threads=1)
    assert again.attrs["spawn_key"] == "[0]"


def test_a_torn_chunk_file_is_simulated_again(tmp_path):
    whole = simulate(SCENARIO, paths=130, seed=4, checkpoint=tmp_path)
    first = sorted(tmp_path.glob("chunk-*.npz"))[0]
    first.write_bytes(first.read_bytes()[:100])
    again = simulate(SCENARIO, paths=130, seed=4, checkpoint=tmp_path)
    xr.testing.assert_identical(whole.drop_attrs(), again.drop_attrs())


SCRIPT = textwrap.dedent(
    """
    import sys
    from engine.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_with_the_same_command(tmp_path, sig):
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[plan]\npreset = "meituan"\n[population]\nmembers = 5000000\n'
        '[growth]\ncurve = "constant"\njoiners = 20000\n[exits]\nbase_rate = 0.1\n'
        "[run]\npaths = 400\nyears = 3\nchunk_size = 20\n"
    )
    ck, out = tmp_path / "ck", tmp_path / "r.nc"
    args = [sys.executable, "-c", SCRIPT, "run", str(scenario), "--quiet"]
    args += ["--checkpoint", str(ck), "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(ck.glob("chunk-*.npz"))) < 3 and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert not out.exists()
    done = len(list(ck.glob("chunk-*.npz")))
    assert 3 <= done < 20
    finish = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert finish.returncode == 0, finish.stderr
    reference = tmp_path / "ref.nc"
    args_ref = [sys.executable, "-c", SCRIPT, "run", str(scenario), "--quiet", "--out"]
    subprocess.run([*args_ref, str(reference)], check=True, capture_output=True, timeout=600)
    with xr.open_dataset(out) as a, xr.open_dataset(reference) as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
