"""Extreme runs: a 40-digit seed, and a run too large for memory (refused up front in full
mode, allowed in streaming mode)."""

import re
from unittest import mock

import numpy as np
import pytest

from engine.simulate import simulate
from tests.conftest import make_scenario
from tests.inputs import SCENARIO, SIM, Simulated, assert_one_line, huzhu


def test_huge_seed_is_accepted_and_recorded() -> None:
    seed = 10**40
    ds = simulate(make_scenario(), paths=2, seed=seed)
    assert ds.attrs["seed"] == str(seed)
    np.testing.assert_array_equal(
        ds["claims"], simulate(make_scenario(), paths=2, seed=seed).claims
    )


TOO_LARGE = re.compile(
    r"paths: 100,000,000 paths x 2400 periods need about [\d,.]+ GiB in full mode, more than "
    r"the [\d,.]+ GiB of [^:]+: use mode='streaming' \(--mode streaming\) or fewer paths"
)


def test_a_run_too_large_for_memory_is_refused_before_it_starts() -> None:
    """10^8 paths x 100 years is ~100 TB of path x period arrays; refuse it up front."""
    argv = ["run", SCENARIO, "--paths", "100000000", "--years", "100"]
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated):
        code, out, err = huzhu(argv)
    assert (code, out) == (2, "")
    assert_one_line(err)
    assert err.startswith("error: ") and TOO_LARGE.fullmatch(err[len("error: ") : -1]), err
    with (
        mock.patch.object(SIM, "run_chunk", side_effect=Simulated),
        pytest.raises(ValueError) as info,
    ):
        simulate(make_scenario(), paths=10**8, years=100)
    assert TOO_LARGE.fullmatch(str(info.value)), info.value


def test_a_run_too_large_for_memory_is_allowed_in_streaming_mode() -> None:
    """Streaming keeps per-period statistics only: the same run gets past the check."""
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated), pytest.raises(Simulated):
        simulate(make_scenario(), paths=10**8, years=100, mode="streaming")
    argv = ["run", SCENARIO, "--paths", "100000000", "--years", "100", "--mode", "streaming"]
    with mock.patch.object(SIM, "run_chunk", side_effect=Simulated), pytest.raises(Simulated):
        huzhu(argv)
