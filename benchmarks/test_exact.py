"""``engine.exact.compound_poisson`` against the peer library ``aggregate`` (Mildenhall).

One period of a 10-million-member pool: claims ~ Poisson(7,000), each paying 324,000 yuan
with probability 0.85 and 108,000 with 0.15. Both compute the distribution on the lattice
of 108,000 yuan, so their 99.5% quantiles must be the same lattice point.
"""

import math

import numpy as np
import pytest

from benchmarks.figures import CpuTimed
from engine.exact import compound_poisson

LAM = 7_000.0
AMOUNTS, PROBS = (108_000.0, 324_000.0), (0.15, 0.85)
PROGRAM = f"agg Pool {LAM:g} claims dsev [{AMOUNTS[0]:g} {AMOUNTS[1]:g}] [0.15 0.85] poisson"
MEAN = LAM * sum(a * p for a, p in zip(AMOUNTS, PROBS, strict=True))
SD = math.sqrt(LAM * sum(a * a * p for a, p in zip(AMOUNTS, PROBS, strict=True)))
LEVEL = 0.995
LOG2 = 16  # 65,536 points of 108,000 yuan: far beyond the mean + 30 sd


def ours():
    return compound_poisson(LAM, AMOUNTS, PROBS)


def theirs():
    import aggregate

    return aggregate.build(PROGRAM, bs=AMOUNTS[0], log2=LOG2)


@pytest.fixture(scope="module")
def agg():
    pytest.importorskip("aggregate")
    return theirs()  # the first build parses the grammar; later ones are timed


def test_exact(benchmark, record):
    ours()
    timed = CpuTimed(ours)
    benchmark.pedantic(timed, rounds=20, iterations=1)
    record("exact", timed, lattice_points=ours().pmf.size)


def test_aggregate(benchmark, record, agg):
    timed = CpuTimed(theirs)
    benchmark.pedantic(timed, rounds=20, iterations=1)
    record("aggregate", timed, log2=LOG2, bs=AMOUNTS[0])


def test_agreement(note, agg):
    d = ours()
    errors = {
        "mean": abs(d.mean() - agg.est_m) / MEAN,
        "sd": abs(d.std() - agg.est_sd) / SD,
        "mean_vs_closed_form": abs(d.mean() - MEAN) / MEAN,
        "sd_vs_closed_form": abs(d.std() - SD) / SD,
    }
    with np.errstate(divide="ignore"):  # aggregate takes logs of its zero probabilities
        q_theirs = float(agg.q(LEVEL))
    q_ours = d.quantile(LEVEL)
    note(
        "exact vs aggregate",
        rel_err=max(errors["mean"], errors["sd"]),
        quantile_equal=q_ours == q_theirs,
        quantile_ours=q_ours,
        quantile_aggregate=q_theirs,
        **errors,
    )
    assert max(errors.values()) <= 1e-6, errors
    assert q_ours == q_theirs
