"""Streaming summaries: per-period statistics that need memory independent of the paths.

Each chunk of paths is reduced, as soon as it is simulated, to

* per-period moments of every count and amount (count, mean, sum of squared deviations),
  merged chunk after chunk with Chan's parallel update;
* per-period fixed-bin histograms of the variables in ``QUANTILE_VARS``: 512 equal bins per
  variable and period between edges set from the first chunk (its range widened by a quarter
  on each side), plus an underflow and an overflow bin and the exact minimum and maximum.
  A quantile is read off the cumulative counts by linear interpolation inside its bin (the
  exact minimum or maximum bounds the outer bins), so its error is at most one bin width:
  1/768 of the first chunk's range unless it falls in an outer bin.

Chunks are merged in path order, so the numbers do not depend on threads or workers; the
chunk size is part of the contract (it sets the summation order and the bin edges).
"""

from dataclasses import dataclass

import numpy as np

from engine.variables import COUNT_VARS, MONEY_VARS

PERIOD_VARS = COUNT_VARS + MONEY_VARS
"""Every per-path, per-period variable, in the order of ``stack``."""

QUANTILE_VARS = ("members", "sharing", "share_post", "liability", "backstop", "net_cash")
"""Variables whose per-period quantiles are tracked in streaming mode."""

BINS = 512


def stack(counts: np.ndarray, money: np.ndarray) -> np.ndarray:
    """A chunk's per-period outputs as one float array [path, period, var] (PERIOD_VARS)."""
    return np.concatenate([counts.astype(np.float64), money], axis=2)


def _tracked(values: np.ndarray) -> np.ndarray:
    return values[:, :, [PERIOD_VARS.index(v) for v in QUANTILE_VARS]]


def edges_from(values: np.ndarray) -> np.ndarray:
    """Bin edges [period, qvar, BINS + 1] from a first chunk's values [path, period, var]."""
    q = _tracked(values)
    lo, hi = q.min(axis=0), q.max(axis=0)
    pad = np.where(hi > lo, 0.25 * (hi - lo), 0.5 * np.maximum(np.abs(lo), 1.0))
    return np.linspace(lo - pad, hi + pad, BINS + 1, axis=-1)


@dataclass
class Summary:
    """Merged statistics of the chunks seen so far."""

    n: int
    mean: np.ndarray  # [period, var]
    m2: np.ndarray  # [period, var]
    hist: np.ndarray  # [period, qvar, BINS + 2], underflow first and overflow last
    low: np.ndarray  # [period, qvar]
    high: np.ndarray  # [period, qvar]

    @classmethod
    def of_chunk(cls, values: np.ndarray, edges: np.ndarray) -> "Summary":
        """Reduce one chunk's values [path, period, var] (PERIOD_VARS order)."""
        q = _tracked(values)
        lo, hi = edges[:, :, 0], edges[:, :, -1]
        width = (hi - lo) / BINS
        idx = np.floor((q - lo) / width).astype(np.int64) + 1
        idx = np.clip(idx, 0, BINS + 1)
        n_period, n_q = q.shape[1], q.shape[2]
        flat = (np.arange(n_period)[:, None] * n_q + np.arange(n_q)) * (BINS + 2)
        hist = np.bincount((idx + flat).ravel(), minlength=n_period * n_q * (BINS + 2))
        mean = values.mean(axis=0)
        return cls(
            n=values.shape[0],
            mean=mean,
            m2=((values - mean) ** 2).sum(axis=0),
            hist=hist.reshape(n_period, n_q, BINS + 2),
            low=q.min(axis=0),
            high=q.max(axis=0),
        )

    def merge(self, other: "Summary") -> "Summary":
        """Combine with the statistics of later paths (Chan et al.'s update)."""
        n = self.n + other.n
        delta = other.mean - self.mean
        return Summary(
            n=n,
            mean=self.mean + delta * (other.n / n),
            m2=self.m2 + other.m2 + delta**2 * (self.n * other.n / n),
            hist=self.hist + other.hist,
            low=np.minimum(self.low, other.low),
            high=np.maximum(self.high, other.high),
        )

    def quantiles(self, levels: tuple[float, ...], edges: np.ndarray) -> np.ndarray:
        """Quantiles [level, period, qvar] read off the histograms."""
        # bin b spans [lower[b], upper[b]]; the outer bins end at the exact extremes
        lower = np.concatenate([self.low[..., None], edges], axis=-1)
        upper = np.concatenate([edges, self.high[..., None]], axis=-1)
        lower = np.clip(lower, self.low[..., None], self.high[..., None])
        upper = np.clip(upper, self.low[..., None], self.high[..., None])
        cum = np.cumsum(self.hist, axis=-1)
        out = np.empty((len(levels), *self.low.shape))
        for i, level in enumerate(levels):
            rank = level * self.n
            b = np.argmax(cum >= max(rank, 1e-12), axis=-1)[..., None]
            inside = np.take_along_axis(self.hist, b, -1)[..., 0]
            before = np.take_along_axis(cum, b, -1)[..., 0] - inside
            frac = np.clip((rank - before) / np.maximum(inside, 1), 0.0, 1.0)
            lo = np.take_along_axis(lower, b, -1)[..., 0]
            hi = np.take_along_axis(upper, b, -1)[..., 0]
            out[i] = lo + frac * (hi - lo)
        return out
