"""The bare sampling bound: the kernel's Poisson draws and nothing else.

Each period of each path is seeded as the kernel seeds its illness step and draws
Poisson(lam[j]) for every cohort j, summing the draws so that none can be optimised away.
No bookkeeping: the time of a kernel run can come close to this, never below it.
"""

import numpy as np
from numba import prange

from engine._jit import jit
from engine.kernel_inputs import N_ELIG
from engine.kernel_steps import ILLNESS
from engine.rng import poisson, seed_stream
from engine.simulate import KernelInputs


def cohort_means(inputs: KernelInputs) -> np.ndarray:
    """Poisson means of the eligible cohorts with members at the start, in the kernel's order."""
    eligible = inputs.members0[: inputs.ipar[N_ELIG]]
    lam = (eligible * inputs.hazard).ravel()
    return np.ascontiguousarray(lam[eligible.ravel() > 0])


@jit(parallel=True)
def bare_draws(key, first_path, lam, periods, out):
    """``out[i]`` = sum of path ``first_path + i``'s ``periods * lam.size`` Poisson draws."""
    for i in prange(out.size):
        st = np.empty(4, dtype=np.uint64)
        acc = 0
        for t in range(periods):
            seed_stream(key, first_path + i, 3 * t + ILLNESS, st)
            for j in range(lam.size):
                acc += poisson(st, lam[j])
        out[i] = acc


@jit
def mean_count(state, lam):
    """A stand-in for ``engine.rng.poisson`` that draws nothing: the mean, rounded."""
    return np.int64(lam + 0.5) if lam > 0.0 else np.int64(0)
