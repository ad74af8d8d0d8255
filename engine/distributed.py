"""Dask runner: the chunks of a run as tasks on a ``dask.distributed`` cluster.

A run is split into chunks of ``run.chunk_size`` paths (``simulate.chunks``); the kernel's
inputs are prepared once and sent to every worker once, and each chunk is one task that calls
``simulate.run_chunk`` with numba on one thread, so a worker process with one thread uses
one core. Path p's numbers depend only on the seed and p, so the Dataset equals
``simulate``'s for the same scenario and seed, whatever the cluster.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numba
import numpy as np
import xarray as xr
from distributed import Client, LocalCluster, as_completed
from distributed.comm.addressing import parse_address, parse_host_port
from distributed.comm.registry import backends

from engine.errors import InputError
from engine.scenario import Scenario
from engine.scenario_inputs import prepare
from engine.simulate import ChunkResult, KernelInputs, assemble, chunks, resolve, run_chunk

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a scheduler before giving up."""

Scheduler = str | Client
"""``"local"``, a scheduler address such as ``"tcp://host:8786"``, or a ``Client``."""


def scheduler_address(address: str) -> str:
    """Check a scheduler address and return it with its protocol (``tcp://`` if none).

    Raises
    ------
    ValueError
        If ``address`` is not ``protocol://host:port`` with a known protocol.

    Examples
    --------
    >>> scheduler_address("10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    """
    expected = "expected 'local', a distributed.Client or an address like 'tcp://host:8786'"
    try:
        scheme, location = parse_address(address, strict=False)
        if scheme not in backends:
            raise InputError(f"unknown protocol {scheme!r}; known: {', '.join(backends)}")
        if scheme != "inproc":
            host, port = parse_host_port(location)
            if not host or not 0 < int(port) < 65536:
                raise InputError(f"no host or a port outside 1..65535 in {location!r}")
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"scheduler: {address!r} is not a scheduler address ({exc}); {expected}"
        ) from None
    return f"{scheme}://{location}"


@contextmanager
def connect(
    scheduler: Scheduler = "local",
    n_workers: int | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> Iterator[Client]:
    """A ``Client`` for ``scheduler``, closed on exit unless it was passed in.

    ``"local"`` starts a ``LocalCluster`` of ``n_workers`` single-threaded worker processes
    (one per core when None) and shuts it down on exit; an address connects to a running
    scheduler, waiting at most ``timeout`` seconds; a ``Client`` is used as is.

    Raises
    ------
    ValueError
        If the address is malformed or no scheduler answers there within ``timeout``.
    """
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise InputError(
            f"scheduler: expected 'local', an address or a distributed.Client, got {scheduler!r}"
        )
    if scheduler == "local":
        if n_workers is not None and n_workers < 1:
            raise InputError(f"n_workers must be at least 1, got {n_workers}")
        with (
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    address = scheduler_address(scheduler)
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"scheduler: no scheduler answered at {address!r} within {timeout:g} s ({exc})"
        ) from None
    with client:
        yield client


def _chunk_task(scenario: Scenario, inputs: KernelInputs, first: int, stop: int) -> ChunkResult:
    """``run_chunk`` with numba on one thread: one task uses one core."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return run_chunk(scenario, first, stop, inputs)
    finally:
        numba.set_num_threads(previous)


def simulate_dask(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | np.random.SeedSequence | None = None,
    *,
    years: float | None = None,
    first_path: int = 0,
    scheduler: Scheduler = "local",
    n_workers: int = 2,
    progress: Callable[[int], None] | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> xr.Dataset:
    """Simulate ``scenario`` on a Dask cluster, one task per chunk of paths.

    Same arguments and result as :func:`engine.simulate.simulate`: the Dataset is identical
    to ``simulate``'s for the same scenario and seed (but for its creation time).

    Parameters
    ----------
    scenario : Scenario
        The scenario; ``paths``, ``seed`` and ``years`` default to its ``[run]`` values.
    paths, seed, years, first_path
        As in :func:`engine.simulate.simulate`.
    scheduler : str or distributed.Client
        ``"local"`` starts a ``LocalCluster`` of ``n_workers`` single-threaded worker
        processes for this call; an address such as ``"tcp://host:8786"`` connects to a
        running scheduler (dask-jobqueue, Kubernetes, ``dask scheduler``); a ``Client`` is
        used as is and left open.
    n_workers : int
        Workers of the ``"local"`` cluster.
    progress : callable, optional
        Called with the number of paths of each chunk as it completes.
    timeout : float
        Seconds to wait for a scheduler at an address.

    Returns
    -------
    xarray.Dataset
        Dims ``path`` and ``period``, as ``simulate`` returns it.

    Raises
    ------
    ValueError
        A malformed or unreachable scheduler address.

    Examples
    --------
    >>> from engine.scenario import load_scenario
    >>> s = load_scenario("scenarios/xianghubao.toml")
    >>> ds = simulate_dask(s, paths=10_000, scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    """
    scenario = resolve(scenario, paths, seed, years)
    spans = chunks(scenario, first_path)
    parts: list[ChunkResult | None] = [None] * len(spans)
    inputs = prepare(scenario)
    with connect(scheduler, n_workers, timeout) as client:
        # a key of its own (hash=False): runs that differ only by seed have equal inputs,
        # and a hashed key released by the previous run would cancel this run's tasks
        shared = client.scatter(inputs, broadcast=True, hash=False)
        futures = [
            client.submit(_chunk_task, scenario, shared, first, stop, pure=False)
            for first, stop in spans
        ]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = index[future.key]
                parts[i] = future.result()
                future.release()  # frees the worker's copy
                if progress is not None:
                    progress(spans[i][1] - spans[i][0])
        except BaseException:
            client.cancel([f for f in futures if not f.done()])
            raise
    return assemble(scenario, [p for p in parts if p is not None], first_path)
