"""Where library work runs: one interface, `Executor.map`, and two back ends.

- `LocalExecutor`: worker processes on this machine (``spawn``, one Numba thread each,
  so N workers use N cores); one worker runs in this process. A worker that dies
  (killed, out of memory) breaks the pool: the unfinished items run once more in a new
  pool, and items that break that one too come back as errors.
- `DaskExecutor`: a Dask cluster (``tcp://HOST:PORT``) or a `distributed.LocalCluster`
  of N worker processes. Dask runs a task again elsewhere when its worker dies, so a
  killed worker costs time, not rows. Inputs travel with the tasks (no shared file
  system needed).

`map(fn, items, *args)` yields ``(index, result)`` as items finish, in any order; a
result is the exception when ``fn`` raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from .._errors import AppMultError

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "executor_for"]


class Executor(Protocol):
    """Runs ``fn(item, *args)`` for every item (see the module docstring)."""

    #: Whether workers may not see this machine's files (inputs must travel as content).
    remote: bool
    #: How many items run at once.
    workers: int

    def map(self, fn: Callable, items: Sequence, *args: Any,
            indices: Sequence[int] | None = None) -> Iterator[tuple[int, Any]]:
        ...


def _one_thread() -> None:
    os.environ["NUMBA_NUM_THREADS"] = "1"


class LocalExecutor:
    """`workers` processes on this machine; one (the default) runs in this process, where
    Numba and BLAS already use every core: on 2 cores that was the fastest way
    (`docs/library.md`)."""

    remote = False

    def __init__(self, workers: int | None = None):
        self.workers = 1 if workers is None else workers
        if self.workers < 1:
            raise AppMultError(f"--workers must be at least 1, got {self.workers}")

    def map(self, fn, items, *args, indices=None):
        indices = list(range(len(items))) if indices is None else list(indices)
        if self.workers == 1 or len(items) <= 1:
            for i, item in zip(indices, items):
                try:
                    yield i, fn(item, *args)
                except Exception as exc:
                    yield i, exc
            return
        pending = dict(zip(indices, items))
        for attempt in range(2):
            pending = yield from self._pool(fn, pending, args)
            if not pending:
                return
        for i in pending:
            yield i, AppMultError("its worker process died twice (out of memory or killed?)", os.fspath(pending[i]))

    def _pool(self, fn, pending: dict, args) -> Iterator:
        """Run `pending` in one pool; return what a broken pool left unfinished."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        left = dict(pending)
        with ProcessPoolExecutor(min(self.workers, len(pending)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            futures = {pool.submit(fn, item, *args): i for i, item in pending.items()}
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise
                    except Exception as exc:
                        result = exc
                    del left[i]
                    yield i, result
            except BrokenProcessPool:
                return left
        return {}


class DaskExecutor:
    """A Dask cluster: `address` of a running scheduler, or a local cluster of `workers`
    processes (one thread each)."""

    remote = True

    def __init__(self, address: str | None = None, workers: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise AppMultError("Dask clusters need distributed: pip install 'appmult-char[dask]'") from None
        try:
            if address is not None:
                self.client = Client(address, timeout="10s")
            else:
                cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                self.client = Client(cluster)
        except OSError as exc:
            raise AppMultError(f"cannot reach the Dask scheduler: {exc}".splitlines()[0], address) from None

    @property
    def workers(self) -> int:
        return max(1, len(self.client.nthreads()))

    def map(self, fn, items, *args, indices=None):
        from distributed import as_completed

        indices = list(range(len(items))) if indices is None else list(indices)
        futures = [self.client.submit(fn, item, *args, pure=False, retries=1) for item in items]
        where = {f.key: i for f, i in zip(futures, indices)}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:
                result = exc
            yield where[future.key], result

    def close(self) -> None:
        cluster = getattr(self.client, "cluster", None)
        self.client.close()
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def executor_for(workers: int | None = None, scheduler: str | None = None, dask: bool = False) -> Any:
    """The executor the command-line options ask for: `scheduler` (a Dask address), Dask
    with `workers` local processes when `dask`, else `workers` local processes."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if dask:
        return DaskExecutor(workers=workers)
    return LocalExecutor(workers)
