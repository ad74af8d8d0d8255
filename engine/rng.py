"""Counter-seeded random numbers for Monte Carlo paths.

Contract
--------
A run normalises its seed once with :func:`root_key`, giving a key of four
``uint64`` words. Inside compiled code (including ``prange`` loops) path ``p``
gets its own generator state with ``seed_path(key, p, state)`` and then draws
from it with :func:`next_u64`, :func:`uniform`, :func:`normal`,
:func:`poisson` and :func:`binomial`.

The numbers of path ``p`` depend only on the key and on ``p``: not on the
number of paths, the thread that runs the path or the order in which paths
run. A run with more paths therefore extends a run with fewer (its first
paths are identical), and any single path can be replayed alone.

The generator is xoshiro256** (Blackman and Vigna), and its state is a
contiguous ``np.uint64`` array of length 4 owned by the caller. The state of a
path is derived from the key and the path index with splitmix64 mixing.
Poisson variates use inversion for small means and Hörmann's PTRS transformed
rejection otherwise; binomial variates use inversion for small means and
Hörmann's BTRS transformed rejection otherwise. The log-probabilities in the
rejection tests are evaluated in a cancellation-free form (Stirling series
with ``math.lgamma`` for small arguments), so they stay accurate for means up
to 1e10 and beyond.
"""

import math

import numpy as np

from engine._jit import jit
from engine.errors import InputError

# uint64 constants: numba would turn uint64-with-int-literal arithmetic into float64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U5 = np.uint64(5)
_U9 = np.uint64(9)
_S7 = np.uint64(7)
_S12 = np.uint64(12)
_S17 = np.uint64(17)
_S19 = np.uint64(19)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S45 = np.uint64(45)
_S57 = np.uint64(57)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)

_TWO_M52 = 2.0**-52
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_INVERSION_CAP = 400  # far beyond any reachable value when the mean is < 10


def root_key(seed: int | np.random.SeedSequence | None) -> tuple[np.ndarray, int]:
    """Normalise a seed into the key shared by all paths of a run.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        A non-negative integer, a ``SeedSequence`` (used as is) or ``None``
        for fresh operating-system entropy.

    Returns
    -------
    key : numpy.ndarray
        Four ``uint64`` words, ``SeedSequence.generate_state(4, np.uint64)``.
    entropy : int
        The entropy of the seed sequence. Passing it back as ``seed``
        reproduces the key, so a run seeded with ``None`` can record it and be
        replayed.

    Raises
    ------
    ValueError
        If ``seed`` is a bool, a negative integer, of any other type, or a
        ``SeedSequence`` whose entropy is not a single integer.
    """
    if isinstance(seed, np.random.SeedSequence):
        ss = seed
    elif seed is None:
        ss = np.random.SeedSequence()
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed must be a non-negative int, a SeedSequence or None, got {seed!r}")
    elif seed < 0:
        raise InputError(f"seed must be non-negative, got {seed}")
    else:
        ss = np.random.SeedSequence(int(seed))
    entropy = ss.entropy
    if not isinstance(entropy, (int, np.integer)):
        raise InputError(f"seed: SeedSequence entropy must be one int, got {entropy!r}")
    key = ss.generate_state(4, np.uint64)
    return np.ascontiguousarray(key, dtype=np.uint64), int(entropy)


@jit
def _mix64(z):
    """Splitmix64 finaliser: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@jit
def _fill(c, key, state):
    """The four state words from the seed word ``c``: a Weyl sequence mixed with the key;
    the all-zero state (a fixed point of xoshiro) is replaced."""
    for i in range(4):
        c = c + _GOLDEN
        state[i] = _mix64(c ^ key[i])
    if state[0] == _ZERO and state[1] == _ZERO and state[2] == _ZERO and state[3] == _ZERO:
        state[0] = _ONE


@jit
def seed_path(key, path, state):
    """Fill ``state`` with the generator state of one path.

    Parameters
    ----------
    key : numpy.ndarray
        Four ``uint64`` words from :func:`root_key`.
    path : int
        Path index (int64).
    state : numpy.ndarray
        Contiguous ``uint64`` array of length 4, overwritten.

    Notes
    -----
    The result is a pure function of ``(key, path)``. For a fixed key the first
    word is a bijection of the path index, so distinct paths never share a
    state, and the all-zero state (a fixed point of xoshiro) is excluded.
    """
    _fill(_mix64(np.uint64(path) + key[3]), key, state)


@jit
def seed_stream(key, path, stream, state):
    """Fill ``state`` with the generator state of sub-stream ``stream`` of one path.

    A pure function of ``(key, path, stream)``: the kernel draws each period's illness,
    deductions and membership flows from their own sub-streams, so a change that alters
    the number of draws in one step (a lever, a different membership) leaves the numbers
    of every other step and period untouched (common random numbers). For fixed key and
    path, distinct streams map to distinct seeds (the mixing is a bijection).
    """
    _fill(_mix64(_mix64(np.uint64(path) + key[3]) ^ _mix64(np.uint64(stream) + key[2])), key, state)


@jit
def next_u64(state):
    """Advance the xoshiro256** state and return the next ``uint64``.

    Parameters
    ----------
    state : numpy.ndarray
        Contiguous ``uint64`` array of length 4, updated in place.

    Returns
    -------
    numpy.uint64
        The next output word.
    """
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    x = s1 * _U5
    out = ((x << _S7) | (x >> _S57)) * _U9
    t = s1 << _S17
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ t
    s3 = (s3 << _S45) | (s3 >> _S19)
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return out


@jit
def uniform(state):
    """Draw a uniform variate on the open interval (0, 1).

    Parameters
    ----------
    state : numpy.ndarray
        Generator state, updated in place.

    Returns
    -------
    float
        ``(k + 0.5) / 2**52`` with ``k`` the top 52 bits of the next word, so
        values lie on a symmetric grid in ``[2**-53, 1 - 2**-53]``.

    Notes
    -----
    52 rather than 53 bits are used because ``k + 0.5`` must be exact in
    float64; with 53 bits the largest value would round up to 1.0.
    """
    k = next_u64(state) >> _S12
    return (np.float64(k) + 0.5) * _TWO_M52


@jit
def normal(state):
    """Draw a standard normal variate (Box-Muller, one value per two uniforms).

    Parameters
    ----------
    state : numpy.ndarray
        Generator state, updated in place.

    Returns
    -------
    float
        A draw from N(0, 1).
    """
    u1 = uniform(state)
    u2 = uniform(state)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@jit
def _stirling_tail(x):
    """Return ``lgamma(x) - ((x - 0.5) * log(x) - x + log(2 pi) / 2)`` for x >= 1."""
    if x < 10.0:
        return math.lgamma(x) - ((x - 0.5) * math.log(x) - x + _HALF_LOG_2PI)
    r = 1.0 / x
    r2 = r * r
    return r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)))


@jit
def _poisson_logpmf(k, lam):
    """Return ``log(lam**k exp(-lam) / k!)`` without large cancelling terms."""
    x = k + 1.0
    return (
        k * math.log1p((lam - x) / x)
        + (x - lam)
        - 0.5 * math.log(x)
        - _HALF_LOG_2PI
        - _stirling_tail(x)
    )


@jit
def _binomial_logratio(k, m, n, p, q):
    """Return ``log(f(k) / f(m))`` for the Binomial(n, p) pmf ``f``, accurately.

    All of ``k``, ``m`` and ``n`` are floats holding integers with
    ``0 <= k, m <= n``.
    """
    nk = n - k + 1.0
    nm = n - m + 1.0
    return (
        (m + 0.5) * math.log1p((m - k) / (k + 1.0))
        + (n - m + 0.5) * math.log1p((k - m) / nk)
        + (k - m) * math.log((p * nk) / (q * (k + 1.0)))
        + _stirling_tail(m + 1.0)
        - _stirling_tail(k + 1.0)
        + _stirling_tail(nm)
        - _stirling_tail(nk)
    )


@jit
def _ptrs_constants(lam):
    """Return ``(a, b, 1/alpha, v_r)`` of Hörmann's PTRS hat for mean ``lam >= 10``."""
    b = 0.931 + 2.53 * math.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    return a, b, inv_alpha, v_r


@jit
def _btrs_constants(n, p):
    """Return ``(a, b, c, alpha, v_r, m)`` of Hörmann's BTRS hat (``n p >= 10``).

    ``n`` is a float, ``p <= 0.5``; ``m`` is the mode ``floor((n + 1) p)``.
    """
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    alpha = (2.83 + 5.1 / b) * spq
    v_r = 0.92 - 4.2 / b
    m = math.floor((n + 1.0) * p)
    return a, b, c, alpha, v_r, m


@jit
def poisson(state, lam):
    """Draw a Poisson variate with mean ``lam``.

    Parameters
    ----------
    state : numpy.ndarray
        Generator state, updated in place.
    lam : float
        Mean. Values ``<= 0`` or NaN give 0; must be finite.

    Returns
    -------
    int
        The draw (int64).

    Notes
    -----
    For ``lam < 10`` one uniform is inverted by sequential search over the
    pmf. Otherwise Hörmann's PTRS (transformed rejection with squeeze, 1993)
    is used.
    """
    if not lam > 0.0:
        return np.int64(0)
    if lam < 10.0:
        u = uniform(state)
        f = math.exp(-lam)
        k = 0
        while u > f and k < _INVERSION_CAP:
            u -= f
            k += 1
            f *= lam / k
        return np.int64(k)
    a, b, inv_alpha, v_r = _ptrs_constants(lam)
    log_inv_alpha = math.log(inv_alpha)
    while True:
        u = uniform(state) - 0.5
        v = uniform(state)
        us = 0.5 - abs(u)
        kf = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= v_r:
            return np.int64(kf)
        if kf < 0.0 or (us < 0.013 and v > us):
            continue
        log_hat = math.log(v) + log_inv_alpha - math.log(a / (us * us) + b)
        if log_hat <= _poisson_logpmf(kf, lam):
            return np.int64(kf)


@jit
def _binomial_low(state, n, p):
    """Binomial draw for ``0 < p <= 0.5`` and ``n >= 1``."""
    q = 1.0 - p
    nf = np.float64(n)
    if nf * p < 10.0:
        u = uniform(state)
        f = math.exp(nf * math.log1p(-p))
        r = p / q
        kmax = min(n, _INVERSION_CAP)
        k = 0
        while u > f and k < kmax:
            u -= f
            k += 1
            f *= r * (nf - k + 1.0) / k
        return np.int64(k)
    a, b, c, alpha, v_r, m = _btrs_constants(nf, p)
    while True:
        u = uniform(state) - 0.5
        v = uniform(state)
        us = 0.5 - abs(u)
        kf = math.floor((2.0 * a / us + b) * u + c)
        if kf < 0.0 or kf > nf:
            continue
        if us >= 0.07 and v <= v_r:
            return np.int64(kf)
        log_hat = math.log(v * alpha / (a / (us * us) + b))
        if log_hat <= _binomial_logratio(kf, m, nf, p, q):
            return np.int64(kf)


@jit
def binomial(state, n, p):
    """Draw a binomial variate with ``n`` trials and success probability ``p``.

    Parameters
    ----------
    state : numpy.ndarray
        Generator state, updated in place.
    n : int
        Number of trials (int64). Values ``<= 0`` give 0.
    p : float
        Success probability. ``p <= 0`` or NaN gives 0, ``p >= 1`` gives ``n``.

    Returns
    -------
    int
        The draw (int64).

    Notes
    -----
    ``p > 0.5`` is reduced to ``n - binomial(n, 1 - p)``. With ``n p < 10``
    one uniform is inverted by sequential search over the pmf, starting from
    ``(1 - p)**n = exp(n log1p(-p))``. Otherwise Hörmann's BTRS (transformed
    rejection with squeeze, 1993) is used.
    """
    if n <= 0 or not p > 0.0:
        return np.int64(0)
    if p >= 1.0:
        return np.int64(n)
    if p > 0.5:
        return np.int64(n) - _binomial_low(state, n, 1.0 - p)
    return _binomial_low(state, n, p)


@jit
def gamma(state, shape):
    """Draw a gamma variate with ``shape > 0`` and scale 1 (Marsaglia and Tsang, 2000).

    Shapes below 1 use ``gamma(shape + 1) * u ** (1 / shape)``.
    """
    boost = 1.0
    if shape < 1.0:
        boost = uniform(state) ** (1.0 / shape)
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(state)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(state)
        if u < 1.0 - 0.0331 * x**4 or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


@jit
def beta_mean_sd(state, mean, sd):
    """Draw a beta variate with the given mean and standard deviation
    (``sd**2 < mean (1 - mean)``): ``X / (X + Y)`` with X, Y gamma."""
    total = mean * (1.0 - mean) / (sd * sd) - 1.0
    x = gamma(state, mean * total)
    y = gamma(state, (1.0 - mean) * total)
    return x / (x + y)
