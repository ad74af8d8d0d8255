"""Streaming quantiles against exact order statistics.

A quantile read off the histograms lies in the bin of the order statistic
of rank ``ceil(n level)`` (the engine's quantile convention, engine.risk): on outcomes 100
apart, a rank off by one is 100 away and fails.
"""

import numpy as np
import pytest

from engine import streaming
from engine.streaming import BINS, PERIOD_VARS, QUANTILE_VARS, Summary


@pytest.mark.parametrize("level", [0.05, 0.3, 0.5, 0.72, 0.95])
def test_streaming_quantile_is_the_order_statistic(level):
    n = 10
    values = np.zeros((n, 2, len(PERIOD_VARS)))
    outcomes = np.random.default_rng(3).permutation(np.arange(n) * 100.0)
    values[:, 0, PERIOD_VARS.index("members")] = outcomes
    values[:, 1, PERIOD_VARS.index("members")] = 7.0  # a constant period
    # two chunks merged, edges from the first: the same answer as one
    edges = streaming.edges_from(values[:6])
    s = Summary.of_chunk(values[:6], edges).merge(Summary.of_chunk(values[6:], edges))
    q = s.quantiles((level,), edges)[0, :, QUANTILE_VARS.index("members")]
    exact = np.sort(outcomes)[int(np.ceil(n * level)) - 1]
    width = (edges[0, 0, -1] - edges[0, 0, 0]) / BINS
    assert abs(q[0] - exact) <= width, (q[0], exact, width)  # inside the bin of exact
    assert q[1] == 7.0
